import Foundation
public import Hummingbird
import HummingbirdCore
public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
public import UnixSignals
public import Switchboard

/// Switchboard: the Centrifugo client protocol, the server API, the tutorial's endpoints and the
/// pages, with the policies of ``SwitchboardConfiguration`` — as a standalone server
/// (``serve(onRunning:)``, what `switchboard serve` runs) or mounted in an existing Hummingbird 2
/// application, next to its own routes (docs/EMBEDDING.md):
///
/// ```swift
/// let switchboard = try await SwitchboardServer(configuration: configuration, hooks: hooks)
/// switchboard.addRoutes(to: router)                     // HTTP: server API, unidirectional streams, pages
/// let app = Application(
///     router: router,
///     server: .switchboard(switchboard),                // WebSocket endpoints on the app's port
///     services: [switchboard]                           // engine, sweeps, graceful close (3001/1001)
/// )
/// try await switchboard.api.publish(["text": "hi"], to: "rooms:lobby")
/// ```
///
/// Both ways run the same WebSocket layer with the same origin policy, limits, heartbeats,
/// slow-consumer closes and shutdown codes. The standalone server is built from this public API
/// only (``makeApplication(onRunning:)``).
public struct SwitchboardServer: Sendable {
    /// What the server was configured with.
    public let configuration: SwitchboardConfiguration
    /// Every open WebSocket connection.
    public let registry: ConnectionRegistry
    /// Channels, protocol sessions, token checking and hooks.
    public let service: ChannelService
    /// The server API in Swift: publish, presence, history, disconnect… from the application's code.
    public let api: ServerAPI
    let logger: Logger
    let webPage: WebPage
    /// The admin page's routes, when it is on.
    let admin: AdminRoutes?
    /// Where connections run; `nil` for NIO's shared singleton group.
    let eventLoopGroup: (any EventLoopGroup)?
    /// Every upgraded WebSocket connection until it closes, and their heartbeat; none is left when
    /// the server has stopped.
    let openConnections: OpenConnections
    /// Decides WebSocket upgrades and sets up each connection.
    let acceptor: WebSocketAcceptor
    /// The Prometheus metrics served at `/metrics`, or `nil` when ``SwitchboardConfiguration/prometheus`` is off.
    public let prometheus: SwitchboardPrometheus?

    /// The version reported by the protocol and the API.
    public static let version = "0.2.0"

