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
        let opening = Opening(generator: self, count: count, path: path, configure: configure, done: done)
        for _ in 0..<min(concurrency, count) { opening.startNext() }
        if count == 0 { done([], 0) }
    }

    /// The state of one ``open(count:concurrency:path:configure:done:)``, touched on the loop only.
    private final class Opening: @unchecked Sendable {
        let generator: LoadGenerator
        let count: Int
        let path: (Int) -> String
        let configure: (BenchConnection) -> Void
        let done: ([BenchConnection], Int) -> Void
        var started = 0
        var finished = 0
        var failures = 0
        var opened: [BenchConnection] = []

        init(
            generator: LoadGenerator,
            count: Int,
            path: @escaping (Int) -> String,
            configure: @escaping (BenchConnection) -> Void,
            done: @escaping ([BenchConnection], Int) -> Void
        ) {
            self.generator = generator
            self.count = count
            self.path = path
            self.configure = configure
            self.done = done
            self.opened.reserveCapacity(count)
        }

        func startNext() {
            guard self.started < self.count else { return }
            let index = self.started
            self.started += 1
            let connection = BenchConnection(host: "\(self.generator.host):\(self.generator.port)", path: self.path(index))
            self.configure(connection)
            let userOnOpen = connection.onOpen
            let userOnClose = connection.onClose
            let settled = LoopBox(false)
            let settle: @Sendable (Bool) -> Void = { success in
                guard !settled.value else { return }
                settled.value = true
                self.settled(connection, success: success)
            }
            connection.onOpen = { connection in
                settle(true)
                userOnOpen(connection)
            }
            connection.onClose = { connection in
                settle(false)
                userOnClose(connection)
            }
            ClientBootstrap(group: self.generator.loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(connection) }
                }
                .connect(host: self.generator.host, port: self.generator.port)
                .whenFailure { _ in settle(false) }
        }

        private func settled(_ connection: BenchConnection, success: Bool) {
            self.finished += 1
            if success { self.opened.append(connection) } else { self.failures += 1 }
            if self.finished == self.count {
                self.done(self.opened, self.failures)
            } else {
                self.startNext()
            }
        }
    }

    /// Run `body` on the loop and wait for its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await self.loop.submit(body).get()
    }
}

/// A value only touched on one event loop, passed across tasks.
final class LoopBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
