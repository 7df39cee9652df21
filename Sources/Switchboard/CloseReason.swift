/// A WebSocket close code with its human-readable reason.
///
/// The core module does not depend on a WebSocket implementation, so codes are plain
/// `UInt16` values as RFC 6455 section 7.4 defines them.
public struct CloseReason: Sendable, Hashable, CustomStringConvertible {
    /// The close code sent in the close frame.
    public let code: UInt16
    /// The reason sent in the close frame (at most 123 bytes of UTF-8 on the wire).
    public let reason: String

    /// The most bytes of UTF-8 a close frame's reason may have (RFC 6455 section 5.5: 125 bytes of
    /// payload, 2 of which hold the code).
    public static let maximumReasonBytes = 123

    /// Create a close reason. A reason longer than ``maximumReasonBytes`` is cut at a character
    /// boundary so that it always fits in a close frame.
    public init(code: UInt16, reason: String) {
        self.code = code
        var reason = reason
        while reason.utf8.count > Self.maximumReasonBytes { reason.removeLast() }
        self.reason = reason
    }

    /// `code reason`.
    public var description: String { "\(self.code) \(self.reason)" }

    /// 1001: the server is shutting down.
    public static let serverShuttingDown = CloseReason(code: 1001, reason: "server shutting down")
    /// 1008: the connection's outbox overflowed because the client does not read fast enough.
    public static let slowConsumer = CloseReason(code: 1008, reason: "slow consumer")
    /// 1001: the peer did not answer a heartbeat ping in time.
    public static let pingTimeout = CloseReason(code: 1001, reason: "ping timeout")
    /// 1007: a text message that is not valid UTF-8.
    public static let invalidUTF8 = CloseReason(code: 1007, reason: "invalid UTF-8 in text message")

    /// 1009: a message larger than the server accepts.
    public static func messageTooLarge(limit: Int) -> CloseReason {
        CloseReason(code: 1009, reason: "message larger than \(limit) bytes")
    }

    /// 1002: the peer broke the WebSocket protocol.
    public static func protocolError(_ reason: String) -> CloseReason {
        CloseReason(code: 1002, reason: reason)
    }

    /// Whether a peer may send `code` in a close frame (RFC 6455 section 7.4: the defined codes that
    /// may appear on the wire, and 3000-4999 for registered and private use).
    public static func isValidPeerCode(_ code: UInt16) -> Bool {
        (1000...1003).contains(code) || (1007...1011).contains(code) || (3000...4999).contains(code)
    }

    /// 1013: the server is at its connection limit.
    public static func connectionLimit(_ limit: Int) -> CloseReason {
        CloseReason(code: 1013, reason: "server at connection limit (\(limit)); try again later")
    }

    /// 1008: a request was refused because of the endpoint's policy (missing credentials, a bad parameter).
    public static func policyViolation(_ reason: String) -> CloseReason {
        CloseReason(code: 1008, reason: reason)
    }

    /// 1003: the endpoint does not accept this kind of message (for example binary on a text endpoint).
    public static func unsupportedData(_ reason: String) -> CloseReason {
        CloseReason(code: 1003, reason: reason)
    }

    /// 1011: the server cannot go on with the connection (its engine's database is unreachable, say).
    public static func internalError(_ reason: String) -> CloseReason {
        CloseReason(code: 1011, reason: reason)
    }
}
