import NIOCore
import NIOWebSocket
import Switchboard

/// The framing of what a WebSocket client sends (RFC 6455 §5), as a pure state machine fed bytes as
/// they arrive: no channel, no allocation per call, no copy of a payload beyond unmasking it.
///
/// A data frame's payload comes out in pieces, as soon as its bytes are there, so whoever reads it can
/// check a text message's UTF-8 (or its size) before the frame is complete and fail the connection
/// fast. A control frame (ping, pong, close) comes out whole: it is at most 125 bytes. A frame that
/// arrives whole in one read comes out as one piece, a slice of the read's buffer.
///
/// Checked here: reserved bits (RSV1 only on a message's first frame with permessage-deflate), reserved opcodes, client masking, the
/// control-frame rules (at most 125 bytes, never fragmented), the order of fragments (a continuation
/// needs a message to continue; a new message must wait for the previous one's last fragment), the
/// 64-bit length's top bit and the largest frame accepted. The first violation is reported once; after it
/// the parser takes no more bytes.
///
/// ```swift
/// var parser = WebSocketFrameParser(maxFrameSize: 1 << 16)
/// while let event = parser.next(&buffer) { … }   // then keep buffer's unread bytes for the next read
/// ```
package struct WebSocketFrameParser: Sendable {
    /// A data frame's header.
    package struct Header: Sendable, Hashable {
        /// Whether this frame ends its message.
        package var fin: Bool
        /// `.text`, `.binary` or `.continuation`.
        package var opcode: WebSocketOpcode
        /// The payload's length in bytes.
        package var length: Int
        /// RSV1: the first frame of a compressed message (permessage-deflate, RFC 7692 §6).
        package var compressed: Bool

        package init(fin: Bool, opcode: WebSocketOpcode, length: Int, compressed: Bool = false) {
            self.fin = fin
            self.opcode = opcode
            self.length = length
            self.compressed = compressed
        }
    }

    /// What the bytes fed so far amount to.
    package enum Event: Sendable, Hashable {
        /// A data frame (text, binary or continuation) begins; its payload follows in ``data(_:frameEnd:)`` events.
        case dataFrame(Header)
        /// The next piece of the current data frame's payload, unmasked. `frameEnd` marks the last
        /// piece; a frame with an empty payload has exactly one piece, which is empty.
        case data(ByteBuffer, frameEnd: Bool)
        /// A whole control frame: `.ping`, `.pong` or `.connectionClose`, with its payload unmasked.
        case control(WebSocketOpcode, ByteBuffer)
        /// The client broke the protocol: fail the connection with this reason. Reported once; the
        /// parser takes nothing after it.
        case violation(CloseReason)
    }

    private enum State: Sendable {
        /// Waiting for a frame's header.
        case header
        /// In a data frame's payload: `remaining` bytes to go, `offset` bytes of it already out.
        case payload(remaining: Int, mask: UInt32, offset: Int)
        /// A violation was reported.
        case failed
    }

    /// The longest payload a frame may have; longer ones are a violation (1009).
    package let maxFrameSize: Int
    private var state = State.header
    /// A fragmented message is open: its next data frame must be a continuation.
    private var inMessage = false

    /// permessage-deflate was negotiated: RSV1 may mark the first frame of a message as compressed.
    package let allowsCompression: Bool

    package init(maxFrameSize: Int, allowsCompression: Bool = false) {
        self.maxFrameSize = maxFrameSize
        self.allowsCompression = allowsCompression
    }

    /// Whether a violation was reported.
    package var hasFailed: Bool {
        if case .failed = self.state { return true }
        return false
    }

    /// The next event from the bytes at the front of `buffer`, consuming them; `nil` when more bytes
    /// are needed (the unread bytes of `buffer` must then be fed again, at the front of the next ones)
    /// or after a violation.
    package mutating func next(_ buffer: inout ByteBuffer) -> Event? {
        switch self.state {
        case .failed:
            return nil
        case .payload(let remaining, let mask, let offset):
            if remaining == 0 {
                self.state = .header
                return .data(buffer.readSlice(length: 0)!, frameEnd: true)
            }
            let count = min(remaining, buffer.readableBytes)
            guard count > 0 else { return nil }
            var piece = buffer.readSlice(length: count)!
            Self.unmask(&piece, key: mask, offset: offset)
            if count == remaining {
                self.state = .header
                return .data(piece, frameEnd: true)
            }
            self.state = .payload(remaining: remaining - count, mask: mask, offset: offset + count)
            return .data(piece, frameEnd: false)
        case .header:
            return self.header(&buffer)
        }
    }

    /// Every event the bytes of `buffer` make now; what is left unread must be fed again.
    package mutating func feed(_ buffer: inout ByteBuffer) -> [Event] {
        var events: [Event] = []
        while let event = self.next(&buffer) { events.append(event) }
        return events
    }

    private mutating func fail(_ reason: CloseReason) -> Event {
        self.state = .failed
        return .violation(reason)
    }

    /// Parse a frame's header (and a control frame's payload) once enough bytes are there.
    private mutating func header(_ buffer: inout ByteBuffer) -> Event? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return nil }
        guard first & 0x30 == 0 else { return self.fail(.protocolError("reserved bits set without an extension")) }
        let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!
        // RSV1 (RFC 7692 §6): only with permessage-deflate, and only on a message's first frame.
        let rsv1 = first & 0x40 != 0
        if rsv1 {
            guard self.allowsCompression else { return self.fail(.protocolError("reserved bits set without an extension")) }
            guard opcode == .text || opcode == .binary else { return self.fail(.protocolError("RSV1 set on a control or continuation frame")) }
        }
        let fin = first & 0x80 != 0
        switch opcode {
        case .continuation, .text, .binary, .ping, .pong, .connectionClose: break
        default: return self.fail(.protocolError("reserved opcode"))
        }
        guard second & 0x80 != 0 else { return self.fail(.protocolError("client frames must be masked")) }

        var headerLength = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = Int(extended)
            headerLength = 4
        } else if length == 127 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard extended >> 63 == 0 else { return self.fail(.protocolError("frame length out of range")) }
            // Anything this large is over any limit; keep it representable.
            length = extended > UInt64(Int.max / 2) ? Int.max / 2 : Int(extended)
            headerLength = 10
        }

        if opcode.isControlOpcode {
            guard fin else { return self.fail(.protocolError("fragmented control frame")) }
            guard length <= 125 else { return self.fail(.protocolError("control frame longer than 125 bytes")) }
            // A control frame comes out whole: wait for all of it.
            guard buffer.readableBytes >= headerLength + 4 + length else { return nil }
            let mask = buffer.getInteger(at: start + headerLength, as: UInt32.self)!
            buffer.moveReaderIndex(forwardBy: headerLength + 4)
            var payload = buffer.readSlice(length: length)!
            Self.unmask(&payload, key: mask, offset: 0)
            return .control(opcode, payload)
        }

        if opcode == .continuation {
            guard self.inMessage else { return self.fail(.protocolError("continuation frame without a message to continue")) }
        } else {
            guard !self.inMessage else { return self.fail(.protocolError("new message before the previous one ended")) }
        }
        guard length <= self.maxFrameSize else { return self.fail(.messageTooLarge(limit: self.maxFrameSize)) }
        guard let mask = buffer.getInteger(at: start + headerLength, as: UInt32.self) else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength + 4)
        self.inMessage = !fin
        self.state = .payload(remaining: length, mask: mask, offset: 0)
        return .dataFrame(Header(fin: fin, opcode: opcode, length: length, compressed: rsv1))
    }

    /// XOR `buffer`'s readable bytes with the masking key `key` (its 4 bytes in network order),
    /// starting `offset` bytes into the frame's payload. Eight bytes at a time.
    package static func unmask(_ buffer: inout ByteBuffer, key: UInt32, offset: Int) {
        guard buffer.readableBytes > 0 else { return }
        // The key as it lines up with the first byte here, repeated to fill 8 bytes in memory order.
        let shift = UInt32((offset & 3) * 8)
        let rotated = shift == 0 ? key : (key << shift) | (key >> (32 - shift))
        let big = UInt64(rotated) << 32 | UInt64(rotated)
        let pattern = UInt64(bigEndian: big)
        buffer.withUnsafeMutableReadableBytes { bytes in
            let base = bytes.baseAddress!
            let count = bytes.count
            var index = 0
            while index + 8 <= count {
                let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ pattern
                base.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
                index += 8
            }
            var tail = pattern
            withUnsafeBytes(of: &tail) { keyBytes in
                while index < count {
                    bytes[index] ^= keyBytes[index & 7]
                    index += 1
                }
            }
        }
    }
}
