public import Hummingbird
import HTTPTypes
import Switchboard

extension SwitchboardServer {
    /// Add Switchboard's HTTP routes to an application's router (or router group), under the
    /// configuration's ``SwitchboardConfiguration/pathPrefix``:
    ///
    /// * `POST /api/{method}`: the server API (behind ``SwitchboardConfiguration/apiKey``);
    /// * `GET|POST /connection/uni_sse`, `POST /connection/uni_http_stream`: the unidirectional streams;
    /// * `GET /health`: readiness (503 while the engine is unavailable);
    /// * `GET /metrics`: Prometheus metrics, when ``SwitchboardConfiguration/prometheus`` is on (docs/OBSERVABILITY.md);
    /// * `GET /static/switchboard.js`: the browser client of the protocol (an ES module);
    /// * the chat pages (`/`, `/tutorial`, `/static/…`) when ``SwitchboardConfiguration/tutorialEndpoints`` is on;
    /// * the admin page (`/admin`, `/admin/auth`, `/admin/api/{method}`) when an admin password and
    ///   secret are configured (``SwitchboardConfiguration/adminPassword``).
    ///
    /// Only these routes get Switchboard's CORS policy (``SwitchboardConfiguration/allowedOrigins``);
    /// the application's own routes are left as they are. The WebSocket endpoints are not routes:
    /// they come with the server (``Hummingbird/HTTPServerBuilder/switchboard(_:)``).
    public func addRoutes<Context: RequestContext>(to router: some RouterMethods<Context>) {
        let group = router.group(RouterPath(self.configuration.pathPrefix))
        group.add(middleware: CORSPolicyMiddleware<Context>(policy: self.configuration.allowedOrigins))
        self.webPage.addRoutes(
            to: group,
            underPrefix: !self.configuration.pathPrefix.isEmpty,
            pages: self.configuration.tutorialEndpoints,
            admin: self.admin != nil
        )
        self.admin?.addRoutes(to: group)
        ServerAPIRoutes(
            api: HTTPServerAPI(api: self.api),
            key: self.configuration.apiKey,
            maxBodySize: max(self.configuration.maxMessageSize, 1 << 20)
        ).addRoutes(to: group)
        UnidirectionalRoutes(service: self.service, registry: self.registry, configuration: self.configuration, logger: self.logger)
            .addRoutes(to: group)
        let registry = self.registry
        let engine = self.service.engine
        group.get("/health") { _, _ in
            // Readiness: a load balancer should stop sending clients to a node whose engine is down.
            let (status, body): (HTTPResponse.Status, JSONValue) =
                switch engine.status {
                case .ready: (.ok, .object(["status": .string("ok"), "connections": .integer(registry.count)]))
                case .unavailable(let reason):
                    (.serviceUnavailable, .object(["status": .string("unavailable"), "reason": .string(reason), "connections": .integer(registry.count)]))
                }
            return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body.jsonText)))
        }
        if let prometheus = self.prometheus {
            let hub = self.service.hub
            let sessions = self.service.sessions
            group.get("/metrics") { _, _ in
                let body = prometheus.render(hub: hub, sessions: sessions, connections: registry)
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: body))
                )
            }
        }
        // CORS preflights reach the middleware only through a route of their path.
        for path in ["/health", "/api/{method}", "/connection/uni_sse", "/connection/uni_http_stream"] {
            group.on(RouterPath(path), method: .options) { _, _ in Response(status: .methodNotAllowed) }
        }
    }
}
