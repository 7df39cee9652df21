import NIOCore
import NIOWebSocket
import Switchboard

/// Turns the data-frame events of a ``WebSocketFrameParser`` into whole messages, checking the
/// message size limit when each frame starts and a text message's UTF-8 as each piece arrives, so a
/// bad message fails the connection before it is complete. A pure value, fed on the event loop.
///
/// A message that arrives as one frame in one piece is handed on as that piece (a slice of the read
/// buffer): no copy. Only a message in several pieces is copied together.
struct MessageAssembler {
    /// What a piece of payload completed.
    enum Outcome {
        /// Nothing yet: the message goes on.
        case pending
        /// A whole message; `compressed`: its payload is DEFLATE data still to inflate (and, if
        /// text, to check as UTF-8).
        case message(WebSocketOpcode, ByteBuffer, compressed: Bool)
        /// Fail the connection with this reason.
        case violation(CloseReason)
    }

    let maxMessageSize: Int
    /// The opcode of the message being assembled (`.text` or `.binary`).
    private var opcode = WebSocketOpcode.binary
    /// The current frame ends its message.
    private var fin = false
    /// The message is compressed: its UTF-8 is checked once it is inflated, not here.
    private var compressed = false
    /// Payload bytes the message has announced so far (its frames' lengths).
    private var size = 0
    /// The pieces so far, when there is more than one.
    private var collected: ByteBuffer?
    private var utf8 = UTF8Validator()

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// A data frame begins (the parser has checked the order of fragments).
    mutating func frameStarted(_ header: WebSocketFrameParser.Header) -> CloseReason? {
        if header.opcode != .continuation {
            self.opcode = header.opcode
            self.size = 0
            self.collected = nil
            self.compressed = header.compressed
            if header.opcode == .text { self.utf8 = UTF8Validator() }
        }
        self.fin = header.fin
        // Known as soon as the frame's header is: a message too large fails before its bytes arrive.
        guard header.length <= self.maxMessageSize - self.size else { return .messageTooLarge(limit: self.maxMessageSize) }
        self.size += header.length
        return nil
    }

    /// The next piece of the current frame's payload.
    mutating func piece(_ data: ByteBuffer, frameEnd: Bool) -> Outcome {
        let checksText = self.opcode == .text && !self.compressed
        if checksText, !self.utf8.feed(data.readableBytesView) { return .violation(.invalidUTF8) }
        guard frameEnd, self.fin else {
            self.collect(data)
            return .pending
        }
        if checksText, !self.utf8.isComplete { return .violation(.invalidUTF8) }
        guard var message = self.collected else { return .message(self.opcode, data, compressed: self.compressed) }  // one piece: no copy
        self.collected = nil
        var more = data
        message.writeBuffer(&more)
        return .message(self.opcode, message, compressed: self.compressed)
    }

    private mutating func collect(_ data: ByteBuffer) {
        guard data.readableBytes > 0 else { return }
        guard var message = self.collected else {
            self.collected = data
            return
        }
        self.collected = nil  // keep `message` uniquely referenced while it grows
        var more = data
        message.writeBuffer(&more)
        self.collected = message
    }
}
