import Switchboard

/// The WebSocket endpoints and their paths.
struct WebSocketRoutes: Sendable {
    let echoEndpoint: Bool
    let chatRoom: Room

    /// The endpoint for a request, a refusal, or `nil` when no route has this path.
    func endpoint(for request: WebSocketRequest) -> WebSocketAcceptor.Decision? {
        switch request.pathComponents {
        case ["ws"]:
            return .success(EchoEndpoint())
        case ["echo"] where self.echoEndpoint:
            return .success(RawEchoEndpoint())
        case ["json", "ws"]:
            return .success(JSONEndpoint())
        case let components where components.count == 3 && components[0] == "items" && components[2] == "ws":
            return Self.decide { () throws(EndpointRefusal) in try ItemsEndpoint(request: request, itemID: components[1]) }
        case let components where components.count == 2 && components[0] == "ws":
            return Self.decide { () throws(EndpointRefusal) in try ChatEndpoint(clientID: components[1], room: self.chatRoom) }
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
