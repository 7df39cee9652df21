import Switchboard

/// The WebSocket endpoints and their paths.
struct WebSocketRoutes: Sendable {
    let echoEndpoint: Bool
    let chatRoom: Room

    /// The endpoint for a request, a refusal, or `nil` when no route has this path.
    func endpoint(for request: WebSocketRequest) -> Result<any WebSocketEndpoint, EndpointRefusal>? {
        switch request.pathComponents {
        case ["ws"]:
            return .success(EchoEndpoint())
        case ["echo"] where self.echoEndpoint:
            return .success(RawEchoEndpoint())
        case ["json", "ws"]:
            return .success(JSONEndpoint())
        case let components where components.count == 3 && components[0] == "items" && components[2] == "ws":
            return Result { () throws(EndpointRefusal) in try ItemsEndpoint(request: request, itemID: components[1]) }.map { $0 }
        case let components where components.count == 2 && components[0] == "ws":
            return Result { () throws(EndpointRefusal) in try ChatEndpoint(clientID: components[1], room: self.chatRoom) }.map { $0 }
        default:
            return nil
        }
    }
}