    /// Create a server. Nothing is bound until ``serve(onRunning:)`` (standalone) or until the
    /// application it is mounted in runs.
    ///
    /// - Parameters:
    ///   - eventLoopGroup: Where the standalone server's connections run; NIO's shared singleton
    ///     group by default. The caller owns a group it passes and shuts it down after the server has
    ///     stopped, but not at once: Hummingbird finishes its graceful shutdown in a task of its own
    ///     that may still complete a promise on the group just after ``serve(onRunning:)`` returns
    ///     (which makes NIO print "Cannot schedule tasks on an EventLoop that has already shut
    ///     down"). `switchboard serve` uses the singleton group, which is never shut down. Not used
    ///     when mounted: the application's group runs everything.
    ///   - engine: Where channels live: in this process (the default) or shared with other nodes
    ///     (`SwitchboardPostgres`). The server runs its background work (``Engine/run()``).
    ///   - hooks: The application's say in who connects, subscribes, publishes and what `rpc` answers
    ///     (none by default: tokens and the configuration decide).
    ///   - webSocketRoutes: WebSocket endpoints of the application's own, on Switchboard's WebSocket
    ///     layer (``WebSocketRoute``).
    /// - Throws: when the embedded web pages do not decode (a broken `Generated/EmbeddedPages.swift`), or a token key cannot be read.
    public init(
        configuration: SwitchboardConfiguration,
        logger: Logger? = nil,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        engine: any Engine = MemoryEngine(),
        hooks: Hooks? = nil,
        webSocketRoutes: [WebSocketRoute] = []
    ) async throws {
        let logger = logger ?? {
            var logger = Logger(label: "switchboard")
            logger.logLevel = configuration.logLevel
            return logger
        }()
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.registry = ConnectionRegistry(limit: configuration.maxConnections)
        let prometheus = configuration.prometheus ? SwitchboardPrometheus() : nil
        self.prometheus = prometheus
        self.service = ChannelService(
            engine: engine,
            channels: configuration.channels,
            verifier: try await JWTTokenVerifier(keys: configuration.tokenKeys, rules: configuration.tokenRules),
            settings: {
                var settings = ProtocolSettings(
                    allowAnonymous: configuration.acceptsAnonymous,
                    pingInterval: configuration.pingInterval,
                    expiredCloseDelay: configuration.expiredCloseDelay,
                    version: "switchboard \(Self.version)",
                    maxCommandsPerMessage: configuration.maxCommandsPerMessage,
                    maxHistoryReplyBytes: configuration.maxHistoryReplyBytes
                )
                settings.subscribeToUserPersonalChannel = configuration.subscribeToUserPersonalChannel
                settings.userPersonalChannelNamespace = configuration.userPersonalChannelNamespace
                return settings
            }(),
            hooks: hooks ?? Hooks(logger: logger),
            metrics: prometheus?.metrics
        )
        // Centrifugo's node name: the host and the port, which tells apart nodes on one machine.
        let api = ServerAPI(service: self.service, node: NodeIdentity(name: "\(ProcessInfo.processInfo.hostName)_\(configuration.port)", version: Self.version))
        self.api = api
        self.service.engine.shareNodeInfo { api.info() }
        self.admin = try AdminRoutes(configuration: configuration, api: HTTPServerAPI(api: api))
        self.webPage = try WebPage.load()
        self.openConnections = OpenConnections(heartbeatInterval: configuration.pingInterval)
        self.acceptor = WebSocketAcceptor(
            routes: WebSocketRoutes(configuration: configuration, service: self.service, custom: webSocketRoutes),
            registry: self.registry,
            openConnections: self.openConnections,
            configuration: configuration,
            logger: logger,
            metrics: prometheus?.metrics
        )
    }

    // MARK: Standalone

    /// Serve standalone until SIGTERM or SIGINT (or until the task is cancelled), then shut down
    /// gracefully.
    ///
    /// - Parameter onRunning: Called with the bound port once the server accepts connections.
    public func serve(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = self.makeServiceGroup(gracefulShutdownSignals: [.sigterm, .sigint], onRunning: onRunning)
        // A connection upgraded after the shutdown (while the HTTP server was still quiescing) may
        // still be open, and the caller is about to shut the event loop group down.
        do {
            try await group.run()
        } catch {
            await self.openConnections.closeAll(timeout: .seconds(1))
            throw error
        }
        await self.openConnections.closeAll(timeout: .seconds(1))
    }

