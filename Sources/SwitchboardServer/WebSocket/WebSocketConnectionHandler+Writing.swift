import NIOCore
import Switchboard
import Synchronization

/// Writing: the outbox's messages, control frames, the close handshake and heartbeats.
///
/// The outbox's frames go to the socket as they are (each message was framed once for all its
/// recipients); control frames are framed here. With permessage-deflate negotiated, a large enough
/// message goes out as its compressed frame, made once per message and shared by every recipient
/// (``OutboundCompression``).
extension WebSocketConnectionHandler {
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.drain() }
        context.fireChannelWritabilityChanged()
    }

    /// Write what the outbox holds, if the channel can take it, and flush once: a burst of
    /// broadcasts costs one event-loop hop and one system call per connection. Runs on the event
    /// loop: after the outbox's `onReady`, when the handler is added, and when the channel becomes
    /// writable again. While the channel is not writable (the client is not reading) messages stay in
    /// the outbox, where they count against its limit; a pending close is drained regardless, and
    /// goes out after the messages queued before it.
    ///
    /// Small frames of a batch are copied into one buffer and written together (see
    /// ``coalescedFrameLimit``); a batch of one, and large frames, go out as they are.
    func drain() {
        guard !self.drainedLast, let context = self.context, case .serve(let endpoint, let connection, _) = self.role else { return }
        let outbox = connection.outbox
        guard context.channel.isWritable || outbox.hasPendingClose else { return }
        let batch = outbox.drain()
        if !batch.messages.isEmpty {
            self.observer?.sent?.increment(by: batch.messages.count)
            let transform = endpoint.outboundTransform
            let compression = self.compression
            let messages = batch.messages
            if messages.count == 1 {
                context.write(self.wrapOutboundOut(Self.outgoingFrame(messages[0], transform, compression)), promise: nil)
            } else {
                var coalesced: ByteBuffer?
                // The small frames still to come, so that a buffer started after a large frame is
                // sized for what follows it, not for the whole batch again.
                var smallBytesLeft = Self.coalescedCapacity(messages)
                for index in messages.indices {
                    let queuedSize = messages[index].frame.readableBytes
                    defer { if queuedSize <= Self.coalescedFrameLimit { smallBytesLeft -= queuedSize } }
                    // The frame as it goes out; without a transform or compression, read in place
                    // (no copy of the message).
                    let frame: ByteBuffer
                    if transform == nil, compression == nil {
                        frame = messages[index].frame
                    } else {
                        frame = Self.outgoingFrame(messages[index], transform, compression)
                    }
                    if frame.readableBytes <= Self.coalescedFrameLimit {
                        if coalesced == nil {
                            coalesced = context.channel.allocator.buffer(capacity: max(smallBytesLeft, frame.readableBytes))
                        }
                        coalesced!.writeImmutableBuffer(frame)
                    } else {
                        if let small = coalesced.take() { context.write(self.wrapOutboundOut(small), promise: nil) }
                        context.write(self.wrapOutboundOut(frame), promise: nil)
                    }
                }
                if let small = coalesced { context.write(self.wrapOutboundOut(small), promise: nil) }
            }
            context.flush()
        }
        if let reason = batch.close {
            if let farewell = endpoint.farewell(reason) { context.writeAndFlush(self.wrapOutboundOut(farewell.frame), promise: nil) }
            self.sendClose(reason)
        }
        if batch.isLast { self.drainedLast = true }
        self.outboxDrained()
    }

    /// The frame that goes out for `message`: rewritten by the endpoint's transform, then compressed
    /// when permessage-deflate was negotiated and it pays.
    private static func outgoingFrame(
        _ message: OutboundMessage,
        _ transform: (@Sendable (OutboundMessage) -> OutboundMessage)?,
        _ compression: OutboundCompression?
    ) -> ByteBuffer {
        let message = transform?(message) ?? message
        return compression?.frame(for: message) ?? message.frame
    }

    /// Frames up to this size are copied into one buffer per batch rather than written one by one:
    /// a write through NIO's pipeline costs more than copying a chat message or a publication (a
    /// profile at 10,000 subscribers put 14% of the server's CPU in the writes), and the socket
    /// gets one buffer instead of many. Larger frames are written as they are, their bytes shared
    /// with every other recipient.
    static let coalescedFrameLimit = 1024

    /// Room for the small frames of `messages` (as framed before compression, which only shrinks
    /// them; the buffer grows if a transform made them larger).
    private static func coalescedCapacity(_ messages: [OutboundMessage]) -> Int {
        var total = 0
        for message in messages where message.frame.readableBytes <= Self.coalescedFrameLimit {
            total += message.frame.readableBytes
        }
        return total
    }

    /// Send a close frame (once). If the peer's close came first, or the connection failed, the TCP
    /// connection is closed as soon as the frame is written; otherwise the peer has the close timeout
    /// to answer. Called on the event loop: by ``drain()`` for closes the outbox holds (after the
    /// messages before them), and for heartbeat timeouts and refusals.
    func sendClose(_ reason: CloseReason) {
        guard self.closeSent == nil, let context = self.context else { return }
        self.closeSent = (reason, self.closeReceived)
        self.observer?.serverClosed(reason, answering: self.closeReceived, on: context.channel)
        let channel = context.channel
        let frame = self.wrapOutboundOut(Self.closeFrame(code: reason.code, reason: reason.reason))
        if self.closeReceived || self.failed {
            context.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(frame, promise: nil)
        }
        // Also when the close frame cannot be written (a peer that does not read).
        context.eventLoop.scheduleTask(in: .init(self.closeTimeout)) { channel.close(promise: nil) }
    }

    /// A heartbeat tick: ping, and close a peer that has sent nothing (not even a pong) for two
    /// intervals. One missed interval is forgiven: a live client on a busy machine may answer late.
    func beat() {
        guard !self.finished, self.closeSent == nil, !self.closeReceived, !self.failed, case .serve(let endpoint, let connection, _) = self.role else { return }
        switch endpoint.heartbeat {
        case .webSocketPing:
            if self.unansweredPings >= 2 { return self.sendClose(.pingTimeout) }
            self.writeControl(opcode: 0x9, Self.pingPayload)
        case .message(let ping, let timeout):
            if self.unansweredPings >= 2 { return self.sendClose(timeout) }
            connection.send(ping)
        case .messageAndPing(let ping, let timeout):
            if self.unansweredPings >= 2 { return self.sendClose(timeout) }
            connection.send(ping)
            self.writeControl(opcode: 0x9, Self.pingPayload)
        }
        self.unansweredPings += 1
    }

    private static let pingPayload = ByteBuffer(string: "heartbeat")

    /// Write a control frame (`opcode` 0x9 ping, 0xA pong) with `payload` (at most 125 bytes, which
    /// the parser checks of the pings it answers).
    func writeControl(opcode: UInt8, _ payload: ByteBuffer) {
        self.context?.writeAndFlush(self.wrapOutboundOut(OutboundMessage.frame(firstByte: 0x80 | opcode, payload: payload).frame), promise: nil)
    }

    /// A close frame: FIN, opcode 0x8, the code and the reason (``CloseReason`` keeps it within the
    /// 123 bytes a control frame leaves).
    static func closeFrame(code: UInt16, reason: String) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        payload.writeString(reason)
        return OutboundMessage.frame(firstByte: 0x88, payload: payload).frame
    }
}

