import NIOCore
import NIOWebSocket
import Switchboard

/// One WebSocket connection: the only handler in its channel's pipeline once upgraded. It runs
/// entirely on the channel's event loop: no task and no actor per connection.
///
/// It reads the client's bytes with a ``WebSocketFrameParser`` and reassembles messages with a
/// ``MessageAssembler`` (checking the size limit and UTF-8 as each piece arrives, so a bad message
/// fails before it is complete), answers pings, sends heartbeat pings and closes peers that send
/// nothing for two intervals, runs the close handshake, and hands each whole message to the
/// connection's ``WebSocketEndpoint``. What the endpoint sends goes through the connection's
/// ``Outbox``, which the handler drains into the socket (``drain()``, in
/// `WebSocketConnectionHandler+Writing.swift`); while the outbox is over its limit the handler stops
/// reading from the client, so a client that sends without reading slows down only itself.
///
/// Every frame it writes is already encoded (the outbox's messages are framed once for all their
/// recipients, and its control frames it frames itself), so the pipeline holds no frame encoder: one
/// handler and its context are what a connection adds to NIO's channel.
///
/// Every close of a served connection goes through its outbox, after the replies already queued: a
/// client whose close (or protocol error) follows its message in the same read still gets the reply,
/// then the close frame.
final class WebSocketConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked: every member is touched on the channel's event loop only.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What the handler does with its connection.
    enum Role {
        /// Serve the endpoint, with the outbox's wake (detached when the connection has closed).
        case serve(any WebSocketEndpoint, Connection, OutboxWake)
        /// Close at once with this reason (a refused request).
        case refuse(CloseReason)
    }

    /// What the handler is made with. It keeps only what it needs after it was added (an idle
    /// connection's memory is mostly its handler's and NIO's).
    struct Settings {
        var maxMessageSize: Int
        /// The connections of the channel's event loop, where the connection is tracked until it
        /// closes and ticked by a heartbeat if that is on; `nil` for neither.
        var connections: LoopConnections?
        /// Where a served connection is unregistered when it has closed, if anywhere.
        var registry: ConnectionRegistry? = nil
        var closeTimeout: Duration
        /// Logs the connection's opening and closing and counts its messages and the server's
        /// closes (shared by the connections of its transport); `nil` for none of it.
        var observer: ConnectionObserver? = nil
        /// permessage-deflate as negotiated at the handshake, or `nil` when it was not.
        var deflate: DeflateParameters? = nil
        /// How outgoing messages are compressed when permessage-deflate was negotiated, or `nil` to
        /// write every frame as it is.
        var compression: OutboundCompression? = nil
    }

    let role: Role
    private let registry: ConnectionRegistry?
    let closeTimeout: Duration
    let observer: ConnectionObserver?
    let compression: OutboundCompression?
    var context: ChannelHandlerContext?
    private var parser: WebSocketFrameParser
    private var assembler: MessageAssembler
    /// Inflates compressed messages (permessage-deflate); `nil` when it was not negotiated.
    private let inflater: MessageInflater?
    /// The start of a frame (its header, or a control frame) that arrived without the rest of it.
    private var unread: ByteBuffer?
    /// The close frame the server sent, and whether it answered the client's; `nil` until sent.
    var closeSent: (reason: CloseReason, answering: Bool)?
    var closeReceived = false
    /// The connection was failed (a protocol violation): read nothing more, and drop the TCP
    /// connection as soon as the close frame is out.
    var failed = false
    /// Heartbeat pings sent since the peer last sent anything.
    var unansweredPings = 0
    /// The connections of this handler's event loop, which it is in from being added until it closes
    /// (and counted in until it is removed); `nil` once counted out, or when not tracked.
    private var loopConnections: LoopConnections?
    /// This handler's place in its ``LoopConnections`` (-1 when not in one); theirs to manage.
    var loopSlot = -1
    private var readHeldBack = false
    /// In ``channelRead(context:data:)``: the outbox's wakes on the event loop are deferred to its end.
    var inRead = false
    /// The outbox woke during ``channelRead(context:data:)``: drain at its end.
    var drainAfterRead = false
    var finished = false
    /// The outbox has ended and its last batch was written: nothing more to drain.
    var drainedLast = false

    init(role: Role, settings: Settings) {
        self.role = role
        self.registry = settings.registry
        self.closeTimeout = settings.closeTimeout
        self.observer = settings.observer
        self.compression = settings.compression
        self.loopConnections = settings.connections
        self.parser = WebSocketFrameParser(maxFrameSize: settings.maxMessageSize, allowsCompression: settings.deflate != nil)
        self.assembler = MessageAssembler(maxMessageSize: settings.maxMessageSize)
        self.inflater = settings.deflate.map { MessageInflater(noContextTakeover: $0.clientNoContextTakeover) }
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loopConnections?.add(self)
        switch self.role {
        case .refuse(let reason):
            self.sendClose(reason)
        case .serve(let endpoint, let connection, _):
            self.observer?.opened(context.channel)
            endpoint.opened(connection)
            // The outbox may have become ready before the handler was in place.
            self.drain()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.finish()
        self.context = nil
        if let here = self.loopConnections {
            self.loopConnections = nil
            here.closed()
        }
    }

    /// Close the channel now, without a close frame (shutdown, for what is left after the close
    /// handshakes had their time).
    func closeChannel() {
        self.context?.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server allows half-closure for HTTP, but a WebSocket peer that has stopped sending is
        // gone: close. Unless it sent its close frame first (or broke the protocol): then the replies
        // queued before it and our close frame go out first, and `sendClose` drops the connection.
        if let event = event as? ChannelEvent, event == .inputClosed {
            if !self.isReading, self.closeSent == nil { return }
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
        self.loopConnections?.remove(self)
        if case .serve(let endpoint, let connection, let wake) = self.role {
            connection.outbox.finish()
            endpoint.closed(connection)
            self.registry?.unregister(connection.id)
            wake.detach()
            if let context = self.context { self.observer?.closed(context.channel, close: self.closeSent) }
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

    /// The outbox was drained: read again if a read was held back for it.
    func outboxDrained() {
        guard self.readHeldBack, let context = self.context else { return }
        if case .serve(_, let connection, _) = self.role, connection.outbox.isOverLimit { return }
        self.readHeldBack = false
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // What the messages of this read queue for this connection (the replies) is written once they
        // have all been handled, here, rather than after a hop through the event loop's task queue
        // (see ``OutboxWake``).
        self.inRead = true
        self.consume(self.unwrapInboundIn(data), context: context)
        self.inRead = false
        if self.drainAfterRead {
            self.drainAfterRead = false
            self.drain()
        }
    }

    /// Handle the bytes of one read.
    private func consume(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        var bytes = bytes
        // Any bytes show the peer is alive, not only a pong.
        self.unansweredPings = 0
        if var pending = self.unread {
            // Complete the pending frame start with a copy of just enough of the new bytes (a header
            // and a control frame are under 150 bytes), then go on in the new buffer itself.
            self.unread = nil
            let taken = min(bytes.readableBytes, 256)
            pending.writeImmutableBuffer(bytes.getSlice(at: bytes.readerIndex, length: taken)!)
            self.parse(&pending)
            guard self.isReading else { return }
            if pending.readableBytes <= taken {
                bytes.moveReaderIndex(forwardBy: taken - pending.readableBytes)
            } else {
                // Still incomplete: go on with every byte read so far, in `pending`.
                bytes.moveReaderIndex(forwardBy: taken)
                pending.writeBuffer(&bytes)
                bytes = pending
            }
        }
        self.parse(&bytes)
        if self.isReading, bytes.readableBytes > 0 {
            // Keep a copy of the few bytes left, not the whole read buffer they are in.
            var rest = context.channel.allocator.buffer(capacity: bytes.readableBytes)
            rest.writeBuffer(&bytes)
            self.unread = rest
        }
    }

    /// Whether inbound bytes still matter: not after the peer's close, nor after failing.
    private var isReading: Bool { !self.closeReceived && !self.failed }

    /// Handle every event that `bytes` makes, consuming them.
    private func parse(_ bytes: inout ByteBuffer) {
        while self.isReading, let event = self.parser.next(&bytes) {
            switch event {
            case .dataFrame(let header):
                // After our close frame only the peer's close matters.
                if self.closeSent != nil { continue }
                if let reason = self.assembler.frameStarted(header) { self.fail(reason) }
            case .data(let piece, let frameEnd):
                if self.closeSent != nil { continue }
                switch self.assembler.piece(piece, frameEnd: frameEnd) {
                case .pending: break
                case .message(let opcode, let message, let compressed):
                    if compressed {
                        self.inflateAndDeliver(opcode, message)
                    } else {
                        self.deliver(opcode, message)
                    }
                case .violation(let reason): self.fail(reason)
                }
            case .control(let opcode, let payload):
                switch opcode {
                case .ping where self.closeSent == nil:
                    self.writeControl(opcode: 0xA, payload)  // pong
                case .connectionClose:
                    self.receivedClose(payload)
                default:
                    break  // a pong: counted above
                }
            case .violation(let reason):
                self.fail(reason)
            }
        }
    }

    /// A compressed message: inflated within the message size limit (more is 1009, however small
    /// the compressed bytes), then checked as UTF-8 if text (1007).
    private func inflateAndDeliver(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        guard let inflater = self.inflater, let context = self.context else { return self.fail(.protocolError("compressed message without permessage-deflate")) }
        let message: ByteBuffer
        do {
            message = try inflater.inflate(data, limit: self.assembler.maxMessageSize, allocator: context.channel.allocator)
        } catch .tooLarge {
            return self.fail(.messageTooLarge(limit: self.assembler.maxMessageSize))
        } catch {
            return self.fail(CloseReason(code: 1007, reason: "compressed message does not inflate"))
        }
        guard opcode == .text else { return self.deliver(.binary(message)) }
        // The whole message is in one buffer: the standard library's validation, one pass, which
        // is also the string (a byte-at-a-time validator costs 50 ms per 64 KiB in a debug build).
        let text = message.withUnsafeReadableBytes { String(validating: $0.assumingMemoryBound(to: UInt8.self), as: UTF8.self) }
        guard let text else { return self.fail(.invalidUTF8) }
        self.deliver(.text(text))
    }

    private func deliver(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        self.deliver(opcode == .text ? .text(String(buffer: data)) : .binary(data))
    }

    private func deliver(_ message: InboundMessage) {
        guard case .serve(let endpoint, let connection, _) = self.role, !connection.outbox.isFinished else { return }
        self.observer?.received?.increment()
        endpoint.receive(message, on: connection)
    }

    // MARK: Closing

    private func receivedClose(_ data: ByteBuffer) {
        self.closeReceived = true
        self.unread = nil
        guard let context = self.context else { return }
        if self.closeSent != nil {
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
        // The answer goes out after the replies to the messages that came before the close (once the
        // endpoint has queued them, within the close timeout); then the TCP connection is closed (see
        // `sendClose`).
        let reason = CloseReason(code: answer, reason: "")
        guard case .serve(let endpoint, let connection, _) = self.role else { return self.requestClose(reason) }
        let outbox = connection.outbox
        endpoint.peerClosing(connection) { outbox.finish(closing: reason) }
        if !outbox.isFinished {
            context.eventLoop.scheduleTask(in: .init(self.closeTimeout)) { outbox.finish(closing: reason) }
        }
    }

    /// Fail the connection: close with `reason` (after the replies already queued), read nothing
    /// more, and drop the TCP connection once the close frame is out.
    private func fail(_ reason: CloseReason) {
        self.failed = true
        self.unread = nil
        if self.closeSent != nil {
            // Our close is out already; the peer broke the protocol instead of answering it.
            self.context?.close(promise: nil)
            return
        }
        self.requestClose(reason)
    }

    /// Close after what the outbox holds: the writer drains it, then calls ``sendClose(_:)``. If the
    /// outbox has already ended with a close of its own, that one goes out instead.
    private func requestClose(_ reason: CloseReason) {
        switch self.role {
        case .serve(_, let connection, _):
            connection.outbox.finish(closing: reason)
        case .refuse:
            self.sendClose(reason)
        }
    }

}
