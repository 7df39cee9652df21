import Switchboard
import Synchronization

/// Publications that arrive while another batch is in the database, gathered into the next batch:
/// one statement (one round trip, one transaction) for all of them instead of one each.
///
/// Leader and followers, without a task of its own: a publication that finds nothing in flight
/// runs its batch in its own task; publications that arrive meanwhile queue and wait. When a batch
/// ends, the first one queued since is woken to run the next batch (everything queued then, up to
/// ``maxBatch`` and ``maxBatchBytes``), and every caller of the ended batch gets its own result.
///
/// Semantics (docs/SCALE-OUT.md): a batch commits or fails as a whole. When PostgreSQL refuses
/// a batch of several (a statement error, not an outage), each of its publications is tried again
/// on its own, so only the one PostgreSQL refuses fails and the others are stored; when
/// PostgreSQL is unreachable, every caller of the batch gets that error. A publication waits at
/// most ``maxWait`` in the queue: after that it fails without being sent (its caller has given up
/// by then), and at most ``maxQueued`` wait at once (more fail at once: PostgreSQL is not keeping up).
final class PostgresPublishBatcher: Sendable {
    /// One publication to append.
    struct Item: Sendable {
        var publication: Publication
        var channel: String
        var historySize: Int
        var historyTTL: Duration
        var inHistory: Bool
        var newEpoch: String
    }

    typealias Stored = (publication: Publication, epoch: String)

    /// What wakes a queued caller: its result, or its turn to run the next batch.
    private enum Wake: Sendable {
        case done(Result<Stored, any Error>)
        case lead
    }

    private struct Waiter {
        let id: UInt64
        let item: Item
        let queuedAt: ContinuousClock.Instant
        let continuation: CheckedContinuation<Wake, Never>
    }

    private struct State {
        var queue: [Waiter] = []
        /// A batch is in flight (its leader has not handed over yet).
        var busy = false
        var nextID: UInt64 = 0
    }

    /// At most this many publications in one statement.
    let maxBatch: Int
    /// A batch stops growing once its payloads reach this many bytes (it holds at least one).
    let maxBatchBytes: Int
    /// At most this many publications wait for a batch at once.
    let maxQueued: Int
    /// A publication that waited this long for its batch fails without being sent.
    let maxWait: Duration
    private let state = Mutex(State())
    private let execute: @Sendable ([Item]) async throws -> [Stored]

    /// - Parameter execute: Appends a batch in one statement and returns each item's result, in order.
    init(
        maxBatch: Int = 256,
        maxBatchBytes: Int = 1 << 20,
        maxQueued: Int = 10_000,
        maxWait: Duration = .seconds(10),
        execute: @escaping @Sendable ([Item]) async throws -> [Stored]
    ) {
        self.maxBatch = max(maxBatch, 1)
        self.maxBatchBytes = maxBatchBytes
        self.maxQueued = maxQueued
        self.maxWait = maxWait
        self.execute = execute
    }

    /// How many publications wait for a batch now (the one running its batch included).
    var waiting: Int { self.state.withLock { $0.queue.count } }

