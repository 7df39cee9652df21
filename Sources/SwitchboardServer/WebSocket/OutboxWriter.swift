import CoreMetrics
import NIOCore
import Switchboard

/// Writes one connection's ``Outbox`` into its channel, on the channel's event loop.
///
/// It sits at the head of the WebSocket channel's pipeline. When the outbox reports it is ready, the
/// writer hops to the event loop once, takes everything queued, writes each message's ready-made
/// frame straight to the socket (no encoder, no other handler: the frame was encoded once for all
/// recipients) and flushes once: a burst of broadcasts costs one event-loop hop and one system call
/// per connection, with no task or actor in the way. While the channel is not writable (the client is not reading)
/// it leaves messages in the outbox, where they count against the outbox's limit, and drains again
/// when the channel becomes writable. A pending close is drained regardless.
///
/// Frames written here bypass NIO's frame encoder, so permessage-deflate is applied here: with it
/// negotiated, a large enough message goes out as its compressed frame, made once per message and
/// shared by every recipient (``OutboundCompression``). A close the outbox asks for is handed to the connection's
/// ``WebSocketConnectionHandler``, which runs the close handshake, after everything drained before it.
final class OutboxWriter: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let outbox: Outbox
    private let close: (CloseReason) -> Void
    private let drained: () -> Void
    private let transform: (@Sendable (OutboundMessage) -> OutboundMessage)?
    private let farewell: (CloseReason) -> OutboundMessage?
    private let compression: OutboundCompression?
    private var context: ChannelHandlerContext?
    private var done = false
    /// Counts the messages written, once per batch (`centrifugo_transport_messages_sent`), when metrics are on.
    var sent: CoreMetrics.Counter?

    /// - Parameters:
    ///   - close: Sends the close frame (called on the event loop, after the last messages were written).
    ///   - drained: Called on the event loop after each drain, so the connection can read again.
    ///   - transform: Rewrites each message before it is written (the endpoint's
    ///     ``WebSocketEndpoint/outboundTransform``), or `nil` to write the frames as they are.
    ///   - farewell: The message to write before a close the outbox asks for (the endpoint's
    ///     ``WebSocketEndpoint/farewell(_:)``).
    ///   - compression: permessage-deflate as negotiated, or `nil` to write every frame as it is.
    init(
        outbox: Outbox,
        close: @escaping (CloseReason) -> Void,
        drained: @escaping () -> Void,
        transform: (@Sendable (OutboundMessage) -> OutboundMessage)? = nil,
        farewell: @escaping (CloseReason) -> OutboundMessage? = { _ in nil },
        compression: OutboundCompression? = nil
    ) {
        self.compression = compression
        self.outbox = outbox
        self.close = close
        self.drained = drained
        self.transform = transform
        self.farewell = farewell
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The outbox may have become ready before the handler was in place.
        self.drain()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.drain() }
        context.fireChannelWritabilityChanged()
    }

    /// Write what the outbox holds, if the channel can take it. Runs on the event loop: after the
    /// outbox's `onReady`, when the handler is added, and on writability changes.
    func drain() {
        guard !self.done, let context = self.context else { return }
        guard context.channel.isWritable || self.outbox.hasPendingClose else { return }
        let batch = self.outbox.drain()
        if !batch.messages.isEmpty {
            self.sent?.increment(by: batch.messages.count)
            for message in batch.messages {
                let message = self.transform?(message) ?? message
                context.write(self.wrapOutboundOut(self.compression?.frame(for: message) ?? message.frame), promise: nil)
            }
            context.flush()
        }
        if let reason = batch.close {
            if let farewell = self.farewell(reason) { context.writeAndFlush(self.wrapOutboundOut(farewell.frame), promise: nil) }
            self.close(reason)
        }
        if batch.isLast { self.done = true }
        self.drained()
    }
}
