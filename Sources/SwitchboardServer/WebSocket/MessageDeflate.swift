import CompressNIO
import NIOConcurrencyHelpers
import NIOCore
import Switchboard

/// The server's side of permessage-deflate (RFC 7692) on what it sends: a message is compressed on
/// its own (no context takeover, see ``DeflateParameters``), once for all its recipients: the
/// compressed frame is cached in the ``OutboundMessage`` every recipient's outbox shares.
struct OutboundCompression: Sendable {
    /// Messages with a smaller payload go out uncompressed.
    let minimumSize: Int
    /// The negotiated `server_max_window_bits`.
    let windowBits: Int
    /// zlib's level, 1...9.
    var level = 1

    /// The frame to write for `message`: its compressed frame (RSV1 set) when it is large enough
    /// and compressing it shrinks it, else its plain frame.
    func frame(for message: OutboundMessage) -> ByteBuffer {
        let size = message.byteCount
        guard size >= self.minimumSize, size > 0 else { return message.frame }
        // No back-reference of a message compressed on its own reaches further back than its
        // length, so a payload of at most 2^bits bytes compressed with zlib's 32 KiB window suits a
        // client that allowed only 2^bits: every such connection shares the one frame (variant 15).
        var bits = size <= 1 << self.windowBits ? 15 : self.windowBits
        // zlib cannot deflate with a 256-byte window (it uses 512 for 8): send such large messages
        // to a client that asked for one uncompressed, which permessage-deflate allows.
        if bits == 8 { return message.frame }
        bits = max(bits, 9)
        let level = self.level
        return message.compressedFrame(variant: bits << 4 | level) { payload in
            MessageDeflate.compressedFrame(kind: message.kind, payload: payload, windowBits: bits, level: level)
        } ?? message.frame
    }
}

/// Compression with pooled zlib streams (a deflate stream holds about 256 KiB: made once per
/// window size and thread at most, not per message).
enum MessageDeflate {
    /// How many messages were compressed, in every server of the process: tests compare it before
    /// and after a broadcast.
    static let compressions = NIOLockedValueBox(0)

    private final class Streams: @unchecked Sendable {
        // @unchecked: a stream is used by one caller at a time, between take and give back.
        var free: [Int: [ZlibCompressor]] = [:]
    }
    private static let pool = NIOLockedValueBox(Streams())
    /// Streams kept per window size and level; more callers at once make (and then drop) their own.
    private static let poolLimit = 8

    /// A complete server frame (FIN, RSV1, opcode) holding `payload` compressed, or `nil` when
    /// compression does not make it smaller (or zlib fails): then the plain frame goes out.
    static func compressedFrame(kind: OutboundMessage.Kind, payload: ByteBuffer, windowBits: Int, level: Int) -> ByteBuffer? {
        guard let compressed = self.compress(payload, windowBits: windowBits, level: level), compressed.readableBytes < payload.readableBytes else { return nil }
        compressions.withLockedValue { $0 += 1 }
        return OutboundMessage.frame(firstByte: 0x80 | 0x40 | kind.opcode, payload: compressed).frame  // FIN + RSV1 + opcode
    }

    /// `payload` as one message's DEFLATE data (RFC 7692 §7.2.1): a sync flush, without its
    /// trailing `00 00 ff ff`.
    static func compress(_ payload: ByteBuffer, windowBits: Int, level: Int = 1) -> ByteBuffer? {
        guard payload.readableBytes > 0 else { return nil }
        let key = windowBits << 4 | level
        guard let stream = self.take(key) else { return nil }
        var input = payload
        var output = ByteBufferAllocator().buffer(capacity: stream.maxSize(from: payload))
        do {
            try stream.deflate(from: &input, to: &output, flush: .sync)
            try stream.reset()
        } catch {
            return nil  // the stream is dropped, not pooled
        }
        self.giveBack(stream, key)
        guard input.readableBytes == 0, output.readableBytes >= 4,
            output.getBytes(at: output.writerIndex - 4, length: 4) == [0, 0, 0xFF, 0xFF]
        else { return nil }
        output.moveWriterIndex(to: output.writerIndex - 4)
        return output
    }

    /// A stream for `key` (window bits << 4 | level).
    private static func take(_ key: Int) -> ZlibCompressor? {
        if let stream = self.pool.withLockedValue({ $0.free[key]?.popLast() }) { return stream }
        let configuration = ZlibConfiguration(windowSize: Int32(key >> 4), compressionLevel: Int32(key & 15), memoryLevel: Int32(8), strategy: .default)
        return try? ZlibCompressor(algorithm: .deflate, configuration: configuration)
    }

    private static func giveBack(_ stream: ZlibCompressor, _ key: Int) {
        self.pool.withLockedValue { streams in
            if streams.free[key, default: []].count < Self.poolLimit { streams.free[key, default: []].append(stream) }
        }
    }
}

/// The server's side of permessage-deflate on what a client sends: one connection's inflater,
/// made when its first compressed message arrives, reset after every message when the client
/// agreed to `client_no_context_takeover`, else kept with its window for the next one.
final class MessageInflater {
    enum Failure: Error, Equatable {
        /// The message inflates to more than the limit (close 1009).
        case tooLarge
        /// Not DEFLATE data (close 1007).
        case corrupt
    }

    private let noContextTakeover: Bool
    private var stream: ZlibDecompressor?

    init(noContextTakeover: Bool) {
        self.noContextTakeover = noContextTakeover
    }

    /// Inflate one message's payload (RFC 7692 §7.2.2: append `00 00 ff ff`, inflate), producing at
    /// most `limit` bytes: the output buffer never grows past `limit + 1`, so a zip bomb costs its
    /// limit in memory and a close, not the server's memory.
    func inflate(_ payload: ByteBuffer, limit: Int, allocator: ByteBufferAllocator) throws(Failure) -> ByteBuffer {
        var input = allocator.buffer(capacity: payload.readableBytes + 4)
        input.writeImmutableBuffer(payload)
        input.writeBytes([0, 0, 0xFF, 0xFF])
        guard let stream = self.stream ?? (try? ZlibDecompressor(algorithm: .deflate, windowSize: 15)) else { throw .corrupt }
        self.stream = stream
        var output = allocator.buffer(capacity: min(limit + 1, max(256, payload.readableBytes * 4)))
        defer { if self.noContextTakeover { self.reset() } }
        while true {
            do {
                try stream.inflate(from: &input, to: &output)
                // Z_OK with room left, or the end of a final block: nothing more to come out.
                if input.readableBytes > 0 {
                    // A block with BFINAL set ended the stream: the next message starts a new one.
                    self.reset()
                }
                break
            } catch let error as CompressNIOError where error == .bufferOverflow {
                guard output.readableBytes <= limit else { self.reset(); throw .tooLarge }
                output.reserveCapacity(minimumWritableBytes: min(limit + 1 - output.readableBytes, max(output.readableBytes, 4096)))
                if output.writableBytes == 0 { output.reserveCapacity(minimumWritableBytes: 1) }
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                break  // every byte read, nothing more to come out
            } catch {
                self.reset()
                throw .corrupt
            }
        }
        guard output.readableBytes <= limit else {
            self.reset()
            throw .tooLarge
        }
        return output
    }

    private func reset() {
        if (try? self.stream?.reset()) == nil { self.stream = nil }
    }
}
