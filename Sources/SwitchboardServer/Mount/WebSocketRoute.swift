public import Switchboard

/// A WebSocket endpoint of the application's own, served by Switchboard's WebSocket layer (the
/// same bounded outboxes, heartbeats, slow-consumer closes, origin policy, connection limit and
/// shutdown codes as Switchboard's endpoints), under the configuration's
/// ``SwitchboardConfiguration/pathPrefix``:
///
/// ```swift
/// let game = WebSocketRoute("/game/{id}") { request throws(EndpointRefusal) in
///     guard let id = request.parameters["id"] else { throw EndpointRefusal(.policyViolation("no game")) }
///     return GameEndpoint(id: id, hub: hub)
/// }
/// let switchboard = try await SwitchboardServer(configuration: configuration, webSocketRoutes: [game])
/// ```
///
/// Switchboard's own paths come first: a route with the same path as one of them is never reached.
public struct WebSocketRoute: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    let segments: [Segment]
    let make: @Sendable (WebSocketRouteRequest) throws(EndpointRefusal) -> any WebSocketEndpoint

    /// - Parameters:
    ///   - path: The path under the prefix; `{name}` matches one path component and names it in
    ///     ``WebSocketRouteRequest/parameters`` (`/rooms/{room}/ws`).
    ///   - endpoint: Makes the endpoint of one connection from its upgrade request, or refuses it:
    ///     the connection is then accepted and closed at once with the refusal's code and reason,
    ///     which browsers (which cannot see an HTTP status) can show.
    public init(_ path: String, endpoint: @escaping @Sendable (WebSocketRouteRequest) throws(EndpointRefusal) -> any WebSocketEndpoint) {
        self.segments = WebSocketRoutes.components(path).map { component in
            if component.hasPrefix("{"), component.hasSuffix("}"), component.count > 2 {
                return .parameter(String(component.dropFirst().dropLast()))
            }
            return .literal(component)
        }
        self.make = endpoint
    }

    /// The path parameters, if `components` (after the prefix) is this route's path.
    func match(_ components: ArraySlice<String>) -> [String: String]? {
        guard components.count == self.segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, component) in zip(self.segments, components) {
            switch segment {
            case .literal(let literal): guard literal == component else { return nil }
            case .parameter(let name): parameters[name] = component
            }
        }
        return parameters
    }
}

/// What a ``WebSocketRoute`` sees of an upgrade request.
public struct WebSocketRouteRequest: Sendable {
    /// The route's `{name}` path parameters, percent-decoded.
    public let parameters: [String: String]
    /// Query parameters, percent-decoded; the first value of each name.
    public let query: [String: String]
    /// Cookies from the `Cookie` headers; the first value of each name.
    public let cookies: [String: String]
    /// The whole request: headers, target and the peer's address.
    public let request: ConnectionRequest
}
