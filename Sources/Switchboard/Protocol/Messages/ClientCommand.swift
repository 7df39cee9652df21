/// One command from a client, as every format decodes it: its id, its method and what it asks.
///
/// The formats (``ProtocolFormat``) turn bytes into commands and results into bytes;
/// ``ClientSession`` sees only these types, so a new format or transport does not touch command logic.
struct ClientCommand: Sendable {
    enum Method: String, Sendable, CaseIterable {
        case connect, subscribe, unsubscribe, publish, presence, history, ping, send, rpc, refresh
        case presenceStats = "presence_stats"
        case subRefresh = "sub_refresh"
    }

    /// The command's id, which its reply repeats; 0 for commands without a reply (`send`).
    var id: UInt32
    var method: Method
    /// What the command asks, or why its parameters are not usable (an error reply, after the
    /// session has checked that the command may come now).
    var request: Result<ClientRequest, ProtocolError>

    /// Why a message (or one command in it) is not usable.
    enum DecodeError: Error {
        /// Not usable at all: the connection is closed with 3501 and this reason.
        case malformed(String)
        /// A well-formed command with an id that the server cannot serve: reply with this error.
        case reply(id: UInt32, ProtocolError)
    }
}

/// What a command asks for, with its parameters checked and typed.
enum ClientRequest: Sendable {
    case connect(ConnectRequest)
    case subscribe(SubscribeRequest)
    case unsubscribe(channel: String)
    /// `data` is compact JSON text (every format's data must be JSON; see docs/PROTOCOL.md).
    case publish(channel: String, data: String)
    case presence(channel: String)
    case presenceStats(channel: String)
    case history(HistoryRequest)
    case ping
    case send
    /// `data` is the call's JSON, if any (every format's data must be JSON).
    case rpc(method: String, data: JSONValue?)
    case refresh(token: String)
    case subRefresh(channel: String, token: String)
}

/// `connect`.
struct ConnectRequest: Sendable {
    /// The connection token; empty for none.
    var token = ""
    /// The client's `data`, which an anonymous client gives as its info (a JSON object), and which
    /// the `connect` hook sees.
    var data: JSONValue?
    /// The SDK's name and version, as the client reports them (for the `connect` hook).
    var name = ""
    var version = ""
    /// Positions of server-side subscriptions to recover (`subs`), by channel.
    var subs: [String: SubscriptionPosition] = [:]
}

/// Where a client was in a channel, to recover from.
struct SubscriptionPosition: Sendable, Equatable {
    var recover = false
    var position = StreamPosition(offset: 0, epoch: "")
}

/// `subscribe`.
struct SubscribeRequest: Sendable {
    var channel: String
    /// The subscription token; empty for none.
    var token = ""
    var recovery = SubscriptionPosition()
    /// The client wants offsets and epochs checked (`positioned`), or recovery (`recoverable`).
    var positioned = false
    var recoverable = false
    /// The client wants join and leave pushes (`join_leave`).
    var joinLeave = false
    /// The subscription flags the SDKs send (``SubscribeRequest/Flag``).
    var flag: Int64 = 0
    /// The client's subscribe `data` (JSON), which the `subscribe` hook sees.
    var data: JSONValue?
    /// The delta compression the client asks for (`delta`, e.g. `fossil`); empty for none.
    var delta = ""

    /// Bits of ``flag``.
    enum Flag {
        /// Channel compaction (a numeric channel id in pushes): not offered, so ignored; the
        /// SDKs keep channel names.
        static let channelCompaction: Int64 = 1
        /// The SDK has a `get_state` callback: an unrecoverable position is answered with error 112
        /// (and the SDK asks the app for its state again) instead of `recovered: false`.
        static let rejectUnrecovered: Int64 = 2
    }
}

/// `history`.
struct HistoryRequest: Sendable {
    var channel: String
    var limit = 0
    var since: StreamPosition?
    var reverse = false
}
