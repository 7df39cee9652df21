import ArgumentParser
import NIOCore

/// Where the fan-out scenario broadcasts: the tutorial chat, or a channel of the client protocol.
///
/// Each publication carries `<sequence> <send time in ns>`, which every subscriber parses to check
/// order and loss and to measure latency.
enum FanoutTransport: String, ExpressibleByArgument, Sendable {
    /// `/ws/{id}`: the publisher's text goes to every member as `Client #0 says: <seq> <time>`.
    case tutorialChat = "chat"
    /// `/connection/websocket`: anonymous clients subscribed to ``channel``; the publisher sends
    /// `publish` commands whose data is the string `"<seq> <time>"`.
    case protocolChannel = "protocol"

    /// The channel of the protocol run; Benchmarks/switchboard.json configures its namespace.
    static let channel = "bench:fanout"

    /// How every publication push of ``channel`` starts, up to its data string.
    private static let publicationPrefix = Array(#"{"push":{"channel":"\#(channel)","pub":{"data":""#.utf8)

    /// What a frame received by a benchmark client is.
    enum Frame {
        /// A publication, with the sequence number and send time it carries (`nil` if unreadable).
        case publication((sequence: Int, time: UInt64)?)
        /// The reply to a subscriber's `subscribe` command.
        case subscribed
        /// The protocol's ping (`{}`, or an empty Protobuf reply), to be answered with a pong.
        case ping
        case other
    }

    func path(client: Int) -> String {
        switch self {
        case .tutorialChat: "/ws/\(client)"
        case .protocolChannel: "/connection/websocket"
        }
    }

    /// A chat message as a JSON client would send it (about 300 bytes), for `--json-payload`: the
    /// sequence number and time follow it, as the chat's parser expects them at the end.
    static let jsonChatPayload =
        #"{"type":"message","room":"general","user":{"id":"u-1842","name":"Alice Example","avatar":"https://cdn.example.com/avatars/1842.png"},"#
        + #""text":"Hey everyone, did you see the release notes for version 2.4? The new dashboard looks great.","#
        + #""sent_at":"2026-12-01T14:55:00Z","reply_to":null,"mentions":[]} "#

    /// Set a connection up for `format` before it opens (the subprotocol, binary frames).
    func configure(_ connection: BenchConnection, format: ProtocolFormat) {
        guard self == .protocolChannel, format == .protobuf else { return }
        connection.subprotocol = "centrifuge-protobuf"
        connection.sendsBinary = true
    }

    /// What a client sends once its WebSocket is open.
    func opened(_ connection: BenchConnection, subscribe: Bool, format: ProtocolFormat) {
        guard self == .protocolChannel else { return }
        switch format {
        case .json:
            var commands = #"{"id":1,"connect":{}}"#
            if subscribe { commands += "\n" + #"{"id":2,"subscribe":{"channel":"\#(Self.channel)"}}"# }
            connection.send(ByteBuffer(string: commands))
        case .protobuf:
            connection.send(subscribe ? ProtobufWire.connectAndSubscribe : ProtobufWire.connect)
        }
    }

    /// The answer to a ping.
    func pong(format: ProtocolFormat) -> ByteBuffer {
        format == .protobuf ? ProtobufWire.pong : ByteBuffer(string: "{}")
    }

    /// The publisher's message (always JSON: the publisher's format is not what is measured).
    func publication(sequence: Int, time: UInt64, prefix: String = "") -> ByteBuffer {
        switch self {
        case .tutorialChat:
            ByteBuffer(string: "\(prefix)\(sequence) \(time)")
        case .protocolChannel:
            ByteBuffer(string: #"{"id":\#(sequence % 2_000_000_000 + 1),"publish":{"channel":"\#(Self.channel)","data":"\#(sequence) \#(time)"}}"#)
        }
    }

    /// Call `body` with every frame of a received WebSocket message (a Protobuf message may hold
    /// several length-prefixed replies; a JSON one is taken as one).
    @inline(__always)
    func frames(_ payload: ByteBuffer, format: ProtocolFormat, _ body: (Frame) -> Void) {
        switch self {
        case .tutorialChat:
            body(.publication(parseSequenceAndTime(payload)))
        case .protocolChannel:
            switch format {
            case .json: body(Self.jsonFrame(payload))
            case .protobuf: ProtobufWire.replies(payload, body)
            }
        }
    }

    private static func jsonFrame(_ payload: ByteBuffer) -> Frame {
        let view = payload.readableBytesView
        if view.count == 2 { return .ping }  // {}
        // Pushes start {"push":…; replies {"id":N,…
        guard view.count > 8, view[view.startIndex + 2] == UInt8(ascii: "p") else {
            return view.starts(with: #"{"id":2,"subscribe""#.utf8) ? .subscribed : .other
        }
        // {"push":{"channel":"bench:fanout","pub":{"data":"12 3456789","offset":13}}}
        guard view.starts(with: Self.publicationPrefix) else { return .publication(nil) }
        return .publication(parseData(view, from: view.startIndex + Self.publicationPrefix.count))
    }
}

/// The publication's data, `<sequence> <time>` (after its opening quote), from `start`.
@inline(__always)
func parseData(_ view: ByteBufferView, from start: Int) -> (sequence: Int, time: UInt64)? {
    var index = start
    var sequence = 0
    while index < view.endIndex, view[index] >= 48, view[index] <= 57 {
        sequence = sequence * 10 + Int(view[index] - 48)
        index += 1
    }
    guard index > start, index < view.endIndex, view[index] == 32 else { return nil }
    index += 1
    let timeStart = index
    var time: UInt64 = 0
    while index < view.endIndex, view[index] >= 48, view[index] <= 57 {
        time = time * 10 + UInt64(view[index] - 48)
        index += 1
    }
    guard index > timeStart else { return nil }
    return (sequence, time)
}

/// The format protocol-channel subscribers speak: JSON text frames, or Protobuf on the
/// `centrifuge-protobuf` subprotocol. The publisher speaks JSON either way.
enum ProtocolFormat: String, ExpressibleByArgument, Sendable {
    case json
    case protobuf
}

/// The few bytes of `client.proto`'s wire format the benchmark needs, by hand: no message objects
/// and no allocation per received publication, so that the generator stays cheap.
enum ProtobufWire {
    /// Command{id: 1, connect: {}}, length-prefixed.
    static let connect = ByteBuffer(bytes: delimited(command(id: 1, field: 4, [])))
    /// The connect command and Command{id: 2, subscribe: {channel}}, in one message.
    static let connectAndSubscribe = ByteBuffer(
        bytes: delimited(command(id: 1, field: 4, []))
            + delimited(command(id: 2, field: 5, [0x0A] + varint(FanoutTransport.channel.utf8.count) + Array(FanoutTransport.channel.utf8))))
    /// An empty command: the answer to the server's ping (an empty reply).
    static let pong = ByteBuffer(bytes: [0])

    private static func command(id: Int, field: UInt8, _ body: [UInt8]) -> [UInt8] {
        [0x08] + varint(id) + [field << 3 | 2] + varint(body.count) + body
    }

    private static func delimited(_ bytes: [UInt8]) -> [UInt8] { varint(bytes.count) + bytes }

    private static func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value)
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F | 0x80))
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }

