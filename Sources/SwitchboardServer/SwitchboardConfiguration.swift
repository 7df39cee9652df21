public import Logging
public import Switchboard

/// Everything `switchboard serve` can be told. Every field has a working default.
public struct SwitchboardConfiguration: Sendable {
    /// Address to bind.
    public var host: String
    /// Port to bind; 0 picks a free one (see ``SwitchboardServer/serve(onRunning:)``).
    public var port: Int
    /// Log level of the server's logger.
    public var logLevel: Logger.Level
    /// Most WebSocket connections open at once; `nil` for no limit. Past it, new connections are closed with 1013.
    public var maxConnections: Int?
    /// Which browser origins may open WebSockets and get CORS headers.
    public var allowedOrigins: OriginPolicy
    /// Largest inbound message (and frame), in bytes. Larger ones close the connection with 1009.
    public var maxMessageSize: Int
    /// permessage-deflate (RFC 7692) on WebSocket connections (`--compression`, `"websocket_compression"`).
    public var compression = WebSocketCompression()
    /// Most bytes queued for one connection. A broadcast that would exceed it closes that connection with 1008 `slow consumer`.
    public var outboxLimit: Int
    /// How often the server pings each connection; a peer that sends nothing, not even a pong, for two
    /// intervals is closed with 1001 `ping timeout`.
    /// `nil` turns heartbeats off.
    public var pingInterval: Duration?
    /// How long the server waits for the peer's answer to its close frame (or for a stuck write) before dropping the TCP connection.
    public var closeTimeout: Duration
    /// How long a new HTTP connection may take to send a whole request head (and a kept-alive one,
    /// from the first byte of its next request). Past it the connection is closed (`408` if part of a
    /// head had arrived). Does not concern upgraded WebSocket connections.
    public var requestHeadTimeout: Duration
    /// How long a kept-alive HTTP connection may wait with no request in progress, or a request's body
    /// may stall, before the connection is closed. Does not concern upgraded WebSocket connections.
    public var httpIdleTimeout: Duration
    /// Whether `/echo` (raw echo, for diagnostics and conformance tests) is served.
    public var echoEndpoint: Bool
    /// Whether the FastAPI tutorial's endpoints are served: the WebSockets `/ws`, `/ws/{client_id}`,
    /// `/items/{item_id}/ws` and `/json/ws`, and the chat pages (`/`, `/tutorial`, `/static/…`). The
    /// client protocol (`/connection/…`), the server API (`/api/…`), `/health` and the browser
    /// client `/static/switchboard.js` are always served.
    public var tutorialEndpoints = true
    /// The path every route is served under: `""` (the default) for the root, `/realtime` to serve
    /// `/realtime/connection/websocket`, `/realtime/api/publish`… — for an application that mounts
    /// Switchboard next to its own routes, or a reverse proxy that forwards a path.
    public var pathPrefix = "" {
        didSet { self.pathPrefix = Self.normalizedPrefix(self.pathPrefix) }
    }

    /// `realtime/` → `/realtime`; `/` → `""`.
    static func normalizedPrefix(_ prefix: String) -> String {
        let components = WebSocketRoutes.components(prefix)
        return components.isEmpty ? "" : "/" + components.joined(separator: "/")
    }
    /// Channel namespaces and limits of the client protocol and the server API.
    public var channels: ChannelConfiguration
    /// Keys that connection and subscription tokens (JWT) may be signed with.
    public var tokenKeys: JWTTokenVerifier.Keys
    /// The audience and issuer tokens must name, if any (`token_audience`, `token_issuer`).
    public var tokenRules: TokenRules
    /// Accept protocol connections without a token. `nil`: yes exactly when no token key is configured
    /// (a server that can check no token has no other way in).
    public var allowAnonymous: Bool?
    /// The server API's key (`X-API-Key` or `Authorization: apikey …`); `nil` turns the API off.
    public var apiKey: String?
    /// Seconds a connection or subscription may outlive its token's `exp` without refreshing.
    public var expiredCloseDelay: Duration
    /// The channel the tutorial chat `/ws/{client_id}` broadcasts in.
    public var chatChannel: String
    /// Most commands one message of the client protocol may hold (`client_max_commands_per_message`).
    public var maxCommandsPerMessage: Int
    /// Largest `history` reply, in bytes (`client_history_max_bytes`).
    public var maxHistoryReplyBytes: Int
    /// Subscribe each user's connections to the user's personal channel
    /// (`subscribe_to_user_personal_channel`; see ``ProtocolSettings/subscribeToUserPersonalChannel``).
    public var subscribeToUserPersonalChannel = false
    /// The namespace of personal channels (`user_personal_channel_namespace`; `""` for none).
    public var userPersonalChannelNamespace = ""
    /// Centrifugo's HTTP proxy: which events go to the application's backend (see ``ProxyHooks``).
    public var proxy = ProxyConfiguration()
    /// The password of the admin page `/admin` (`admin_password`). The page is on only when this
    /// and ``adminSecret`` are both set.
    public var adminPassword: String?
    /// The HS256 secret (at least 32 bytes) that signs the admin page's session tokens (`admin_secret`).
    public var adminSecret: String?
    /// Serve Prometheus metrics at `/metrics` (`--prometheus`, `"prometheus": true`; see
    /// docs/OBSERVABILITY.md). Off by default, as in Centrifugo: the endpoint tells anyone who can
    /// reach it how busy the node is, and an operator turns it on where the scraper can reach it.
    public var prometheus = false
    /// What the configuration file says about the engine (`engine`, `postgres_url`,
    /// `redis_address`, `redis_prefix`, `node_ttl`), for `switchboard serve`, which builds the engine
    /// from it; flags and environment variables come first. A server given an ``Engine`` (an
    /// embedding app's) ignores it.
    public var engineSettings = EngineSettings()
    /// How `switchboard serve` writes its logs (`--log-format`, `"log_format"`).
    public var logFormat = LogFormat.text

