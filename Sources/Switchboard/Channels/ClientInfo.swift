/// Who a client is, as presence, join/leave and publications show it.
public struct ClientInfo: Sendable, Equatable {
    /// The user id (the token's `sub`; empty for anonymous clients).
    public var user: String
    /// The connection's client id.
    public var client: String
    /// The connection's `info` (from its token), as compact JSON text.
    public var connectionInfo: String?
    /// The subscription's `info` (from its subscription token), as compact JSON text.
    public var channelInfo: String?

    /// Info with a user, client id and optional connection and channel info (compact JSON text).
    public init(user: String, client: String, connectionInfo: String? = nil, channelInfo: String? = nil) {
        self.user = user
        self.client = client
        self.connectionInfo = connectionInfo
        self.channelInfo = channelInfo
    }

    /// The protocol's `ClientInfo` object.
    public var json: JSONValue {
        .object([
            "user": .string(self.user),
            "client": .string(self.client),
            "conn_info": self.connectionInfo.map(JSONValue.raw),
            "chan_info": self.channelInfo.map(JSONValue.raw),
        ])
    }

    /// Read the protocol's `ClientInfo` object back from JSON text (as `json.jsonText` writes it),
    /// or `nil` if it is not one.
    public init?(jsonText: String) {
        guard let value = try? JSONValue.parse(jsonText) else { return nil }
        self.init(json: value)
    }

    /// Read the protocol's `ClientInfo` object back (as ``json`` writes it), or `nil` if it is not one.
    public init?(json: JSONValue) {
        guard let user = json["user"]?.stringValue, let client = json["client"]?.stringValue else { return nil }
        self.init(
            user: user,
            client: client,
            connectionInfo: json["conn_info"].map(\.jsonText),
            channelInfo: json["chan_info"].map(\.jsonText)
        )
    }
}
