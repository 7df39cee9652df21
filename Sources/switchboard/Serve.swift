import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Switchboard
import SwitchboardPostgres
import SwitchboardRedis
import SwitchboardServer

/// `switchboard serve`: every option can also come from an environment variable `SWITCHBOARD_<NAME>`;
/// a flag on the command line wins over the variable, and the variable over the default.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server: one process in memory, or one node of several sharing PostgreSQL (--engine postgres) or Redis (--engine redis)."
    )

    @Option(help: "Address to bind. [env: SWITCHBOARD_HOST] (default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free port. [env: SWITCHBOARD_PORT] (default: 8000)")
    var port: Int?

    @Option(help: "trace, debug, info, notice, warning, error or critical. [env: SWITCHBOARD_LOG_LEVEL] (default: info)")
    var logLevel: String?

    @Option(help: "text (swift-log's lines) or json (one JSON object per line). [env: SWITCHBOARD_LOG_FORMAT] (default: text)")
    var logFormat: String?

    @Flag(
        inversion: .prefixedNo,
        help: "Serve Prometheus metrics at /metrics (docs/OBSERVABILITY.md). [env: SWITCHBOARD_PROMETHEUS=true|false] (default: off)"
    )
    var prometheus: Bool?

    @Option(help: "Most WebSocket connections at once; past it new ones are closed with 1013. [env: SWITCHBOARD_MAX_CONNECTIONS] (default: no limit)")
    var maxConnections: Int?

    @Option(
        help: """
            Origins allowed to open WebSockets and to get CORS headers: '*' for any, or a comma-separated \
            list of scheme://host[:port] added to same-origin. Requests without an Origin header are always \
            allowed. [env: SWITCHBOARD_ALLOWED_ORIGINS] (default: same origin)
            """
    )
    var allowedOrigins: String?

    @Option(help: "Largest inbound message in bytes; larger ones close with 1009. [env: SWITCHBOARD_MAX_MESSAGE_SIZE] (default: 65536)")
    var maxMessageSize: Int?

    @Option(
        help: """
            permessage-deflate (RFC 7692) on WebSocket connections: on or off. A broadcast is compressed once for \
            every subscriber. [env: SWITCHBOARD_COMPRESSION] (default: off)
            """
    )
    var compression: String?

    @Option(
        name: .customLong("compression-min-size"),
        help: "With --compression on, messages with a smaller payload (bytes) go out uncompressed. [env: SWITCHBOARD_COMPRESSION_MIN_SIZE] (default: 128)"
    )
    var compressionMinSize: Int?

    @Option(
        name: .customLong("compression-level"),
        help: "zlib level of --compression on: 1 (fastest) to 9 (smallest). [env: SWITCHBOARD_COMPRESSION_LEVEL] (default: 1)"
    )
    var compressionLevel: Int?

    @Option(help: "Most bytes queued for one connection before it is closed as a slow consumer (1008). [env: SWITCHBOARD_OUTBOX_LIMIT] (default: 1048576)")
    var outboxLimit: Int?

    @Option(help: "Seconds between heartbeat pings; a peer that answers none for two intervals is closed (1001). 0 turns them off. [env: SWITCHBOARD_PING_INTERVAL] (default: 30)")
    var pingInterval: Double?

    @Option(help: "Seconds to wait for a peer to answer a close before dropping it. [env: SWITCHBOARD_CLOSE_TIMEOUT] (default: 5)")
    var closeTimeout: Double?

    @Option(
        help: """
            Seconds an HTTP connection may take to send a whole request head (from its start, or on a kept-alive \
            connection from the next request's first byte); then it is closed, with 408 if a head had begun. \
            [env: SWITCHBOARD_REQUEST_HEAD_TIMEOUT] (default: 10)
            """
    )
    var requestHeadTimeout: Double?

    @Option(
        name: .customLong("http-idle-timeout"),
        help: """
            Seconds a kept-alive HTTP connection may wait between requests, or a request body may stall, \
            before it is closed. WebSocket connections are not concerned. [env: SWITCHBOARD_HTTP_IDLE_TIMEOUT] (default: 60)
            """
    )
    var httpIdleTimeout: Double?

    @Flag(
        inversion: .prefixedNo,
        help: "Serve the raw echo endpoint /echo. [env: SWITCHBOARD_ECHO_ENDPOINT=true|false] (default: on)"
    )
    var echoEndpoint: Bool?

    @Option(
        name: .customLong("path-prefix"),
        help: "Serve every route under this path (/realtime: /realtime/connection/websocket, /realtime/api/…). [env: SWITCHBOARD_PATH_PREFIX] (default: none)"
    )
    var pathPrefix: String?

    @Option(help: "Configuration file (.json, .yaml/.yml or .toml): channel namespaces, token keys, API key (see docs/CONFIGURATION.md). [env: SWITCHBOARD_CONFIG]")
    var config: String?

    @Flag(
        inversion: .prefixedNo,
        help: "Accept protocol connections without a token. [env: SWITCHBOARD_ALLOW_ANONYMOUS=true|false] (default: on only when no token key is configured)"
    )
    var allowAnonymous: Bool?

    @Option(help: "HS256 secret (at least 32 bytes) for connection and subscription tokens. [env: SWITCHBOARD_TOKEN_HMAC_SECRET]")
    var tokenHmacSecret: String?

    @Option(help: "Key of the HTTP server API (/api/<method>); without one the API answers 401. [env: SWITCHBOARD_API_KEY]")
    var apiKey: String?

    @Option(help: "Password of the admin page /admin, which is on only with this and --admin-secret. [env: SWITCHBOARD_ADMIN_PASSWORD]")
    var adminPassword: String?

    @Option(help: "Secret (at least 32 bytes) that signs the admin page's sessions. [env: SWITCHBOARD_ADMIN_SECRET]")
    var adminSecret: String?

    @Option(
        help: """
            Event loop threads. More threads than the CPUs the process may use only add thread switches. \
            [env: SWITCHBOARD_THREADS] (default: the CPUs this process may run on, from its affinity mask \
            (taskset) and cgroup)
            """
    )
    var threads: Int?

    @Option(
        help: """
            memory (one process, nothing to install), postgres (nodes sharing one PostgreSQL) or redis (nodes sharing \
            Redis). [env: SWITCHBOARD_ENGINE] (default: memory)
            """
    )
    var engine: String?

    @Option(
        name: .customLong("postgres-url"),
        help: "The database of --engine postgres: postgres://user:password@host:port/database[?sslmode=disable|prefer|require] [env: SWITCHBOARD_POSTGRES_URL]"
    )
    var postgresURL: String?

    @Option(
        name: .customLong("redis-url"),
        help: """
            A Redis of --engine redis: redis://[[user]:password@]host[:port][/db], rediss:// for TLS, or host:port. Give it \
            once per shard: channels are split across them by a stable hash of the name; every node must list the same \
            shards in the same order. [env: SWITCHBOARD_REDIS_URL, comma-separated]
            """
    )
    var redisURL: [String] = []

    @Option(
        name: .customLong("redis-prefix"),
        help: "The prefix of every Redis key and pub/sub channel, so several clusters can share one Redis. [env: SWITCHBOARD_REDIS_PREFIX] (default: switchboard)"
    )
    var redisPrefix: String?

    @Option(
        name: .customLong("node-ttl"),
        help: "Seconds after which a node that stopped heartbeating is dead and its users leave every channel (postgres and redis engines). [env: SWITCHBOARD_NODE_TTL] (default: 15)"
    )
    var nodeTTL: Double?

    @Option(
        name: .customLong("proxy-connect-endpoint"),
        help: "Backend URL the connect events of clients without a token are POSTed to (Centrifugo's connect proxy). [env: SWITCHBOARD_PROXY_CONNECT_ENDPOINT]"
    )
    var proxyConnectEndpoint: String?

    @Option(name: .customLong("proxy-connect-timeout"), help: "Seconds the connect proxy's backend has to answer. [env: SWITCHBOARD_PROXY_CONNECT_TIMEOUT] (default: 1)")
    var proxyConnectTimeout: Double?

    @Option(
        name: .customLong("proxy-refresh-endpoint"),
        help: "Backend URL that extends connections the connect proxy granted with an expiry. [env: SWITCHBOARD_PROXY_REFRESH_ENDPOINT]"
    )
    var proxyRefreshEndpoint: String?

    @Option(name: .customLong("proxy-refresh-timeout"), help: "Seconds the refresh proxy's backend has to answer. [env: SWITCHBOARD_PROXY_REFRESH_TIMEOUT] (default: 1)")
    var proxyRefreshTimeout: Double?

    @Option(name: .customLong("proxy-rpc-endpoint"), help: "Backend URL clients' rpc calls are POSTed to. [env: SWITCHBOARD_PROXY_RPC_ENDPOINT]")
    var proxyRPCEndpoint: String?

    @Option(name: .customLong("proxy-rpc-timeout"), help: "Seconds the rpc proxy's backend has to answer. [env: SWITCHBOARD_PROXY_RPC_TIMEOUT] (default: 1)")
    var proxyRPCTimeout: Double?

    @Option(
        name: .customLong("proxy-http-headers"),
        help: """
            Comma-separated headers of the client's HTTP request copied onto proxy requests, e.g. \
            Cookie,Authorization,Origin,User-Agent,X-Real-Ip. [env: SWITCHBOARD_PROXY_HTTP_HEADERS]
            """
    )
    var proxyHTTPHeaders: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try self.resolve(environment: environment)
        let threads = try self.resolveThreads(environment: environment)
        let engine = try self.resolveEngine(environment: environment, file: configuration.engineSettings)
        LoggingSystem.bootstrap(configuration.logFormat.makeHandler(level: configuration.logLevel))
        // NIO's singleton group, sized first: its event loops live as long as the process and are never
        // shut down. Hummingbird finishes its graceful shutdown in a task of its own, which can still
        // complete promises on the loops after `run()` has returned; a group shut down by then made NIO
        // print "Cannot schedule tasks on an EventLoop that has already shut down" (about one SIGTERM
        // in five, soon after start).
        NIOSingletons.groupLoopCountSuggestion = threads
        let group = MultiThreadedEventLoopGroup.singleton
        let logger = Logger(label: "switchboard")
        logger.info("Event loop threads", metadata: ["threads": "\(threads)"])
        // The proxy's HTTP client lives as long as the server: shut down once the server has stopped.
        let proxyClient = configuration.proxy.isEmpty ? nil : ProxyClient()
        let hooks = proxyClient.map { configuration.proxy.makeHooks(client: $0) } ?? Hooks()
        do {
            switch engine {
            case .memory:
                try await SwitchboardServer(configuration: configuration, eventLoopGroup: group, hooks: hooks).serve()
            case .postgres(let url, let nodeTTL):
                try await self.runNode(configuration: configuration, group: group, url: url, nodeTTL: nodeTTL, hooks: hooks, logger: logger)
            case .redis(let urls, let nodeTTL, let prefix):
                let engine = RedisEngine(urls: urls, settings: .init(nodeTTL: nodeTTL, prefix: prefix), eventLoopGroup: group, logger: logger)
                let server = try await SwitchboardServer(configuration: configuration, eventLoopGroup: group, engine: engine, hooks: hooks)
                logger.info("Joining the cluster", metadata: ["node": "\(engine.node)", "node_ttl": "\(nodeTTL)", "redis": "\(urls.map(\.description))"])
                try await server.serve()
            }
        } catch {
            try? await proxyClient?.shutdown()
            if let bindFailure = BindFailure.report(error, host: configuration.host, port: configuration.port) { throw bindFailure }
            logger.error("Switchboard stopped", metadata: ["error": "\(error)"])
            throw error
        }
        try? await proxyClient?.shutdown()
        logger.info("Switchboard stopped")
    }

    /// One node of a cluster on PostgreSQL: migrate the schema, then serve with the PostgreSQL engine.
    private func runNode(configuration: SwitchboardConfiguration, group: any EventLoopGroup, url: PostgresURL, nodeTTL: Duration, hooks: Hooks, logger: Logger) async throws {
        // The pool logs every failed connection attempt; the engine reports outages itself.
        var poolLogger = Logger(label: "switchboard.postgres")
        poolLogger.logLevel = max(configuration.logLevel, .error)
        let client = PostgresClient(configuration: url.configuration, backgroundLogger: poolLogger)
        let listenerClient = PostgresClient(configuration: url.configuration, backgroundLogger: poolLogger)
        try await withThrowingTaskGroup(of: Void.self) { clients in
            clients.addTask { await client.run() }
            clients.addTask { await listenerClient.run() }
            defer { clients.cancelAll() }
            let applied: [Int]
            do {
                applied = try await SchemaMigration.run(client, url: url, timeout: .seconds(30), logger: logger)
            } catch {
                throw MigrateError.failed(url: url, reason: "\(error)")
            }
            logger.info(
                "PostgreSQL schema ready",
                metadata: ["database": "\(url)", "version": "\(PostgresSchema.currentVersion)", "applied": "\(applied)"]
            )
            let engine = PostgresEngine(
                client: client,
                listenerClient: listenerClient,
                settings: .init(nodeTTL: nodeTTL, nodeName: ProcessInfo.processInfo.hostName),
                logger: logger
            )
            let server = try await SwitchboardServer(configuration: configuration, eventLoopGroup: group, engine: engine, hooks: hooks)
            logger.info("Joining the cluster", metadata: ["node": "\(engine.node)", "node_ttl": "\(nodeTTL)"])
            try await server.serve()
        }
    }

    /// `--threads`, `SWITCHBOARD_THREADS`, or the CPUs this process may run on.
    func resolveThreads(environment: [String: String]) throws -> Int {
        guard let threads = try self.threads ?? EnvironmentReader(environment: environment).value("THREADS", parse: Int.init) else {
            return AvailableCPUs.count
        }
        guard (1...1024).contains(threads) else { throw ValidationError("threads must be between 1 and 1024, got \(threads)") }
        return threads
    }

    /// Merge flags, environment and defaults into a configuration, checking every value.
    func resolve(environment: [String: String]) throws -> SwitchboardConfiguration {
        let env = EnvironmentReader(environment: environment)
        var configuration = SwitchboardConfiguration()
        if let path = try self.config ?? env.string("CONFIG") {
            try ConfigurationLoader.read(path, into: &configuration)
        }
        configuration.host = try self.host ?? env.value("HOST") { $0.isEmpty ? nil : $0 } ?? configuration.host
        let port = try self.port ?? env.value("PORT", parse: Int.init) ?? configuration.port
        guard (0...65535).contains(port) else { throw ValidationError("port must be between 0 and 65535, got \(port)") }
        configuration.port = port

        let level = try self.logLevel ?? env.string("LOG_LEVEL")
        if let level {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ValidationError("log level must be one of trace, debug, info, notice, warning, error, critical; got '\(level)'")
            }
            configuration.logLevel = parsed
        }

        if let format = try self.logFormat ?? env.string("LOG_FORMAT") {
            guard let parsed = LogFormat(rawValue: format.lowercased()) else {
                throw ValidationError("log format must be text or json; got '\(format)'")
            }
            configuration.logFormat = parsed
        }
        if let enabled = try self.prometheus ?? env.value("PROMETHEUS", parse: Self.parseBool) {
            configuration.prometheus = enabled
        }

        if let limit = try self.maxConnections ?? env.value("MAX_CONNECTIONS", parse: Int.init) {
            guard limit > 0 else { throw ValidationError("max-connections must be at least 1, got \(limit)") }
            configuration.maxConnections = limit
        }
        if let origins = try self.allowedOrigins ?? env.string("ALLOWED_ORIGINS") {
            do {
                configuration.allowedOrigins = try OriginPolicy.parse(origins)
            } catch {
                throw ValidationError(error.description)
            }
        }
        if let size = try self.maxMessageSize ?? env.value("MAX_MESSAGE_SIZE", parse: Int.init) {
            guard (1...(1 << 30)).contains(size) else { throw ValidationError("max-message-size must be between 1 and 1073741824, got \(size)") }
            configuration.maxMessageSize = size
        }
        try self.resolveCompression(env: env, into: &configuration.compression)
        if let limit = try self.outboxLimit ?? env.value("OUTBOX_LIMIT", parse: Int.init) {
            guard limit > 0 else { throw ValidationError("outbox-limit must be at least 1, got \(limit)") }
            configuration.outboxLimit = limit
        }
        if let seconds = try self.pingInterval ?? env.value("PING_INTERVAL", parse: Double.init) {
            // Bounded before it becomes an integer (a huge value would trap the conversion).
            guard seconds >= 0, seconds <= Self.maximumSeconds else {
                throw ValidationError("ping-interval must be 0 (off) or more seconds, at most \(Int(Self.maximumSeconds)), got \(seconds)")
            }
            configuration.pingInterval = seconds == 0 ? nil : .milliseconds(Int64(seconds * 1000))
        }
        if let seconds = try self.closeTimeout ?? env.value("CLOSE_TIMEOUT", parse: Double.init) {
            guard seconds > 0, seconds <= Self.maximumSeconds else {
                throw ValidationError("close-timeout must be more than 0 seconds, at most \(Int(Self.maximumSeconds)), got \(seconds)")
            }
            configuration.closeTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let seconds = try self.requestHeadTimeout ?? env.value("REQUEST_HEAD_TIMEOUT", parse: Double.init) {
            guard seconds > 0, seconds.isFinite else { throw ValidationError("request-head-timeout must be more than 0 seconds, got \(seconds)") }
            configuration.requestHeadTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let seconds = try self.httpIdleTimeout ?? env.value("HTTP_IDLE_TIMEOUT", parse: Double.init) {
            guard seconds > 0, seconds.isFinite else { throw ValidationError("http-idle-timeout must be more than 0 seconds, got \(seconds)") }
            configuration.httpIdleTimeout = .milliseconds(Int64(seconds * 1000))
        }
        configuration.echoEndpoint = try self.echoEndpoint ?? env.value("ECHO_ENDPOINT", parse: Self.parseBool) ?? true
        if let prefix = try self.pathPrefix ?? env.string("PATH_PREFIX") {
            configuration.pathPrefix = prefix
        }
        if let allow = try self.allowAnonymous ?? env.value("ALLOW_ANONYMOUS", parse: Self.parseBool) {
            configuration.allowAnonymous = allow
        }
        if let secret = try self.tokenHmacSecret ?? env.string("TOKEN_HMAC_SECRET") {
            configuration.tokenKeys.hmacSecret = secret
        }
        if let secret = configuration.tokenKeys.hmacSecret, secret.utf8.count < JWTTokenVerifier.minimumSecretLength {
            throw ValidationError("the token HMAC secret must be at least \(JWTTokenVerifier.minimumSecretLength) bytes long")
        }
        if let key = try self.apiKey ?? env.string("API_KEY") {
            guard !key.isEmpty else { throw ValidationError("the API key must not be empty") }
            configuration.apiKey = key
        }
        if let password = try self.adminPassword ?? env.string("ADMIN_PASSWORD") {
            configuration.adminPassword = password
        }
        if let secret = try self.adminSecret ?? env.string("ADMIN_SECRET") {
            configuration.adminSecret = secret
        }
        try self.resolveProxy(env: env, into: &configuration.proxy)
        return configuration
    }

    /// The longest a duration flag may be (one day): longer pings or close timeouts mean "never",
    /// which 0 (pings) says, and a bound keeps the conversion to an integer from trapping.
    static let maximumSeconds: Double = 86_400

    static func parseBool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }
}