    /// A configuration; every parameter is the field of the same name, and every default works.
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
        requestHeadTimeout: Duration = .seconds(10),
        httpIdleTimeout: Duration = .seconds(60),
        echoEndpoint: Bool = true,
        channels: ChannelConfiguration = SwitchboardConfiguration.defaultChannels,
        tokenKeys: JWTTokenVerifier.Keys = .init(),
        tokenRules: TokenRules = TokenRules(),
        allowAnonymous: Bool? = nil,
        apiKey: String? = nil,
        expiredCloseDelay: Duration = .seconds(5),
        chatChannel: String = "chat",
        maxCommandsPerMessage: Int = ProtocolSettings.defaultMaxCommandsPerMessage,
        maxHistoryReplyBytes: Int = ProtocolSettings.defaultMaxHistoryReplyBytes
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
        self.requestHeadTimeout = requestHeadTimeout
        self.httpIdleTimeout = httpIdleTimeout
        self.echoEndpoint = echoEndpoint
        self.channels = channels
        self.tokenKeys = tokenKeys
        self.tokenRules = tokenRules
        self.allowAnonymous = allowAnonymous
        self.apiKey = apiKey
        self.expiredCloseDelay = expiredCloseDelay
        self.chatChannel = chatChannel
        self.maxCommandsPerMessage = maxCommandsPerMessage
        self.maxHistoryReplyBytes = maxHistoryReplyBytes
    }

    /// A configuration for Switchboard mounted in an application under `prefix`: the client
    /// protocol, the server API and `/health` only (no tutorial endpoints or chat pages, no `/echo`);
    /// the rest as the defaults. `host` and `port` are the application's business when mounted.
    public static func mounted(at prefix: String) -> SwitchboardConfiguration {
        var configuration = SwitchboardConfiguration(echoEndpoint: false)
        configuration.tutorialEndpoints = false
        configuration.pathPrefix = prefix
        return configuration
    }

    /// Whether protocol connections without a token are accepted, after the default is applied.
    public var acceptsAnonymous: Bool { self.allowAnonymous ?? self.tokenKeys.isEmpty }

    /// The channels of a server started without a configuration file: namespace `rooms` is a chat
    /// (presence, join/leave, 100 messages of history kept 10 minutes, clients may subscribe and
    /// publish), which the web page uses; channels without a namespace are for the server API only.
    public static let defaultChannels: ChannelConfiguration = {
        var rooms = ChannelOptions()
        rooms.presence = true
        rooms.joinLeave = true
        rooms.historySize = 100
        rooms.historyTTL = .seconds(600)
        rooms.allowPublishForClient = true
        rooms.allowSubscribeForClient = true
        rooms.allowPresenceForSubscriber = true
        rooms.allowHistoryForSubscriber = true
        return ChannelConfiguration(namespaces: ["rooms": rooms])
    }()
}

/// The engine settings of a configuration file, as written: `switchboard serve` checks them.
public struct EngineSettings: Sendable, Equatable {
    /// `engine`: `memory`, `postgres` or `redis`.
    public var type: String?
    /// `postgres_url`.
    public var postgresURL: String?
    /// `redis_address`: one Redis, or several (shards), each `redis://…`, `rediss://…` or `host:port`.
    public var redisAddresses: [String]?
    /// `redis_prefix`: the prefix of every Redis key and pub/sub channel.
    public var redisPrefix: String?
    /// `node_ttl`.
    public var nodeTTL: Duration?

    public init() {}
}

/// permessage-deflate (RFC 7692) on the server's WebSocket connections: negotiated with each client
/// that offers it, every endpoint alike. A message the server sends is compressed once, however many
/// connections it goes to (see docs/PROTOCOL.md); messages a client compresses are inflated within
/// ``SwitchboardConfiguration/maxMessageSize``.
public struct WebSocketCompression: Sendable, Equatable {
    /// Accept clients' permessage-deflate offers (`--compression on|off`, `"websocket_compression"`).
    /// Off by default: docs/BENCHMARKS.md has the measurement behind it.
    public var isEnabled: Bool
    /// Messages whose payload is smaller go out uncompressed (`--compression-min-size`,
    /// `"websocket_compression_min_size"`): deflate saves nothing on them.
    public var minimumSize: Int
    /// zlib's compression level, 1 (fastest) to 9 (smallest) (`--compression-level`,
    /// `"websocket_compression_level"`). 1 by default, as in Centrifugo: on JSON it is a few percent
    /// larger than 6 for a third of the CPU (docs/BENCHMARKS.md).
    public var level: Int

    public init(isEnabled: Bool = false, minimumSize: Int = WebSocketCompression.defaultMinimumSize, level: Int = 1) {
        self.isEnabled = isEnabled
        self.minimumSize = minimumSize
        self.level = level
    }

    /// The default of ``minimumSize``, in bytes.
    public static let defaultMinimumSize = 128
}
