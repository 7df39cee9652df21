public import NIOCore
import Synchronization

/// One WebSocket data message waiting to be written to a connection, already framed.
///
/// The message holds its complete server-to-client frame (RFC 6455 section 5.2: FIN, opcode, length,
/// unmasked payload), encoded once when the message is made. A broadcast therefore frames its text
/// once and every recipient's outbox shares the same bytes (`ByteBuffer` is copy-on-write), and a
/// writer puts the frame on the wire as it is.
public struct OutboundMessage: Sendable, Equatable {
    /// Whether the message goes out as a text or a binary frame.
    public enum Kind: Sendable, Equatable {
        case text
        case binary

        /// The frame's opcode (RFC 6455 section 5.2).
        package var opcode: UInt8 { self == .text ? 0x1 : 0x2 }
    }

    /// Text or binary.
    public let kind: Kind
    /// The whole frame: header and payload.
    public let frame: ByteBuffer
    /// Size of the frame's header.
    private let headerLength: Int
    /// The compressed frames made of this message so far, shared by every copy of it (see
    /// ``compressedFrame(variant:make:)``); `nil` while no server of the process compresses.
    private let compressed: CompressedFrames?

    /// Whether new messages carry a cache for their compressed frames. Off until a server with
    /// permessage-deflate on starts (``shareCompressedFrames()``): without compression the cache is
    /// an allocation per message and a reference that every copy of it (one per recipient) retains
    /// and releases for nothing.
    private static let sharesCompressedFrames = Atomic(false)

    /// Give every message made from now on a cache for its compressed frames, so that a broadcast is
    /// compressed once for all its recipients. A server whose permessage-deflate is on calls this
    /// before it accepts connections.
    package static func shareCompressedFrames() {
        Self.sharesCompressedFrames.store(true, ordering: .relaxed)
    }

    /// Frame a message.
    public init(kind: Kind, bytes: ByteBuffer) {
        self.kind = kind
        (self.frame, self.headerLength) = Self.frame(firstByte: 0x80 | kind.opcode, payload: bytes)  // FIN + opcode
        self.compressed = Self.sharesCompressedFrames.load(ordering: .relaxed) ? CompressedFrames() : nil
    }

    /// A complete unmasked server frame: `firstByte` (FIN, RSV bits, opcode), the payload's length
    /// in the shortest form, the payload.
    package static func frame(firstByte: UInt8, payload: ByteBuffer) -> (frame: ByteBuffer, headerLength: Int) {
        let length = payload.readableBytes
        let headerLength = length < 126 ? 2 : (length < 65536 ? 4 : 10)
        var frame = ByteBufferAllocator().buffer(capacity: headerLength + length)
        frame.writeInteger(firstByte)
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length < 65536 {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeImmutableBuffer(payload)
        return (frame, headerLength)
    }

    /// A text message.
    public static func text(_ string: String) -> Self {
        .init(kind: .text, bytes: ByteBuffer(string: string))
    }

    /// A binary message.
    public static func binary(_ bytes: ByteBuffer) -> Self {
        .init(kind: .binary, bytes: bytes)
    }

    /// The payload (a view into ``frame``, not a copy).
    public var bytes: ByteBuffer {
        self.frame.getSlice(at: self.frame.readerIndex + self.headerLength, length: self.byteCount)!
    }

    /// Payload size in bytes, which is what an outbox counts against its limit.
    public var byteCount: Int { self.frame.readableBytes - self.headerLength }

    /// The message's compressed frame for `variant` (e.g. a compression window size), made by `make`
    /// from the payload the first time any copy of this message asks for it and shared from then on:
    /// a broadcast is compressed once, not once per recipient. `make` runs at most once per variant,
    /// under a lock (a second writer asking meanwhile waits for the first one's result rather than
    /// compressing again); it returns `nil` when the message should go out uncompressed (it does not
    /// shrink), which is remembered too. A message made before any server shared compressed frames
    /// (``shareCompressedFrames()``) has no cache: `make` then runs for each caller.
    public func compressedFrame(variant: Int, make: (ByteBuffer) -> ByteBuffer?) -> ByteBuffer? {
        guard let compressed = self.compressed else { return make(self.bytes) }
        return compressed.frame(variant: variant) { make(self.bytes) }
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.frame == rhs.frame
    }
}

/// The compressed frames of one message, by variant; a class so that every copy of the message
/// shares it. Almost always one variant, so a short array rather than a dictionary.
private final class CompressedFrames: Sendable {
    private let frames = Mutex<[(variant: Int, frame: ByteBuffer?)]>([])

    func frame(variant: Int, make: () -> ByteBuffer?) -> ByteBuffer? {
        self.frames.withLock { frames in
            if let made = frames.first(where: { $0.variant == variant }) { return made.frame }
            let frame = make()
            frames.append((variant, frame))
            return frame
        }
    }
}