/// What a served connection's ``Outbox`` calls when it has something to write: a hop to the
/// connection's event loop, where its handler drains it (no hop for what the handler's own read
/// queued: it drains when the read has been handled). Made before the handler (the outbox comes
/// first: registering it gives the connection its id); ``attach(_:)`` then points it at the
/// handler, and ``detach()`` (when the connection is gone) breaks the cycle outbox → wake → handler
/// → outbox.
final class OutboxWake: Sendable {
    private let eventLoop: any EventLoop
    private let handler = Mutex<WebSocketConnectionHandler?>(nil)

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// An outbox that wakes through this.
    func outbox(limit: Int, overflowReason: CloseReason = .slowConsumer) -> Outbox {
        Outbox(limit: limit, overflowReason: overflowReason) { self.wake() }
    }

    func attach(_ handler: WebSocketConnectionHandler) {
        self.handler.withLock { $0 = handler }
    }

    func detach() {
        self.handler.withLock { $0 = nil }
    }

    /// Drain the handler on its event loop: in a task, or, when the outbox filled while the handler
    /// was reading (a reply to what the client sent), once the read has been handled.
    private func wake() {
        if self.eventLoop.inEventLoop, let handler = self.handler.withLock({ $0 }), handler.inRead {
            handler.drainAfterRead = true
            return
        }
        self.eventLoop.execute { self.handler.withLock { $0 }?.drain() }
    }
}
