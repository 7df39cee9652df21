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
    enum Frame: Equatable {
        case publication
        /// The reply to a subscriber's `subscribe` command.
        case subscribed
        /// The protocol's `{}` ping, to be answered `{}`.
        case ping
        case other
    }

    func path(client: Int) -> String {
        switch self {
        case .tutorialChat: "/ws/\(client)"
        case .protocolChannel: "/connection/websocket"
        }
    }

    /// What a client sends once its WebSocket is open.
    func opened(_ connection: BenchConnection, subscribe: Bool) {
        guard self == .protocolChannel else { return }
        var commands = #"{"id":1,"connect":{}}"#
        if subscribe { commands += "\n" + #"{"id":2,"subscribe":{"channel":"\#(Self.channel)"}}"# }
        connection.send(ByteBuffer(string: commands))
    }

    func publication(sequence: Int, time: UInt64) -> ByteBuffer {
        switch self {
        case .tutorialChat:
            ByteBuffer(string: "\(sequence) \(time)")
        case .protocolChannel:
            ByteBuffer(string: #"{"id":\#(sequence % 2_000_000_000 + 1),"publish":{"channel":"\#(Self.channel)","data":"\#(sequence) \#(time)"}}"#)
        }
    }

    func classify(_ payload: ByteBuffer) -> Frame {
        switch self {
        case .tutorialChat:
            return .publication
        case .protocolChannel:
            let view = payload.readableBytesView
            if view.count == 2 { return .ping }  // {}
            // Pushes start {"push":…; replies {"id":N,…
            guard view.count > 8, view[view.startIndex + 2] == UInt8(ascii: "p") else {
                return view.starts(with: #"{"id":2,"subscribe""#.utf8) ? .subscribed : .other
            }
            return .publication
        }
    }

    /// The sequence number and send time a publication carries.
    func parse(_ payload: ByteBuffer) -> (Int, UInt64)? {
        switch self {
        case .tutorialChat:
            return parseSequenceAndTime(payload)
        case .protocolChannel:
            // {"push":{"channel":"bench:fanout","pub":{"data":"12 3456789","offset":13}}}
            let view = payload.readableBytesView
            guard view.starts(with: Self.publicationPrefix) else { return nil }
            let start = view.startIndex + Self.publicationPrefix.count
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
    }
}
