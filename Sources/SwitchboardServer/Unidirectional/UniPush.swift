import NIOCore
import Switchboard

/// The unidirectional protocol's messages, as Centrifugo writes them on `uni_websocket`, `uni_sse` and
/// `uni_http_stream`: each push is the `Push` object itself, without the bidirectional protocol's
/// `{"push": …}` envelope (`{"connect":{…}}`, `{"channel":"news","pub":{…}}`,
/// `{"disconnect":{"code":3500,"reason":"…"}}`), and the ping is `{}`.
///
/// Sessions and the hub encode pushes once, in the bidirectional JSON format, and share the bytes
/// between every subscriber; a unidirectional transport takes the inner object out of them as it
/// writes (a slice of the same bytes, no re-encoding).
enum UniPush {
    private static let envelopeStart = Array(#"{"push":"#.utf8)

    /// The push object inside a `{"push":…}` envelope, or the message as it is (a ping `{}`).
    static func unwrap(_ payload: ByteBuffer) -> ByteBuffer {
        let count = payload.readableBytes
        let start = Self.envelopeStart.count
        guard count > start + 1,
            payload.readableBytesView.starts(with: Self.envelopeStart),
            payload.getInteger(at: payload.readerIndex + count - 1, as: UInt8.self) == UInt8(ascii: "}")
        else { return payload }
        return payload.getSlice(at: payload.readerIndex + start, length: count - start - 1)!
    }

    /// The push that tells a unidirectional HTTP client why its stream ends.
    static func disconnect(_ reason: CloseReason) -> ByteBuffer {
        Self.unwrap(ProtocolFormat.json.push(.disconnect(reason), channel: "").bytes)
    }

    /// The unidirectional ping.
    static let ping = OutboundMessage.text("{}")
}

/// How a unidirectional HTTP transport puts pushes on the wire; the two differ only in this.
enum UniFraming: Sendable {
    /// `uni_sse`: Server-Sent Events, one `data: <json>` event per push.
    case serverSentEvents
    /// `uni_http_stream`: newline-delimited JSON, one push per line.
    case jsonLines

    var name: String {
        switch self {
        case .serverSentEvents: "uni_sse"
        case .jsonLines: "uni_http_stream"
        }
    }

    var contentType: String {
        switch self {
        case .serverSentEvents: "text/event-stream; charset=utf-8"
        case .jsonLines: "application/json"
        }
    }

    /// What goes out before the first push: SSE starts with an empty line (as Centrifugo does), so
    /// that proxies and clients see the stream begin at once.
    var preamble: ByteBuffer? {
        switch self {
        case .serverSentEvents: ByteBuffer(string: "\r\n")
        case .jsonLines: nil
        }
    }

    /// Append one push (its JSON, already unwrapped) to `buffer`. The JSON is compact, so it holds no
    /// line break and one `data:` line carries it.
    func append(_ json: ByteBuffer, to buffer: inout ByteBuffer) {
        switch self {
        case .serverSentEvents:
            buffer.writeString("data: ")
            buffer.writeImmutableBuffer(json)
            buffer.writeString("\n\n")
        case .jsonLines:
            buffer.writeImmutableBuffer(json)
            buffer.writeString("\n")
        }
    }
}
