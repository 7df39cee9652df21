import Switchboard

/// The WebSocket endpoints and their paths, under the configuration's ``SwitchboardConfiguration/pathPrefix``.
struct WebSocketRoutes: Sendable {
    let echoEndpoint: Bool
    let tutorialEndpoints: Bool
    let service: ChannelService
    let chatChannel: String
    /// The prefix's path components (`/realtime` → `["realtime"]`).
    let prefix: [String]
    /// The application's own endpoints, after Switchboard's.
    let custom: [WebSocketRoute]

    init(configuration: SwitchboardConfiguration, service: ChannelService, custom: [WebSocketRoute] = []) {
        self.custom = custom
        self.echoEndpoint = configuration.echoEndpoint
        self.tutorialEndpoints = configuration.tutorialEndpoints
        self.service = service
        self.chatChannel = configuration.chatChannel
        self.prefix = Self.components(configuration.pathPrefix)
    }

    /// A path's components, without empty ones.
    static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map { String($0) }
    }

    /// The path components after the prefix, or `nil` for a path outside it.
    func relative(_ components: [String]) -> ArraySlice<String>? {
        guard components.count >= self.prefix.count, components[..<self.prefix.count].elementsEqual(self.prefix) else { return nil }
        return components[self.prefix.count...]
    }

    /// Whether a request for this path (percent-decoded components) would be Switchboard's: one of its
    /// WebSocket endpoints or unidirectional streams. A mounted Switchboard takes such connections
    /// and leaves every other to the application (``MountedChildChannel``).
    func serves(_ components: [String]) -> Bool {
        guard let path = self.relative(components) else { return false }
        switch Array(path) {
        case ["connection", "websocket"], ["connection", "uni_websocket"], ["connection", "uni_sse"], ["connection", "uni_http_stream"]:
            return true
        case ["echo"]:
            return self.echoEndpoint
        case ["ws"], ["json", "ws"]:
            return self.tutorialEndpoints
        case let other where other.count == 2 && other[0] == "ws", let other where other.count == 3 && other[0] == "items" && other[2] == "ws":
            return self.tutorialEndpoints
        default:
            return self.custom.contains { $0.match(path) != nil }
        }
    }

    /// The endpoint for a request, a refusal, or `nil` when no route has this path.
    func endpoint(for request: WebSocketRequest) -> WebSocketAcceptor.Decision? {
        guard let path = self.relative(request.pathComponents) else { return nil }
        if let own = self.builtIn(path, request) { return own }
        for route in self.custom {
            guard let parameters = route.match(path) else { continue }
            let routeRequest = WebSocketRouteRequest(parameters: parameters, query: request.query, cookies: request.cookies, request: request.connectionRequest)
            return Self.decide { () throws(EndpointRefusal) in try route.make(routeRequest) }
        }
        return nil
    }

    /// The endpoint of one of Switchboard's own paths, its refusal, or `nil` for another path.
    private func builtIn(_ path: ArraySlice<String>, _ request: WebSocketRequest) -> WebSocketAcceptor.Decision? {
        switch Array(path) {
        case ["connection", "websocket"]:
            let (format, subprotocol) = ProtocolFormat.negotiate(subprotocols: request.subprotocols, query: request.query)
            return .success(ProtocolEndpoint(service: self.service, format: format, subprotocol: subprotocol, request: request.connectionRequest))
        case ["connection", "uni_websocket"]:
            return .success(UniWebSocketEndpoint(service: self.service, request: request.connectionRequest))
        case ["echo"] where self.echoEndpoint:
            return .success(RawEchoEndpoint())
        case _ where !self.tutorialEndpoints:
            return nil
        case ["ws"]:
            return .success(EchoEndpoint())
        case ["json", "ws"]:
            return .success(JSONEndpoint())
        case let components where components.count == 3 && components[0] == "items" && components[2] == "ws":
            return Self.decide { () throws(EndpointRefusal) in try ItemsEndpoint(request: request, itemID: components[1]) }
        case let components where components.count == 2 && components[0] == "ws":
            return Self.decide { () throws(EndpointRefusal) in try ChatEndpoint(clientID: components[1], service: self.service, channel: self.chatChannel) }
        default:
            return nil
        }
    }

    /// The endpoint `make` builds, or its refusal.
    private static func decide(_ make: () throws(EndpointRefusal) -> any WebSocketEndpoint) -> WebSocketAcceptor.Decision {
        do {
            return .success(try make())
        } catch {
            return .failure(error)
        }
    }
}
