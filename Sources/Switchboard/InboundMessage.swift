public import NIOCore

/// A whole message received from a client (after reassembly of its fragments).
public enum InboundMessage: Sendable, Equatable {
    /// A text message, already checked to be valid UTF-8.
    case text(String)
    /// A binary message.
    case binary(ByteBuffer)
}
