import Hummingbird
import NIOCore
import Synchronization
import Switchboard

/// One unidirectional HTTP connection, `uni_sse` or `uni_http_stream`: a ``ClientSession`` whose
/// outbox is written into a streaming response, each push framed as ``UniFraming`` says.
///
/// It is a connection like a WebSocket: it counts against the connection limit (``ConnectionRegistry``),
/// its outbox is bounded (a client that does not read is disconnected as slow, 3008), it gets `{}` every
/// ping interval, and the server's shutdown ends it (3001). Whenever the server ends the stream it
/// writes a last push saying why, `{"disconnect":{"code":…,"reason":…}}`, as Centrifugo does, then ends
/// the response; a client that needs to reconnect (codes below 3500) does so with `subs` to recover.
///
/// The outbox wakes the response's writer through an `AsyncStream`; the writer takes everything
/// queued at once and writes it with one flush. A client that stops reading stalls the writer; once the
/// outbox holds a close (it overflowed, or the server is shutting down), the writer gets the close
/// timeout to finish, then the TCP connection is dropped.
final class UniStream: Sendable {
    /// Why a stream could not be opened.
    enum Refusal: Error {
        case atLimit(Int)
        case shuttingDown
    }

    let framing: UniFraming
    let connection: Connection
    let session: ClientSession
    private let registry: ConnectionRegistry
    private let wakes: AsyncStream<Void>
    private let pingInterval: Duration?
    private let stall: StallGuard
    private let isClosed = Mutex(false)
    private let metrics: SwitchboardMetrics?

    /// Register a connection and make its session; nothing is sent until ``start(_:)``.
    ///
    /// - Parameter request: The HTTP request of the stream, for the application's hooks.
    init(
        framing: UniFraming,
        service: ChannelService,
        registry: ConnectionRegistry,
        configuration: SwitchboardConfiguration,
        request: ConnectionRequest = ConnectionRequest()
    ) throws(Refusal) {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let stall = StallGuard(channel: HTTPConnectionChannel.current, timeout: configuration.closeTimeout)
        let outbox = Outbox(limit: configuration.outboxLimit, overflowReason: Disconnect.slow) {
            wake.yield()
            stall.outboxReady()
        }
        stall.watch(outbox)
        // A connection that closes (reset by the client, dropped by the stall guard) ends the stream
        // even when nothing is being written. A client that only stops reading is found by the next
        // write, the ping at the latest.
        HTTPConnectionChannel.current?.closeFuture.whenComplete { _ in outbox.finish() }
        switch registry.register(outbox, shutdownReason: Disconnect.shutdown) {
        case .registered(let id):
            self.connection = Connection(id: id, outbox: outbox)
        case .atLimit(let limit):
            throw .atLimit(limit)
        case .shuttingDown:
            throw .shuttingDown
        }
        self.framing = framing
        self.metrics = service.metrics
        self.registry = registry
        self.wakes = wakes
        self.stall = stall
        self.pingInterval = configuration.pingInterval
        self.session = ClientSession(
            connection: self.connection,
            service: service,
            format: .json,
            transport: .unidirectional,
            request: request,
            transportName: framing.name
        )
    }

    /// Connect the session with the client's connect request (already checked to be well formed): its
    /// result is the first push, or its error the disconnect push.
    func start(_ connectRequest: String) {
        self.session.connectUnidirectional(connectRequest)
    }

    /// The response body: the stream of pushes, until the connection ends.
    var body: ResponseBody {
        ResponseBody { writer in try await self.run(&writer) }
    }

    private func run(_ writer: inout any ResponseBodyWriter) async throws {
        defer { self.closed() }
        let outbox = self.connection.outbox
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            if let interval = self.pingInterval {
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: interval)
                        // Queued like a broadcast: a client that does not read overflows on it too.
                        outbox.enqueue(UniPush.ping)
                    }
                }
            }
            if let preamble = self.framing.preamble { try await writer.write(preamble) }
            let metrics = self.metrics
            let sent = metrics?.transportCounters(self.framing.name).sent
            for await _ in self.wakes {
                let batch = outbox.drain()
                if !batch.messages.isEmpty { sent?.increment(by: batch.messages.count) }
                if let reason = batch.close { metrics?.recordServerDisconnect(code: reason.code) }
                var buffer = ByteBuffer()
                for message in batch.messages { self.framing.append(UniPush.unwrap(message.bytes), to: &buffer) }
                if let reason = batch.close { self.framing.append(UniPush.disconnect(reason), to: &buffer) }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
                if batch.isLast { break }
            }
            try await writer.finish(nil)
        }
    }

    /// Also when the response never ran its body (the client left before the head was written).
    deinit { self.closed() }

    /// The stream has ended (or its client is gone): leave everything, once.
    private func closed() {
        guard !self.isClosed.withLock({ closed in defer { closed = true }; return closed }) else { return }
        self.stall.disarm()
        self.connection.outbox.finish()
        self.session.closed()
        self.registry.unregister(self.connection.id)
    }
}

/// Drops the TCP connection of a stream whose outbox holds a close (overflowed, or shut down) that
/// the writer has not delivered within the close timeout: its client stopped reading, and nothing
/// else would end a response write that waits for the socket.
private final class StallGuard: Sendable {
    private struct State {
        var outbox: Outbox?
        var armed = false
        var done = false
    }

    private let channel: (any Channel)?
    private let timeout: Duration
    private let state = Mutex(State())

    init(channel: (any Channel)?, timeout: Duration) {
        self.channel = channel
        self.timeout = timeout
    }

    func watch(_ outbox: Outbox) {
        self.state.withLock { $0.outbox = outbox }
    }

    /// The outbox has something for the writer: if that is a close, start the clock.
    func outboxReady() {
        guard let channel = self.channel else { return }
        let arm = self.state.withLock { state -> Bool in
            guard !state.armed, !state.done, state.outbox?.hasPendingClose == true else { return false }
            state.armed = true
            return true
        }
        guard arm else { return }
        channel.eventLoop.scheduleTask(in: .init(self.timeout)) {
            if !self.state.withLock({ $0.done }) { channel.close(promise: nil) }
        }
    }

    func disarm() {
        self.state.withLock {
            $0.done = true
            $0.outbox = nil
        }
    }
}
