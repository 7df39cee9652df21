import Hummingbird
import HummingbirdCore
public import Logging
import NIOCore
public import ServiceLifecycle
public import UnixSignals
public import Switchboard

/// The Switchboard application: the tutorial's endpoints, the chat page and the health check, with
/// the policies of ``SwitchboardConfiguration``.
public struct SwitchboardServer: Sendable {
    /// What the server was configured with.
    public let configuration: SwitchboardConfiguration
    /// Every open WebSocket connection.
    public let registry: ConnectionRegistry
    /// Channels, protocol sessions and token checking.
    public let service: ChannelService
    let logger: Logger
    let webPage: WebPage
    /// Where connections run; `nil` for NIO's shared singleton group.
    let eventLoopGroup: (any EventLoopGroup)?
    /// Every upgraded WebSocket channel until it closes; none is left when ``run(onRunning:)`` returns.
    let openChannels = OpenChannels()

    /// The version reported by the protocol and the API.
    public static let version = "0.2.0"

    /// Create a server. Nothing is bound until ``run(onRunning:)``.
    ///
    /// - Parameters:
    ///   - eventLoopGroup: Where connections run; NIO's shared singleton group by default. The caller
    ///     owns a group it passes and shuts it down after the server has stopped, but not at once:
    ///     Hummingbird finishes its graceful shutdown in a task of its own that may still complete a
    ///     promise on the group just after ``run(onRunning:)`` returns (which makes NIO print "Cannot
    ///     schedule tasks on an EventLoop that has already shut down"). `switchboard serve` uses the
    ///     singleton group, which is never shut down.
    ///   - engine: Where channels live: in this process (the default) or shared with other nodes
    ///     (`SwitchboardPostgres`). The server runs its background work (``Engine/run()``).
    ///   - hooks: The application's say in what clients do (``Hooks``); none by default.
    /// - Throws: when the web page's resources are missing from the install, or a token key cannot be read.
    public init(
        configuration: SwitchboardConfiguration,
        logger: Logger? = nil,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        engine: any Engine = MemoryEngine(),
        hooks: Hooks = Hooks()
    ) async throws {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.registry = ConnectionRegistry(limit: configuration.maxConnections)
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
            hooks: hooks
        )
        self.logger = logger ?? {
            var logger = Logger(label: "switchboard")
            logger.logLevel = configuration.logLevel
            return logger
        }()
        self.webPage = try WebPage.load()
    }

    /// Serve until SIGTERM or SIGINT (or until the task is cancelled), then shut down gracefully.
    ///
    /// - Parameter onRunning: Called with the bound port once the server accepts connections.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = self.makeServiceGroup(gracefulShutdownSignals: [.sigterm, .sigint], onRunning: onRunning)
        // A connection upgraded after the shutdown service ran (while the HTTP server was still
        // quiescing) may still be open, and the caller is about to shut the event loop group down.
        do {
            try await group.run()
        } catch {
            await self.openChannels.closeAll(timeout: .seconds(1))
            throw error
        }
        await self.openChannels.closeAll(timeout: .seconds(1))
    }

    /// The application and its shutdown service, in the order they must run.
    public func makeServiceGroup(
        gracefulShutdownSignals: [UnixSignal] = [],
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> ServiceGroup {
        let app = self.makeApplication(onRunning: onRunning)
        let shutdown = ShutdownService(registry: self.registry, openChannels: self.openChannels, closeTimeout: self.configuration.closeTimeout)
        // Services stop in reverse order: connections close first, then the engine (whose subscribers
        // have left by then), then the application.
        let engine = EngineService(engine: self.service.engine)
        let trimmer = MemoryTrimService(registry: self.registry)
        return ServiceGroup(
            configuration: .init(
                services: [app, engine, trimmer, shutdown],
                gracefulShutdownSignals: gracefulShutdownSignals,
                logger: self.logger
            )
        )
    }

    func makeApplication(onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let configuration = self.configuration
        let logger = self.logger
        let acceptor = WebSocketAcceptor(
            routes: WebSocketRoutes(echoEndpoint: configuration.echoEndpoint, service: self.service, chatChannel: configuration.chatChannel),
            registry: self.registry,
            openChannels: self.openChannels,
            configuration: configuration,
            logger: logger
        )
        return Application(
            router: self.makeHTTPRouter(),
            server: HTTPServerBuilder { responder in
                SwitchboardChildChannel(
                    responder: responder,
                    acceptor: acceptor,
                    http1: .init(),
                    deadlines: .init(requestHead: .init(configuration.requestHeadTimeout), idle: .init(configuration.httpIdleTimeout))
                )
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "switchboard"),
            onServerRunning: { channel in
                // Out of file descriptors, accept() fails; without this the listening socket spins.
                try? await channel.pipeline.addHandler(AcceptBackoff(logger: logger), position: .first)
                let port = channel.localAddress?.port ?? configuration.port
                logger.info(
                    "Switchboard listening",
                    metadata: [
                        "address": "http://\(configuration.host):\(port)",
                        "allowed_origins": "\(configuration.allowedOrigins)",
                        "max_connections": "\(configuration.maxConnections.map(String.init) ?? "unlimited")",
                        "anonymous_connections": "\(configuration.acceptsAnonymous ? "allowed" : "refused")",
                        "server_api": "\(configuration.apiKey == nil ? "off (no API key)" : "on")",
                        "namespaces": "\(configuration.channels.namespaces.keys.sorted().joined(separator: ","))",
                    ]
                )
                await onRunning(port)
            },
            eventLoopGroupProvider: self.eventLoopGroup.map { .shared($0) } ?? .singleton,
            logger: logger
        )
    }

    func makeHTTPRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(CORSPolicyMiddleware(policy: self.configuration.allowedOrigins))
        self.webPage.addRoutes(to: router)
        ServerAPIRoutes(
            api: ServerAPI(service: self.service, startedAt: .now, nodeID: ClientSession.makeClientID(), version: Self.version),
            key: self.configuration.apiKey,
            maxBodySize: max(self.configuration.maxMessageSize, 1 << 20)
        ).addRoutes(to: router)
        UnidirectionalRoutes(service: self.service, registry: self.registry, configuration: self.configuration, logger: self.logger)
            .addRoutes(to: router)
        let registry = self.registry
        let engine = self.service.engine
        router.get("/health") { _, _ in
            // Readiness: a load balancer should stop sending clients to a node whose engine is down.
            let (status, body): (HTTPResponse.Status, JSONValue) =
                switch engine.status {
                case .ready: (.ok, .object(["status": .string("ok"), "connections": .integer(registry.count)]))
                case .unavailable(let reason):
                    (.serviceUnavailable, .object(["status": .string("unavailable"), "reason": .string(reason), "connections": .integer(registry.count)]))
                }
            return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body.jsonText)))
        }
        return router
    }
}
