/// What a valid connection token says.
public struct ConnectCredentials: Sendable, Equatable {
    /// The user id (`sub`); empty for an anonymous connection.
    public var user: String
    /// Time left before the token expires (`exp`), or `nil` if it does not expire.
    public var expiresIn: Duration?
    /// The token's `info`, as compact JSON text.
    public var info: String?
    /// Channels to subscribe the connection to on the server side (`channels`).
    public var channels: [String]

    /// What a connection token says.
    public init(user: String, expiresIn: Duration? = nil, info: String? = nil, channels: [String] = []) {
        self.user = user
        self.expiresIn = expiresIn
        self.info = info
        self.channels = channels
    }
}

/// What a valid subscription token says.
public struct SubscriptionCredentials: Sendable, Equatable {
    /// The user the token was issued to (`sub`).
    public var user: String
    /// The channel it grants (`channel`).
    public var channel: String
    /// Time left before the token expires (`exp`), or `nil` if it does not expire.
    public var expiresIn: Duration?
    /// The token's `info` (the subscription's channel info), as compact JSON text.
    public var info: String?

    /// What a subscription token says.
    public init(user: String, channel: String, expiresIn: Duration? = nil, info: String? = nil) {
        self.user = user
        self.channel = channel
        self.expiresIn = expiresIn
        self.info = info
    }
}

/// Why a token was refused.
public enum TokenError: Error, Sendable, Equatable {
    /// The token is well-formed and signed but past its `exp`: the client should get a new one.
    case expired
    /// Anything else (bad signature, malformed, missing claims), with what was wrong.
    case invalid(String)
}

/// Checks the tokens clients present. The server's implementation verifies JWTs.
public protocol TokenVerifier: Sendable {
    func verifyConnectToken(_ token: String) async throws(TokenError) -> ConnectCredentials
    func verifySubscriptionToken(_ token: String) async throws(TokenError) -> SubscriptionCredentials
}
