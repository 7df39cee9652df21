import NIOCore
import NIOWebSocket
import Switchboard

/// One WebSocket connection, as a handler at the tail of its channel's pipeline, after NIO's frame
/// decoder and encoder. It runs entirely on the channel's event loop: no task and no actor per
/// connection.
///
/// It reassembles fragmented messages (checking the size limit and UTF-8 as each fragment arrives),
/// answers pings, sends heartbeat pings and closes peers that send nothing for two intervals, runs the
/// close handshake,
/// and hands each whole message to the connection's ``WebSocketEndpoint``. What the endpoint sends goes
/// through the connection's ``Outbox`` and its ``OutboxWriter``; while the outbox is over its limit
/// the handler stops reading from the client, so a client that sends without reading slows down only
/// itself.
final class WebSocketConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked: every member is touched on the channel's event loop only.
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// What the handler does with its connection.
    enum Role {
        /// Serve the endpoint; `gone` runs once when the connection has closed.
        case serve(any WebSocketEndpoint, Connection, gone: () -> Void)
        /// Close at once with this reason (a refused request).
        case refuse(CloseReason)
    }

    struct Settings {
        var maxMessageSize: Int
        /// The heartbeat timers, or `nil` for no heartbeat.
        var heartbeats: Heartbeats?
        var closeTimeout: Duration
    }

    private let role: Role
    private let settings: Settings
    private var context: ChannelHandlerContext?
    private var fragments: ByteBuffer?
    private var fragmentOpcode: WebSocketOpcode?
    private var utf8 = UTF8Validator()
    private var closeSent = false
    private var closeReceived = false
    /// Heartbeat pings sent since the peer last sent anything.
    private var unansweredPings = 0
    private var heartbeat: LoopHeartbeat?
    /// This handler's place in its ``LoopHeartbeat`` (-1 when not in one); the heartbeat's to manage.
    var heartbeatSlot = -1
    private var readHeldBack = false
    private var finished = false

    init(role: Role, settings: Settings) {
        self.role = role
        self.settings = settings
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        switch self.role {
        case .refuse(let reason):
            self.sendClose(reason)
        case .serve(let endpoint, let connection, _):
            if let heartbeats = self.settings.heartbeats {
                let heartbeat = heartbeats.heartbeat(on: context.eventLoop)
                heartbeat.add(self)
                self.heartbeat = heartbeat
            }
            endpoint.opened(connection)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.finish()
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server allows half-closure for HTTP, but a WebSocket peer that has stopped sending is
        // gone: close.
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// The connection is gone: tell the endpoint once and stop the heartbeat.
    private func finish() {
        guard !self.finished else { return }
        self.finished = true
        self.heartbeat?.remove(self)
        self.heartbeat = nil
        if case .serve(let endpoint, let connection, let gone) = self.role {
            connection.outbox.finish()
            endpoint.closed(connection)
            gone()
        }
    }

    // MARK: Reading

    func read(context: ChannelHandlerContext) {
        if case .serve(_, let connection, _) = self.role, connection.outbox.isOverLimit {
            self.readHeldBack = true
            return
        }
        context.read()
    }

    /// The writer drained the outbox: read again if a read was held back for it.
    func outboxDrained() {
        guard self.readHeldBack, let context = self.context else { return }
        if case .serve(_, let connection, _) = self.role, connection.outbox.isOverLimit { return }
        self.readHeldBack = false
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        // Any frame shows the peer is alive, not only a pong.
        self.unansweredPings = 0
        guard !self.closeReceived else { return }
        // After our close frame only the peer's close matters.
        if self.closeSent && frame.opcode != .connectionClose { return }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { return self.fail(.protocolError("reserved bits set without an extension")) }
        guard frame.maskKey != nil else { return self.fail(.protocolError("client frames must be masked")) }
        let data = frame.unmaskedData

        switch frame.opcode {
        case .text, .binary:
            guard self.fragmentOpcode == nil else { return self.fail(.protocolError("new message before the previous one ended")) }
            guard data.readableBytes <= self.settings.maxMessageSize else {
                return self.fail(.messageTooLarge(limit: self.settings.maxMessageSize))
            }
            if frame.opcode == .text {
                self.utf8 = UTF8Validator()
                guard self.utf8.feed(data.readableBytesView) else { return self.fail(.invalidUTF8) }
            }
            if frame.fin {
                guard frame.opcode == .binary || self.utf8.isComplete else { return self.fail(.invalidUTF8) }
                self.deliver(frame.opcode, data)
            } else {
                self.fragmentOpcode = frame.opcode
                self.fragments = data
            }
        case .continuation:
            guard let opcode = self.fragmentOpcode, var message = self.fragments else {
                return self.fail(.protocolError("continuation frame without a message to continue"))
            }
            guard message.readableBytes + data.readableBytes <= self.settings.maxMessageSize else {
                return self.fail(.messageTooLarge(limit: self.settings.maxMessageSize))
            }
            if opcode == .text, !self.utf8.feed(data.readableBytesView) { return self.fail(.invalidUTF8) }
            self.fragments = nil  // keep `message` uniquely referenced while it grows
            var more = data
            message.writeBuffer(&more)
            if frame.fin {
                guard opcode == .binary || self.utf8.isComplete else { return self.fail(.invalidUTF8) }
                self.fragmentOpcode = nil
                self.deliver(opcode, message)
            } else {
                self.fragments = message
            }
        case .ping:
            self.write(WebSocketFrame(fin: true, opcode: .pong, data: data))
        case .pong:
            break  // counted above
        case .connectionClose:
            self.receivedClose(data)
        default:
            self.fail(.protocolError("reserved opcode"))
        }
    }

    private func deliver(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        guard case .serve(let endpoint, let connection, _) = self.role, !connection.outbox.isFinished else { return }
        endpoint.receive(opcode == .text ? .text(String(buffer: data)) : .binary(data), on: connection)
    }

    // MARK: Closing

    private func receivedClose(_ data: ByteBuffer) {
        self.closeReceived = true
        guard let context = self.context else { return }
        if self.closeSent {
            // Our close was answered: the handshake is done and the server closes the TCP connection.
            context.close(promise: nil)
            return
        }
        var data = data
        var answer: UInt16 = 1000
        if data.readableBytes == 1 {
            answer = 1002
        } else if let code = data.readInteger(as: UInt16.self) {
            var validator = UTF8Validator()
            if !CloseReason.isValidPeerCode(code) {
                answer = 1002
            } else if !validator.feed(data.readableBytesView) || !validator.isComplete {
                answer = 1007
            } else {
                answer = code
            }
        }
        self.closeSent = true
        self.finish()
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(Self.closeFrame(code: answer, reason: ""))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Fail the connection: close with `reason` and ignore everything but the peer's close.
    private func fail(_ reason: CloseReason) {
        self.fragments = nil
        self.fragmentOpcode = nil
        self.sendClose(reason)
    }

    /// Send a close frame (once) and drop the TCP connection if the peer has not answered within the
    /// close timeout. Called on the event loop, also by the writer for closes the outbox asks for.
    func sendClose(_ reason: CloseReason) {
        guard !self.closeSent, let context = self.context else { return }
        self.closeSent = true
        self.write(Self.closeFrame(code: reason.code, reason: reason.reason))
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .init(self.settings.closeTimeout)) { channel.close(promise: nil) }
    }

    /// A heartbeat tick: ping, and close a peer that has sent nothing (not even a pong) for two
    /// intervals. One missed interval is forgiven: a live client on a busy machine may answer late.
    func beat() {
        guard !self.finished, !self.closeSent, case .serve(let endpoint, let connection, _) = self.role else { return }
        switch endpoint.heartbeat {
        case .webSocketPing:
            if self.unansweredPings >= 2 { return self.sendClose(.pingTimeout) }
            self.write(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "heartbeat")))
        case .message(let ping, let timeout):
            if self.unansweredPings >= 2 { return self.sendClose(timeout) }
            connection.send(ping)
        }
        self.unansweredPings += 1
    }

    private func write(_ frame: WebSocketFrame) {
        self.context?.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    static func closeFrame(code: UInt16, reason: String) -> WebSocketFrame {
        var data = ByteBuffer()
        data.writeInteger(code)
        data.writeString(reason)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }
}
