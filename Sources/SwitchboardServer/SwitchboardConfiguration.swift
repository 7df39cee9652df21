public import Logging

/// Everything `switchboard serve` can be told. Every field has a working default.
public struct SwitchboardConfiguration: Sendable {
    /// Address to bind.
    public var host: String
    /// Port to bind; 0 picks a free one (see ``SwitchboardServer/run(onRunning:)``).
    public var port: Int
    /// Log level of the server's logger.
    public var logLevel: Logger.Level
    /// Most WebSocket connections open at once; `nil` for no limit. Past it, new connections are closed with 1013.
    public var maxConnections: Int?
    /// Which browser origins may open WebSockets and get CORS headers.
    public var allowedOrigins: OriginPolicy
    /// Largest inbound message (and frame), in bytes. Larger ones close the connection with 1009.
    public var maxMessageSize: Int
    /// Most bytes queued for one connection. A broadcast that would exceed it closes that connection with 1008 `slow consumer`.
    public var outboxLimit: Int
    /// How often the server pings each connection; a peer that sends nothing, not even a pong, for two
    /// intervals is closed with 1001 `ping timeout`.
    /// `nil` turns heartbeats off.
    public var pingInterval: Duration?
    /// How long the server waits for the peer's answer to its close frame (or for a stuck write) before dropping the TCP connection.
    public var closeTimeout: Duration
    /// Whether `/echo` (raw echo, for diagnostics and conformance tests) is served.
    public var echoEndpoint: Bool

    public init(
        host: String = "127.0.0.1",
        port: Int = 8000,
        logLevel: Logger.Level = .info,
        maxConnections: Int? = nil,
        allowedOrigins: OriginPolicy = .sameOrigin,
        maxMessageSize: Int = 64 * 1024,
        outboxLimit: Int = 1024 * 1024,
        pingInterval: Duration? = .seconds(30),
        closeTimeout: Duration = .seconds(5),
        echoEndpoint: Bool = true
    ) {
        self.host = host
        self.port = port
        self.logLevel = logLevel
        self.maxConnections = maxConnections
        self.allowedOrigins = allowedOrigins
        self.maxMessageSize = maxMessageSize
        self.outboxLimit = outboxLimit
        self.pingInterval = pingInterval
        self.closeTimeout = closeTimeout
        self.echoEndpoint = echoEndpoint
    }
}