    /// Append a publication with the next batch; returns when that batch has committed.
    func append(_ item: Item) async throws -> Stored {
        let queuedAt = ContinuousClock.now
        var id: UInt64 = 0
        var full = false
        let wake = await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
            let lead = self.state.withLock { state -> Bool in
                guard state.queue.count < self.maxQueued else {
                    full = true
                    return false
                }
                id = state.nextID
                state.nextID &+= 1
                state.queue.append(Waiter(id: id, item: item, queuedAt: queuedAt, continuation: continuation))
                if state.busy { return false }
                state.busy = true
                return true
            }
            if full {
                continuation.resume(returning: .done(.failure(PostgresPublishError.tooManyWaiting(self.maxQueued))))
            } else if lead {
                continuation.resume(returning: .lead)
            }
        }
        switch wake {
        case .done(let result): return try result.get()
        case .lead: return try await self.lead(id)
        }
    }

    /// Run the next batch (this caller's publication is the first in the queue), hand over to the
    /// next leader, answer the batch's callers, and return this caller's own result.
    private func lead(_ me: UInt64) async throws -> Stored {
        let now = ContinuousClock.now
        let (batch, stale) = self.state.withLock { state -> ([Waiter], [Waiter]) in
            var batch: [Waiter] = []
            var stale: [Waiter] = []
            var bytes = 0
            var taken = 0
            for waiter in state.queue {
                if now - waiter.queuedAt > self.maxWait {
                    stale.append(waiter)
                } else {
                    if batch.count >= self.maxBatch || bytes >= self.maxBatchBytes { break }
                    batch.append(waiter)
                    bytes += waiter.item.publication.data.utf8.count
                }
                taken += 1
            }
            state.queue.removeFirst(taken)
            return (batch, stale)
        }
        var mine: Result<Stored, any Error> = .failure(PostgresPublishError.waitedTooLong(self.maxWait))
        for waiter in stale where waiter.id != me {
            waiter.continuation.resume(returning: .done(.failure(PostgresPublishError.waitedTooLong(self.maxWait))))
        }
        let results = batch.isEmpty ? [] : await self.run(batch.map(\.item))
        // The next batch goes out before this one's callers are answered.
        let next = self.state.withLock { state -> Waiter? in
            if let first = state.queue.first { return first }
            state.busy = false
            return nil
        }
        next?.continuation.resume(returning: .lead)
        for (waiter, result) in zip(batch, results) {
            if waiter.id == me {
                mine = result
            } else {
                waiter.continuation.resume(returning: .done(result))
            }
        }
        return try mine.get()
    }

    /// Each item's result: the batch's, or, when PostgreSQL refused a batch of several, each one's own.
    private func run(_ items: [Item]) async -> [Result<Stored, any Error>] {
        do {
            let stored: [Stored]
            if items.count == 1 {
                stored = try await self.execute(items)
            } else {
                // Not in the leader's task: cancelling it must not fail the others' publications.
                stored = try await Task { try await self.execute(items) }.value
            }
            guard stored.count == items.count else {
                throw PostgresPublishError.unexpectedAnswer(expected: items.count, got: stored.count)
            }
            return stored.map { .success($0) }
        } catch {
            guard items.count > 1, Self.isRefusal(error) else { return items.map { _ in .failure(error) } }
            var results: [Result<Stored, any Error>] = []
            for item in items {
                do {
                    let stored = try await Task { try await self.execute([item]) }.value
                    guard let one = stored.first else { throw PostgresPublishError.unexpectedAnswer(expected: 1, got: 0) }
                    results.append(.success(one))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
    }

    /// PostgreSQL refused the statement for what it holds (not an outage, not an overload).
    private static func isRefusal(_ error: any Error) -> Bool {
        error.postgresSQLState != nil && !error.engineError.isTemporary
    }
}

/// Why a publication was not sent to PostgreSQL.
public enum PostgresPublishError: Error, Equatable, CustomStringConvertible {
    /// So many publications were waiting for PostgreSQL that this one was refused at once.
    case tooManyWaiting(Int)
    /// It waited longer than this for its turn, and was dropped unsent.
    case waitedTooLong(Duration)
    /// PostgreSQL answered a batch with another number of rows than it had publications.
    case unexpectedAnswer(expected: Int, got: Int)

    /// What a client is told: the queue's limits are temporary (PostgreSQL is not keeping up), a
    /// malformed answer is not.
    var engineError: EngineError {
        switch self {
        case .tooManyWaiting, .waitedTooLong: EngineError(self.description, kind: .unavailable)
        case .unexpectedAnswer: EngineError(self.description, kind: .internal)
        }
    }

    public var description: String {
        switch self {
        case .tooManyWaiting(let count): "\(count) publications are already waiting for PostgreSQL"
        case .waitedTooLong(let wait): "the publication waited over \(wait) for PostgreSQL and was not sent"
        case .unexpectedAnswer(let expected, let got): "PostgreSQL answered \(got) rows for \(expected) publications"
        }
    }
}
