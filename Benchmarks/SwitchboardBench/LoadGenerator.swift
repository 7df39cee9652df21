import NIOCore
import NIOPosix

/// Opens and drives benchmark connections on one event loop.
final class LoadGenerator: @unchecked Sendable {
    let loop: any EventLoop
    let host: String
    let port: Int

    init(loop: any EventLoop, host: String, port: Int) {
        self.loop = loop
        self.host = host
        self.port = port
    }

    /// Open `count` connections to `path(i)`, at most `concurrency` handshakes at a time. Must be called
    /// on the loop. `configure` sets each connection's callbacks; `done` runs on the loop when every
    /// connection has opened or failed, with the connections that opened.
    func open(
        count: Int,
        concurrency: Int,
        path: @escaping (Int) -> String,
        configure: @escaping (BenchConnection) -> Void,
        done: @escaping ([BenchConnection], _ failures: Int) -> Void
    ) {
        self.loop.preconditionInEventLoop()
        var started = 0
        var finished = 0
        var failures = 0
        var opened: [BenchConnection] = []
        opened.reserveCapacity(count)
        func startNext() {
            guard started < count else { return }
            let index = started
            started += 1
            let connection = BenchConnection(host: "\(self.host):\(self.port)", path: path(index))
            configure(connection)
            let userOnOpen = connection.onOpen
            let userOnClose = connection.onClose
            var settled = false
            func settle(success: Bool) {
                guard !settled else { return }
                settled = true
                finished += 1
                if success { opened.append(connection) } else { failures += 1 }
                if finished == count {
                    done(opened, failures)
                } else {
                    startNext()
                }
            }
            connection.onOpen = { connection in
                settle(success: true)
                userOnOpen(connection)
            }
            connection.onClose = { connection in
                settle(success: false)
                userOnClose(connection)
            }
            ClientBootstrap(group: self.loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(connection) }
                }
                .connect(host: self.host, port: self.port)
                .whenFailure { _ in settle(success: false) }
        }
        for _ in 0..<min(concurrency, count) { startNext() }
        if count == 0 { done([], 0) }
    }

    /// Run `body` on the loop and wait for its result.
    func onLoop<T: Sendable>(_ body: @escaping () -> T) async throws -> T {
        try await self.loop.submit(body).get()
    }
}

/// A value only touched on one event loop, passed across tasks.
final class LoopBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
