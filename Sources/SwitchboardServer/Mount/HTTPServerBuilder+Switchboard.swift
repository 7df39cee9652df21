public import HummingbirdCore
import NIOCore

extension HTTPServerBuilder {
    /// An HTTP/1 server whose WebSocket upgrades go to Switchboard's endpoints (under the
    /// configuration's ``SwitchboardConfiguration/pathPrefix``), and whose other requests go to the
    /// application's router as usual. For an application without WebSocket routes of its own:
    ///
    /// ```swift
    /// let app = Application(router: router, server: .switchboard(switchboard), …)
    /// ```
    ///
    /// An upgrade to any other path is refused with 400, as Hummingbird refuses one no route serves.
    public static func switchboard(_ server: SwitchboardServer) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in server.childChannel(responder: responder) }
    }

    /// Switchboard next to the application's own connection handling, on the same port: a
    /// connection whose first request is for one of Switchboard's WebSocket endpoints or
    /// unidirectional streams is Switchboard's; every other connection is handled by the child
    /// channel `otherConnections` makes, exactly as without Switchboard. For an application with
    /// its own `HummingbirdWebSocket` routes:
    ///
    /// ```swift
    /// let wsResponder = wsRouter.buildResponder()
    /// …
    /// server: .switchboard(switchboard) { responder in
    ///     HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: wsResponder, configuration: .init())
    /// }
    /// ```
    ///
    /// - Parameter otherConnections: Builds the application's child channel from the HTTP responder
    ///   (what the application's `HTTPServerBuilder` would build: `HTTP1Channel`,
    ///   `HTTP1WebSocketUpgradeChannel`…).
    public static func switchboard<Other: ServerChildChannel>(
        _ server: SwitchboardServer,
        otherConnections: @escaping @Sendable (@escaping HTTPChannelHandler.Responder) throws -> Other
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            MountedChildChannel(
                switchboard: server.childChannel(responder: responder),
                other: try otherConnections(responder),
                routes: server.acceptor.routes,
                headTimeout: .init(server.configuration.requestHeadTimeout)
            )
        }
    }
}

extension SwitchboardServer {
    /// Switchboard's HTTP/1 child channel, serving `responder` for plain requests.
    func childChannel(responder: @escaping HTTPChannelHandler.Responder) -> SwitchboardChildChannel {
        SwitchboardChildChannel(
            responder: responder,
            acceptor: self.acceptor,
            http1: .init(),
            deadlines: .init(requestHead: .init(self.configuration.requestHeadTimeout), idle: .init(self.configuration.httpIdleTimeout))
        )
    }
}