    /// Call `body` with every length-prefixed `Reply` of a binary message.
    @inline(__always)
    static func replies(_ payload: ByteBuffer, _ body: (FanoutTransport.Frame) -> Void) {
        let view = payload.readableBytesView
        var index = view.startIndex
        while index < view.endIndex {
            guard let length = readVarint(view, &index), length <= view.endIndex - index else {
                body(.other)
                return
            }
            body(reply(view, index, index + length))
            index += length
        }
    }

    /// Reply fields: 1 id, 4 push (Push: 4 pub; Publication: 4 data), 6 subscribe.
    @inline(__always)
    private static func reply(_ view: ByteBufferView, _ start: Int, _ end: Int) -> FanoutTransport.Frame {
        if start == end { return .ping }
        guard let push = field(4, view, start, end) else {
            return field(6, view, start, end) != nil ? .subscribed : .other
        }
        guard let pub = field(4, view, push.lowerBound, push.upperBound),
            let data = field(4, view, pub.lowerBound, pub.upperBound)
        else { return .publication(nil) }
        // The data is JSON: the string "<seq> <time>", quotes included.
        guard data.count > 2, view[data.lowerBound] == UInt8(ascii: "\"") else { return .publication(nil) }
        return .publication(parseData(view, from: data.lowerBound + 1))
    }

    /// The bytes of the first length-delimited field `number` of the message in `start..<end`.
    @inline(__always)
    private static func field(_ number: Int, _ view: ByteBufferView, _ start: Int, _ end: Int) -> Range<Int>? {
        var index = start
        while index < end {
            guard let key = readVarint(view, &index) else { return nil }
            switch key & 7 {
            case 0:
                guard readVarint(view, &index) != nil else { return nil }
            case 1: index += 8
            case 5: index += 4
            case 2:
                guard let length = readVarint(view, &index), length <= end - index else { return nil }
                if key >> 3 == number { return index..<(index + length) }
                index += length
            default: return nil
            }
        }
        return nil
    }

    @inline(__always)
    private static func readVarint(_ view: ByteBufferView, _ index: inout Int) -> Int? {
        var value = 0
        var shift = 0
        while index < view.endIndex, shift < 63 {
            let byte = view[index]
            index += 1
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
}
