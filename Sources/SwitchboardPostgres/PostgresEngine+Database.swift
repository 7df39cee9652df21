import Logging
import Switchboard
import Synchronization

// Database calls for clients' requests: failing fast while PostgreSQL is known to be down, timing
// out, and telling temporary failures from refusals.
extension PostgresEngine {
    /// Run a database call for a client's request: fail at once while PostgreSQL is known to be
    /// unreachable (the listener lost it), and after the request timeout otherwise. A failure is
    /// temporary when PostgreSQL is unreachable or slow, and not when it refused the call, which then
    /// fails with PostgreSQL's reason (``Swift/Error/engineError``); either way the node logs the
    /// error as PostgreSQL reported it.
    func database<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws(EngineError) -> T {
        if case .unavailable(let reason)? = self.listening.withLock({ $0 }) { throw EngineError("\(what) failed: \(reason)", kind: .unavailable) }
        let timeout = self.settings.requestTimeout
        // Whichever ends first answers; a call that outlives the timeout finishes in the background.
        let outcome: Result<T, any Error> = await withCheckedContinuation { continuation in
            let answer = FirstAnswer(continuation)
            let timer = Task {
                try await Task.sleep(for: timeout)
                answer.resume(.failure(EngineError("PostgreSQL did not answer within \(timeout)", kind: .unavailable)))
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                timer.cancel()
                answer.resume(result)
            }
        }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error):
            let failure = (error as? EngineError) ?? error.engineError
            var metadata: Logger.Metadata = ["call": "\(what)", "error": "\(error.postgresReason)"]
            if let state = error.postgresSQLState { metadata["sqlstate"] = "\(state)" }
            if failure.isTemporary {
                self.logger.warning("Database call failed", metadata: metadata)
            } else {
                self.logger.error("Database call refused", metadata: metadata)
            }
            throw EngineError("\(what) failed: \(failure.message)", kind: failure.kind)
        }
    }
}

/// A continuation that the first of several racers resumes; the others are ignored.
private final class FirstAnswer<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>

    init(_ continuation: CheckedContinuation<T, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: T) {
        self.continuation.withLock { $0.take() }?.resume(returning: value)
    }
}
