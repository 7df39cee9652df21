import HummingbirdCore
import NIOHTTP1
import Switchboard

/// What a WebSocket route sees of its upgrade request.
struct WebSocketRequest: Sendable {
    /// The path, percent-decoded, split into its components (`/items/42/ws` → `["items", "42", "ws"]`).
    let pathComponents: [String]
    /// Query parameters, percent-decoded; the first value of each name.
    let query: [String: String]
    /// Cookies from the `Cookie` headers; the first value of each name.
    let cookies: [String: String]
    /// The subprotocols the client offers (`Sec-WebSocket-Protocol`), in its order of preference.
    let subprotocols: [String]
    /// The request as the application's hooks see it: headers, URI and the peer's address.
    let connectionRequest: ConnectionRequest

    /// The path of a request target (`/items/42/ws?x=1`), percent-decoded, split into its components.
    static func pathComponents(of target: String) -> [String] {
        URI(target).path.split(separator: "/", omittingEmptySubsequences: true).map {
            String($0).removingPercentEncoding ?? String($0)
        }
    }

    init(head: HTTPRequestHead, remoteAddress: String? = nil) {
        self.connectionRequest = ConnectionRequest(
            headers: head.headers.map { (name: $0.name, value: $0.value) },
            uri: head.uri,
            remoteAddress: remoteAddress
        )
        let uri = URI(head.uri)
        self.pathComponents = Self.pathComponents(of: head.uri)
        var query: [String: String] = [:]
        for (name, value) in uri.queryParameters where query[String(name)] == nil {
            query[String(name)] = String(value)
        }
        self.query = query
        self.cookies = self.connectionRequest.cookies
        self.subprotocols = head.headers[canonicalForm: "sec-websocket-protocol"].map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
