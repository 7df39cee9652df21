public import NIOCore

/// One WebSocket data message waiting to be written to a connection.
///
/// The payload is a `ByteBuffer`, so a broadcast encodes its text once and every
/// recipient's outbox shares the same bytes (copy-on-write, nothing is copied).
public struct OutboundMessage: Sendable, Equatable {
    /// Whether the message goes out as a text or a binary frame.
    public enum Kind: Sendable, Equatable {
        case text
        case binary
    }

    /// Text or binary.
    public let kind: Kind
    /// The payload: UTF-8 for text messages.
    public let bytes: ByteBuffer

    /// Create a message from its kind and bytes.
    public init(kind: Kind, bytes: ByteBuffer) {
        self.kind = kind
        self.bytes = bytes
    }

    /// A text message.
    public static func text(_ string: String) -> Self {
        .init(kind: .text, bytes: ByteBuffer(string: string))
    }

    /// A binary message.
    public static func binary(_ bytes: ByteBuffer) -> Self {
        .init(kind: .binary, bytes: bytes)
    }

    /// Payload size in bytes, which is what an outbox counts against its limit.
    public var byteCount: Int { self.bytes.readableBytes }
}
