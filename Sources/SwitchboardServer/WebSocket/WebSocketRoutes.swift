import Switchboard

/// The WebSocket endpoints and their paths.
struct WebSocketRoutes: Sendable {
    let echoEndpoint: Bool
    let service: ChannelService
    let chatChannel: String

    /// The endpoint for a request, a refusal, or `nil` when no route has this path.
    func endpoint(for request: WebSocketRequest) -> WebSocketAcceptor.Decision? {
        switch request.pathComponents {
        case ["ws"]:
            return .success(EchoEndpoint())
        case ["echo"] where self.echoEndpoint:
            return .success(RawEchoEndpoint())
        case ["json", "ws"]:
            return .success(JSONEndpoint())
        case ["connection", "websocket"]:
            let (format, subprotocol) = ProtocolFormat.negotiate(subprotocols: request.subprotocols, query: request.query)
            return .success(ProtocolEndpoint(service: self.service, format: format, subprotocol: subprotocol, request: request.connectionRequest))
        case ["connection", "uni_websocket"]:
            return .success(UniWebSocketEndpoint(service: self.service, request: request.connectionRequest))
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
