import CompressNIO
import NIOCore

/// One WebSocket client connection of the load generator, as a NIO channel handler.
///
/// It speaks just enough RFC 6455 for benchmarking: the handshake (with a subprotocol if asked),
/// unfragmented text or binary frames both ways (client frames masked with a zero key, which leaves
/// the payload as it is), pong replies to pings, and close. Everything runs on the channel's event loop, so no locks and no task per message.
final class BenchConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State {
        case connecting
        case handshaking
        case open
        case closed
    }

    let path: String
    let host: String
    /// Called on the event loop once the handshake has completed.
    var onOpen: (BenchConnection) -> Void = { _ in }
    /// Called on the event loop with each text or binary payload.
    var onMessage: (BenchConnection, ByteBuffer) -> Void = { _, _ in }
    /// Called on the event loop when the connection has gone (or failed before opening).
    var onClose: (BenchConnection) -> Void = { _ in }

    private(set) var state = State.connecting
    /// The subprotocol to ask for (`Sec-WebSocket-Protocol`); the handshake fails unless the server
    /// agrees to it. Set before the connection opens.
    var subprotocol: String?
    /// Send binary frames instead of text frames.
    var sendsBinary = false
    /// Offer permessage-deflate and inflate compressed (RSV1) messages. Set before the connection opens.
    var offersDeflate = false
    /// Bytes received after the handshake: frame headers and payloads as they came over the wire.
    var wireBytes = 0
    /// Inflates RSV1 messages; the server compresses each message on its own (server_no_context_takeover).
    private var inflater: ZlibDecompressor?
    /// Scratch space for the scenario that owns the connection (a send time, a next sequence number).
    var mark: UInt64 = 0
    var counter = 0
    /// Messages received, for scenarios that cannot expect one order.
    var received = 0
    private var context: ChannelHandlerContext?
    private var buffer: ByteBuffer?

    init(host: String, path: String) {
        self.host = host
        self.path = path
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        self.state = .handshaking
        let request =
            "GET \(self.path) HTTP/1.1\r\nHost: \(self.host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + (self.subprotocol.map { "Sec-WebSocket-Protocol: \($0)\r\n" } ?? "")
            + (self.offersDeflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "") + "\r\n"
        context.writeAndFlush(self.wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.state = .closed
        self.onClose(self)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        if self.buffer == nil {
            self.buffer = incoming
        } else {
            self.buffer!.writeBuffer(&incoming)
        }
        if self.state == .handshaking {
            guard let view = self.buffer?.readableBytesView, let end = Self.headerEnd(view) else { return }
            let head = self.buffer!.readString(length: end - view.startIndex)!
            guard head.hasPrefix("HTTP/1.1 101"),
                self.subprotocol.map({ head.lowercased().contains("sec-websocket-protocol: \($0)") }) ?? true
            else {
                context.close(promise: nil)
                return
            }
            self.state = .open
            self.onOpen(self)
        }
        if self.state == .open { self.wireBytes += self.buffer?.readableBytes ?? 0 }
        self.parseFrames(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Send a message (one frame; binary if ``sendsBinary``, else text).
    func send(_ payload: ByteBuffer, flush: Bool = true) {
        guard self.state == .open, let context = self.context else { return }
        var frame = context.channel.allocator.buffer(capacity: payload.readableBytes + 8)
        frame.writeInteger(UInt8(self.sendsBinary ? 0x82 : 0x81))
        let length = payload.readableBytes
        if length < 126 {
            frame.writeInteger(UInt8(0x80 | length))
        } else if length < 65536 {
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(0x80 | 127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeInteger(UInt32(0))  // zero masking key: the payload goes out as it is
        var payload = payload
        frame.writeBuffer(&payload)
        if flush {
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
        } else {
            context.write(self.wrapOutboundOut(frame), promise: nil)
        }
    }

    func flush() {
        self.context?.flush()
    }

    /// Close the TCP connection (no close handshake: the benchmark is done with it).
    func close() {
        self.context?.close(promise: nil)
    }

    private func parseFrames(context: ChannelHandlerContext) {
        guard var buffer = self.buffer else { return }
        defer {
            // What is left is counted again with the next read's bytes.
            self.wireBytes -= buffer.readableBytes
            if buffer.readableBytes == 0 {
                self.buffer = nil
            } else {
                buffer.discardReadBytes()
                self.buffer = buffer
            }
        }
        while self.state == .open, buffer.readableBytes >= 2 {
            let start = buffer.readerIndex
            let first = buffer.getInteger(at: start, as: UInt8.self)!
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)!
            var length = Int(second & 0x7F)
            var headerLength = 2
            if length == 126 {
                guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return }
                length = Int(extended)
                headerLength = 4
            } else if length == 127 {
                guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return }
                length = Int(extended)
                headerLength = 10
            }
            guard buffer.readableBytes >= headerLength + length else { return }
            buffer.moveReaderIndex(forwardBy: headerLength)
            let payload = buffer.readSlice(length: length)!
            switch first & 0x0F {
            case 0x1, 0x2, 0x0:
                if first & 0x40 != 0 {
                    guard let inflated = self.inflate(payload, allocator: context.channel.allocator) else {
                        context.close(promise: nil)
                        return
                    }
                    self.onMessage(self, inflated)
                } else {
                    self.onMessage(self, payload)
                }
            case 0x8:
                context.close(promise: nil)
                return
            case 0x9:
                var pong = context.channel.allocator.buffer(capacity: length + 6)
                pong.writeInteger(UInt8(0x8A))
                pong.writeInteger(UInt8(0x80 | length))
                pong.writeInteger(UInt32(0))
                var ping = payload
                pong.writeBuffer(&ping)
                context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
            default:
                break
            }
        }
    }

    /// A compressed message's payload inflated (RFC 7692 §7.2.2), or `nil` if it does not inflate.
    private func inflate(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard let inflater = self.inflater ?? (try? ZlibDecompressor(algorithm: .deflate, windowSize: 15)) else { return nil }
        self.inflater = inflater
        var input = allocator.buffer(capacity: payload.readableBytes + 4)
        input.writeImmutableBuffer(payload)
        input.writeBytes([0, 0, 0xFF, 0xFF])
        var output = allocator.buffer(capacity: max(1024, payload.readableBytes * 8))
        while true {
            do {
                try inflater.inflate(from: &input, to: &output)
                break
            } catch let error as CompressNIOError where error == .bufferOverflow {
                output.reserveCapacity(minimumWritableBytes: output.capacity)
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                break
            } catch {
                return nil
            }
        }
        try? inflater.reset()
        return output
    }

    private static func headerEnd(_ view: ByteBufferView) -> Int? {
        var index = view.startIndex
        while index + 3 < view.endIndex {
            if view[index] == 13, view[index + 1] == 10, view[index + 2] == 13, view[index + 3] == 10 { return index + 4 }
            index += 1
        }
        return nil
    }
}
