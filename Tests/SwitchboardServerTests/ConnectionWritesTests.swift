import NIOCore
import NIOEmbedded
import Switchboard
import Testing

@testable import SwitchboardServer

/// What a connection's handler writes when it drains its outbox: the server's own handler and outbox
/// in NIO's `EmbeddedChannel`, whose event loop runs the drain when the test says so, so the batch
/// is exactly the messages queued before it.
@Suite struct ConnectionWritesTests {
    struct SilentEndpoint: WebSocketEndpoint {
        func receive(_ message: InboundMessage, on connection: Connection) {}
    }

    /// A served connection's handler in an active embedded channel; the outbox it drains.
    private func connection() throws -> (EmbeddedChannel, Outbox) {
        let channel = EmbeddedChannel()
        let wake = OutboxWake(eventLoop: channel.eventLoop)
        let outbox = wake.outbox(limit: 1 << 20)
        let handler = WebSocketConnectionHandler(
            role: .serve(SilentEndpoint(), Connection(id: ConnectionID(rawValue: 1), outbox: outbox), wake),
            settings: .init(maxMessageSize: 1 << 16, closeTimeout: .seconds(5))
        )
        wake.attach(handler)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return (channel, outbox)
    }

    /// Every buffer the channel was given since the last call.
    private func writes(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var buffers: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { buffers.append(buffer) }
        return buffers
    }

    @Test func smallFramesOfABatchGoOutInOneBufferAndLargeOnesAsTheyAreInOrder() throws {
        let (channel, outbox) = try self.connection()
        defer { _ = try? channel.finish() }
        let large = String(repeating: "L", count: WebSocketConnectionHandler.coalescedFrameLimit + 1)
        let messages: [OutboundMessage] = [.text("a"), .text("bb"), .text(large), .text("c"), .binary(ByteBuffer(bytes: [1, 2, 3]))]
        for message in messages { #expect(outbox.enqueue(message) == .enqueued) }
        channel.embeddedEventLoop.run()

        let written = try self.writes(channel)
        // The two small frames before the large one, the large one itself (the message's own
        // bytes, not a copy), then the two after it.
        #expect(written.count == 3)
        #expect(written.map(\.readableBytes) == [
            messages[0].frame.readableBytes + messages[1].frame.readableBytes,
            messages[2].frame.readableBytes,
            messages[3].frame.readableBytes + messages[4].frame.readableBytes,
        ])
        #expect(written[1] == messages[2].frame)
        // The buffer after the large frame is sized for the two small frames after it, not for
        // every small frame of the batch again.
        let allSmall = [0, 1, 3, 4].map { messages[$0].frame.readableBytes }.reduce(0, +)
        #expect(written[2].capacity < allSmall)
        var all = ByteBuffer()
        for buffer in written { all.writeImmutableBuffer(buffer) }
        var expected = ByteBuffer()
        for message in messages { expected.writeImmutableBuffer(message.frame) }
        #expect(all == expected)
    }

    @Test func aBatchOfOneIsWrittenAsItsOwnFrame() throws {
        let (channel, outbox) = try self.connection()
        defer { _ = try? channel.finish() }
        let message = OutboundMessage.text("alone")
        #expect(outbox.enqueue(message) == .enqueued)
        channel.embeddedEventLoop.run()
        #expect(try self.writes(channel) == [message.frame])
    }
}
