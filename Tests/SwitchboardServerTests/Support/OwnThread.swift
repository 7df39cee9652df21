import Foundation

/// Run a blocking call (a socket read or write) on a thread of its own and await its result.
///
/// Never on `DispatchQueue.global()` or a queue that targets it: on Linux, Swift's cooperative
/// threads are that root queue's worker threads (as many as there are cores, two here), so a few
/// blocking reads parked there starve every task in the process, the in-process server included,
/// until the reads time out. That is how session tests waiting 5 s for an immediate reply failed in
/// full runs.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
