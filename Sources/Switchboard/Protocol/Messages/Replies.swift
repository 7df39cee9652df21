/// What the server sends a protocol client, as every format encodes it: replies to commands and
/// pushes. The formats (``ProtocolFormat``) encode these; nothing else knows their wire shape.

/// The result of a command, in its reply.
public enum ReplyResult: Sendable, Equatable {
    case connect(ConnectResult)
    case subscribe(SubscribeResult)
    case unsubscribe
    case publish
    case presence([ClientInfo])
    case presenceStats(clients: Int, users: Int)
    case history(HistoryResult)
    case ping
    case refresh(ConnectResult)
    case subRefresh(expiresIn: Duration?)
    /// The `rpc` result: the `rpc` hook's `data` (`nil`: none).
    case rpc(JSONValue?)
}

/// The `connect` result (also the `refresh` result, which carries only the client, version and
/// expiry, and the unidirectional transports' first push).
public struct ConnectResult: Sendable, Equatable {
    /// The client id.
    public var client: String
    /// The server's version (`switchboard 0.2.0`).
    public var version: String
    /// When the connection's token expires; `nil` for never.
    public var expiresIn: Duration?
    /// Seconds between the server's pings; `nil` when it sends none.
    public var ping: Int?
    /// The server expects pongs.
    public var pong = false
    /// Server-side subscriptions, in the order they were made.
    public var subs: [(channel: String, result: SubscribeResult)] = []
    /// Data for the client from the `connect` hook (``ConnectGrant/data``); `nil` for none.
    public var data: JSONValue?

    /// A result with the client id, version, expiry and ping settings; no subscriptions, no data.
    public init(client: String, version: String, expiresIn: Duration? = nil, ping: Int? = nil, pong: Bool = false) {
        self.client = client
        self.version = version
        self.expiresIn = expiresIn
        self.ping = ping
        self.pong = pong
    }

    /// Equal when every field is.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.client == rhs.client && lhs.version == rhs.version && lhs.expiresIn == rhs.expiresIn && lhs.ping == rhs.ping
            && lhs.pong == rhs.pong && lhs.data == rhs.data && lhs.subs.elementsEqual(rhs.subs) { $0.channel == $1.channel && $0.result == $1.result }
    }
}

/// The `subscribe` result (also a `subscribe` push and a connect result's `subs` entry).
public struct SubscribeResult: Sendable, Equatable {
    /// When the subscription's token expires; `nil` for never.
    public var expiresIn: Duration?
    /// The client may recover the subscription with `epoch` and `offset`.
    public var recoverable = false
    /// The stream's position is checked: a gap closes the connection (3010) to recover.
    public var positioned = false
    /// The stream's position after subscribing; `nil` when neither recoverable nor positioned.
    public var position: StreamPosition?
    /// Publications recovered after the client's position, oldest first.
    public var publications: [Publication] = []
    /// The client asked to recover.
    public var wasRecovering = false
    /// Everything after the client's position was recovered.
    public var recovered = false
    /// Data for the client from the `subscribe` hook (``SubscribeGrant/data``); `nil` for none.
    public var data: JSONValue?
    /// Delta compression was negotiated: publications may come as deltas against the previous
    /// one, and in JSON every publication's `data` is a JSON string holding the JSON text
    /// (``publications`` included), as the SDKs expect.
    public var delta = false

    /// A result; every parameter is the field of the same name.
    public init(
        expiresIn: Duration? = nil,
        recoverable: Bool = false,
        positioned: Bool = false,
        position: StreamPosition? = nil,
        publications: [Publication] = [],
        wasRecovering: Bool = false,
        recovered: Bool = false
    ) {
        self.expiresIn = expiresIn
        self.recoverable = recoverable
        self.positioned = positioned
        self.position = position
        self.publications = publications
        self.wasRecovering = wasRecovering
        self.recovered = recovered
    }
}

/// The `history` result.
public struct HistoryResult: Sendable, Equatable {
    /// The publications, in the order asked for.
    public var publications: [Publication]
    /// The stream's current position (its last offset and epoch).
    public var position: StreamPosition

    /// A history result.
    public init(publications: [Publication], position: StreamPosition) {
        self.publications = publications
        self.position = position
    }
}

/// A message the server sends without a command asking for it.
public enum PushEvent: Sendable, Equatable {
    /// A publication in a channel.
    case publication(Publication)
    /// Someone subscribed to a channel.
    case join(ClientInfo)
    /// Someone left a channel.
    case leave(ClientInfo)
    /// The server ended the subscription.
    case unsubscribe(code: Int, reason: String)
    /// The server subscribed the connection.
    case subscribe(SubscribeResult)
    /// The connect result, as the first push of a unidirectional connection.
    case connect(ConnectResult)
    /// The server is closing the connection (unidirectional transports without a close code).
    case disconnect(CloseReason)
}
