import Switchboard

/// `/items/{item_id}/ws`: the tutorial's authenticated endpoint.
///
/// It needs a `session` cookie or a `token` query parameter (the cookie wins when both are given, as
/// in the tutorial's `session or token`); an optional `q` must be an integer. For each text `X` it
/// sends the credential, then `q` if given, then `X` with the item id.
struct ItemsEndpoint: WebSocketEndpoint {
    let itemID: String
    let credential: String
    let q: Int?

    init(request: WebSocketRequest, itemID: String) throws(EndpointRefusal) {
        // Python's `session or token` skips an empty cookie as well as a missing one.
        let session = request.cookies["session"]
        let token = request.query["token"]
        guard let credential = [session, token].lazy.compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            throw EndpointRefusal(.policyViolation("missing credentials: send a 'session' cookie or a 'token' query parameter"))
        }
        var q: Int?
        if let rawQ = request.query["q"] {
            guard let parsed = Int(rawQ) else {
                throw EndpointRefusal(.policyViolation("query parameter 'q' must be an integer, got '\(rawQ)'"))
            }
            q = parsed
        }
        self.itemID = itemID
        self.credential = credential
        self.q = q
    }

    func receive(_ message: InboundMessage, on connection: Connection) {
        guard case .text(let text) = message else {
            return connection.close(.unsupportedData("binary messages are not supported on this endpoint; send text"))
        }
        connection.send(text: "Session cookie or query token value is: \(self.credential)")
        if let q { connection.send(text: "Query parameter q is: \(q)") }
        connection.send(text: "Message text was: \(text), for item ID: \(self.itemID)")
    }
}