    /// The standalone application and Switchboard's own service, in the order they must run (the
    /// application first: services stop in reverse order, so connections close with their shutdown
    /// codes before the HTTP server stops).
    public func makeServiceGroup(
        gracefulShutdownSignals: [UnixSignal] = [],
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: [self.makeListener(onRunning: onRunning), self],
                gracefulShutdownSignals: gracefulShutdownSignals,
                logger: self.logger
            )
        )
    }

    /// The standalone application as a Hummingbird `Application`: a router with nothing but
    /// Switchboard's routes, and Switchboard's server on the configured address. (`serve` and
    /// ``makeServiceGroup(gracefulShutdownSignals:onRunning:)`` run the same routes and connections
    /// on Switchboard's own listener, which spares each connection a Swift task.)
    public func makeApplication(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        self.addRoutes(to: router)
        return Application(
            router: router,
            server: .switchboard(self),
            configuration: .init(address: .hostname(self.configuration.host, port: self.configuration.port), serverName: Self.serverName),
            onServerRunning: { channel in await self.listening(on: channel, onRunning: onRunning) },
            eventLoopGroupProvider: self.eventLoopGroup.map { .shared($0) } ?? .singleton,
            logger: self.logger
        )
    }

    /// The standalone server: Switchboard's routes and connections on its own listener
    /// (``StandaloneListener``), on the configured address.
    func makeListener(onRunning: @escaping @Sendable (Int) async -> Void) -> some Service {
        let router = Router()
        self.addRoutes(to: router)
        let responder = StandaloneListener.responder(router.buildResponder(), serverName: Self.serverName, logger: self.logger)
        return StandaloneListener(
            host: self.configuration.host,
            port: self.configuration.port,
            eventLoopGroup: self.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton,
            childChannel: self.childChannel(responder: responder),
            onRunning: { channel in await self.listening(on: channel, onRunning: onRunning) },
            logger: self.logger
        )
    }

    /// The `Server` header of the standalone server's responses.
    static let serverName = "switchboard"

    /// Once the standalone server's socket is bound: accept backoff, the log line, `onRunning`.
    private func listening(on channel: any Channel, onRunning: @Sendable (Int) async -> Void) async {
        let configuration = self.configuration
        await Self.serverRunning(channel, logger: self.logger)
        let port = channel.localAddress?.port ?? configuration.port
        self.logger.info(
            "Switchboard listening",
            metadata: [
                "address": "http://\(configuration.host):\(port)\(configuration.pathPrefix)",
                "allowed_origins": "\(configuration.allowedOrigins)",
                "max_connections": "\(configuration.maxConnections.map(String.init) ?? "unlimited")",
                "anonymous_connections": "\(configuration.acceptsAnonymous ? "allowed" : "refused")",
                "server_api": "\(configuration.apiKey == nil ? "off (no API key)" : "on")",
                "namespaces": "\(configuration.channels.namespaces.keys.sorted().joined(separator: ","))",
            ]
        )
        await onRunning(port)
    }

    /// What the listening socket needs once bound; call it from the application's `onServerRunning`
    /// when Switchboard is mounted. Out of file descriptors, `accept()` fails at once again and again;
    /// this pauses accepting for a second at a time instead of spinning (and logs it).
    public static func serverRunning(_ channel: any Channel, logger: Logger) async {
        try? await channel.pipeline.addHandler(AcceptBackoff(logger: logger), position: .first)
    }
}

// MARK: - Service

extension SwitchboardServer: Service {
    /// Switchboard's background work, as a service of the application's `ServiceGroup`: the engine
    /// (listening to other nodes, heartbeats) and memory trimming, until graceful shutdown; then
    /// every WebSocket is closed with its endpoint's shutdown code (3001 on the protocol endpoint,
    /// 1001 on the others) and the engine leaves the cluster.
    ///
    /// List it **after** the application (`services: [switchboard]` in `Application`, or after the
    /// app in a `ServiceGroup`): services stop in reverse order, so connections close with their
    /// codes before the HTTP server stops (which would send 1000).
    public func run() async throws {
        let shutdown = ShutdownService(
            registry: self.registry,
            openConnections: self.openConnections,
            closeTimeout: self.configuration.closeTimeout,
            logger: self.logger
        )
        let engine = EngineService(engine: self.service.engine, logger: self.logger)
        let trimmer = MemoryTrimService(registry: self.registry)
        // Stops in reverse order: connections close first, then the engine (whose subscribers
        // have left by then).
        let group = ServiceGroup(configuration: .init(services: [engine, trimmer, shutdown], logger: self.logger))
        // A connection upgraded after the shutdown service ran (while the application's server was
        // still quiescing) may still be open: nothing WebSocket outlives the service.
        do {
            try await group.run()
        } catch {
            await self.openConnections.closeAll(timeout: .seconds(1))
            throw error
        }
        await self.openConnections.closeAll(timeout: .seconds(1))
    }
}
