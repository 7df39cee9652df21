import ServiceLifecycle

/// Run `group` (a server's services), wait for the port it reports on `ports`, run `body` with it,
/// then stop the group gracefully, as SIGTERM would, and wait until it has stopped: also when `body`
/// throws, whose error is then rethrown.
///
/// Never stopped by cancelling: a cancelled Hummingbird server drops the connections it accepted but
/// did not start serving yet, and NIO traps on those ("Deinited NIOAsyncWriter without calling
/// finish()", apple/swift-nio#3481); leaving the task group by throwing would cancel it.
func withRunningGroup<T: Sendable>(
    _ group: ServiceGroup,
    ports: AsyncStream<Int>,
    _ body: (Int) async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            throw TestFailure("the server did not start")
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(port))
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}
