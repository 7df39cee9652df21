import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Switchboard

/// Decides WebSocket upgrades and sets up the pipeline of each accepted connection.
struct WebSocketAcceptor: Sendable {
    let routes: WebSocketRoutes
    let registry: ConnectionRegistry
    /// Every upgraded connection, closed on shutdown if still open, and the heartbeat.
    let openConnections: OpenConnections
    let configuration: SwitchboardConfiguration
    let logger: Logger
    /// Where transport messages and server disconnects are counted, or `nil` when metrics are off.
    let metrics: SwitchboardMetrics?
    /// The connections' observers, one per transport (not one per connection).
    let observers: ConnectionObserver.Cache

    init(
        routes: WebSocketRoutes,
        registry: ConnectionRegistry,
        openConnections: OpenConnections,
        configuration: SwitchboardConfiguration,
        logger: Logger,
        metrics: SwitchboardMetrics? = nil
    ) {
        self.metrics = metrics
        self.routes = routes
        self.registry = registry
        self.openConnections = openConnections
        self.configuration = configuration
        self.logger = logger
        self.observers = ConnectionObserver.Cache(logger: logger, metrics: metrics)
        if configuration.compression.isEnabled { OutboundMessage.shareCompressedFrames() }
    }

    /// What a handshake asks for: the endpoint it will get, or why it will be closed at once.
    typealias Decision = Result<any WebSocketEndpoint, EndpointRefusal>

    /// Decide a handshake: `nil` refuses it (HTTP 400) for a `Sec-WebSocket-Key` that is not 16
    /// base64-encoded bytes, a disallowed `Origin` or a path with no WebSocket route; otherwise the
    /// upgrade goes ahead with this decision.
    ///
    /// - Parameter remoteAddress: The peer's address, for the application's hooks.
    func decide(_ head: HTTPRequestHead, remoteAddress: String? = nil) -> Decision? {
        // NIO's upgrader checks that there is one key, not what it is.
        guard let key = head.headers["Sec-WebSocket-Key"].first, Self.isValidKey(key) else {
            self.logger.info("Refused WebSocket handshake: Sec-WebSocket-Key is not 16 base64-encoded bytes", metadata: ["path": .string(head.uri)])
            return nil
        }
        let origins = head.headers["Origin"]
        guard self.configuration.allowedOrigins.allows(origins: origins, host: head.headers["Host"].first) else {
            self.logger.notice(
                "Refused WebSocket handshake from a disallowed origin",
                metadata: ["origin": .string(origins.joined(separator: ", ")), "path": .string(head.uri)]
            )
            return nil
        }
        guard let decision = self.routes.endpoint(for: WebSocketRequest(head: head, remoteAddress: remoteAddress)) else {
            self.logger.info("Refused WebSocket handshake: no such endpoint", metadata: ["path": .string(head.uri)])
            return nil
        }
        return decision
    }

    /// permessage-deflate for a handshake: the accepted offer of its `Sec-WebSocket-Extensions`, or
    /// `nil` when compression is off or no offer is acceptable (the connection is then uncompressed).
    func negotiateDeflate(_ head: HTTPRequestHead) -> DeflateParameters? {
        guard self.configuration.compression.isEnabled else { return nil }
        return DeflateParameters.negotiate(head.headers["Sec-WebSocket-Extensions"])
    }

    /// Whether `key` is 16 bytes in base64 (RFC 6455 §4.2.1 item 5): 22 characters of the base64
    /// alphabet and `==`.
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else { return false }
        return bytes[..<22].allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default:
                false
            }
        }
    }

    /// Add the connection's handlers after a completed upgrade. Called on the channel's event loop.
    ///
    /// - Parameter deflate: permessage-deflate as negotiated (``negotiateDeflate(_:)``), or `nil`.
    func setUpConnection(on channel: any Channel, decision: Decision, deflate: DeflateParameters? = nil) throws {
        var settings = WebSocketConnectionHandler.Settings(
            maxMessageSize: self.configuration.maxMessageSize,
            connections: self.openConnections.on(channel.eventLoop),
            closeTimeout: self.configuration.closeTimeout
        )
        settings.deflate = deflate
        let endpoint: any WebSocketEndpoint
        switch decision {
        case .success(let made):
            endpoint = made
            settings.observer = self.observers.observer(transport: Self.transportName(made), overflowReason: made.overflowReason)
        case .failure(let refusal):
            settings.observer = self.observers.observer(transport: "websocket")
            self.logger.info(
                "Refused WebSocket request",
                metadata: ["close.code": "\(refusal.reason.code)", "close.reason": "\(refusal.reason.reason)"]
            )
            return try self.refuse(refusal.reason, on: channel, settings: settings)
        }

        // The outbox wakes the handler, which drains it.
        let wake = OutboxWake(eventLoop: channel.eventLoop)
        let outbox = wake.outbox(limit: self.configuration.outboxLimit, overflowReason: endpoint.overflowReason)

        let id: ConnectionID
        switch self.registry.register(outbox, shutdownReason: endpoint.shutdownReason) {
        case .registered(let registered):
            id = registered
        case .atLimit(let limit):
            self.logger.notice("Refused WebSocket connection: at connection limit", metadata: ["limit": "\(limit)"])
            return try self.refuse(.connectionLimit(limit), on: channel, settings: settings)
        case .shuttingDown:
            return try self.refuse(.serverShuttingDown, on: channel, settings: settings)
        }
        settings.compression = deflate.map {
            OutboundCompression(minimumSize: self.configuration.compression.minimumSize, windowBits: $0.serverMaxWindowBits, level: self.configuration.compression.level)
        }
        settings.registry = self.registry
        let handler = WebSocketConnectionHandler(role: .serve(endpoint, Connection(id: id, outbox: outbox), wake), settings: settings)
        wake.attach(handler)
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    /// The `transport` label of a connection's metrics: Centrifugo's names for its transports,
    /// `websocket_raw` for the tutorial's and the application's own endpoints.
    static func transportName(_ endpoint: any WebSocketEndpoint) -> String {
        switch endpoint {
        case is ProtocolEndpoint: "websocket"
        case is UniWebSocketEndpoint: "uni_websocket"
        default: "websocket_raw"
        }
    }

    private func refuse(_ reason: CloseReason, on channel: any Channel, settings: WebSocketConnectionHandler.Settings) throws {
        try channel.pipeline.syncOperations.addHandler(WebSocketConnectionHandler(role: .refuse(reason), settings: settings))
    }
}
