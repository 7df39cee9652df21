/// An error reply of the Centrifugo client protocol: `{"id":…,"error":{"code":…,"message":…}}`.
///
/// Codes are the protocol's; messages start with the protocol's wording and add what went wrong.
public struct ProtocolError: Error, Sendable, Equatable {
    /// The protocol's error code (100 internal, 101 unauthorized, 102 unknown channel, 103 permission denied…).
    public var code: Int
    /// The protocol's wording for the code, then what went wrong.
    public var message: String
    /// Whether retrying may succeed (the client SDKs retry temporary errors).
    public var temporary: Bool

    /// An error with any code; the static functions make the protocol's own.
    public init(code: Int, message: String, temporary: Bool = false) {
        self.code = code
        self.message = message
        self.temporary = temporary
    }

    /// The error as the JSON protocol writes it (`{"code":…,"message":…}`, `temporary` when set).
    public var json: JSONValue {
        .object(["code": .integer(self.code), "message": .string(self.message), "temporary": self.temporary ? .bool(true) : nil])
    }

    private static func detailed(_ code: Int, _ base: String, _ detail: String?, temporary: Bool = false) -> ProtocolError {
        ProtocolError(code: code, message: detail.map { "\(base): \($0)" } ?? base, temporary: temporary)
    }

    /// 100; `temporary` unless the failure will repeat (a retry of the same request fails the same way).
    public static func internalError(_ detail: String? = nil, temporary: Bool = true) -> Self {
        .detailed(100, "internal server error", detail, temporary: temporary)
    }
    /// 101
    public static func unauthorized(_ detail: String? = nil) -> Self { .detailed(101, "unauthorized", detail) }
    /// 102
    public static func unknownChannel(_ detail: String? = nil) -> Self { .detailed(102, "unknown channel", detail) }
    /// 103
    public static func permissionDenied(_ detail: String? = nil) -> Self { .detailed(103, "permission denied", detail) }
    /// 104
    public static func methodNotFound(_ detail: String? = nil) -> Self { .detailed(104, "method not found", detail) }
    /// 105
    public static func alreadySubscribed(_ detail: String? = nil) -> Self { .detailed(105, "already subscribed", detail) }
    /// 106
    public static func limitExceeded(_ detail: String? = nil) -> Self { .detailed(106, "limit exceeded", detail) }
    /// 107
    public static func badRequest(_ detail: String? = nil) -> Self { .detailed(107, "bad request", detail) }
    /// 108
    public static func notAvailable(_ detail: String? = nil) -> Self { .detailed(108, "not available", detail) }
    /// 109
    public static func tokenExpired(_ detail: String? = nil) -> Self { .detailed(109, "token expired", detail) }
    /// 112
    public static func unrecoverablePosition(_ detail: String? = nil) -> Self { .detailed(112, "unrecoverable position", detail) }
}

/// Close codes the protocol uses to end a connection (sent as the WebSocket close frame's code and
/// reason). Codes 3000–3499 ask the client to reconnect; 3500–3999 tell it not to.
public enum Disconnect {
    /// 3001: the server is shutting down.
    public static let shutdown = CloseReason(code: 3001, reason: "shutdown")
    /// 3004
    public static let serverError = CloseReason(code: 3004, reason: "internal server error")
    /// 3005: the connection's token expired and was not refreshed.
    public static let expired = CloseReason(code: 3005, reason: "connection expired")
    /// 3006: a subscription's token expired and was not refreshed.
    public static let subscriptionExpired = CloseReason(code: 3006, reason: "subscription expired")
    /// 3008: the client does not read fast enough.
    public static let slow = CloseReason(code: 3008, reason: "slow")
    /// 3010: this node lost publications of a positioned or recoverable subscription before it
    /// delivered them; the client reconnects and recovers.
    public static let insufficientState = CloseReason(code: 3010, reason: "insufficient state")
    /// 3012: the client did not answer the server's pings.
    public static let noPong = CloseReason(code: 3012, reason: "no pong")
    /// 3013: the client sent more commands than the server had answered, past the bound on
    /// commands waiting their turn.
    public static let tooManyRequests = CloseReason(code: 3013, reason: "too many requests")
    /// 3505: a connection token's `channels` claim names more channels than `client_channel_limit`.
    public static let channelLimit = CloseReason(code: 3505, reason: "channel limit")
    /// 3503: the server API disconnected the client.
    public static let forceDisconnect = CloseReason(code: 3503, reason: "force disconnect")

    /// 3500: the connection token is invalid.
    public static func invalidToken(_ detail: String) -> CloseReason {
        CloseReason(code: 3500, reason: "invalid token: \(detail)")
    }

    /// How a unidirectional connection, which has no error replies, is closed for an error: an
    /// expired token with 3005 (the client gets a new one), an unusable one with 3500, a temporary
    /// failure with 3004 (the client reconnects), anything else with 3501; the reason says what went wrong.
    public static func unidirectional(_ error: ProtocolError) -> CloseReason {
        switch error.code {
        case 109: CloseReason(code: Self.expired.code, reason: error.message)
        case 101, 103: CloseReason(code: 3500, reason: error.message)
        case _ where error.temporary: CloseReason(code: Self.serverError.code, reason: error.message)
        default: CloseReason(code: 3501, reason: error.message)
        }
    }

    /// 3501: the client broke the protocol (bad JSON, commands out of order).
    public static func badRequest(_ detail: String) -> CloseReason {
        CloseReason(code: 3501, reason: "bad request: \(detail)")
    }
}
