import Switchboard

/// `/json/ws`: each text message is parsed as JSON and answered `{"message":<the same value>}`.
/// Invalid JSON is answered `{"error":{"code":"invalid_json","message":"…"}}` and the connection stays open.
struct JSONEndpoint: WebSocketEndpoint {
    func receive(_ message: InboundMessage, on connection: Connection) {
        switch message {
        case .text(let text):
            do {
                let value = try JSONText.compact(text)
                connection.send(text: #"{"message":"# + value + "}")
            } catch {
                connection.send(text: Self.error(code: "invalid_json", message: error.description))
            }
        case .binary:
            connection.send(
                text: Self.error(code: "unsupported_data", message: "binary messages are not accepted; send JSON as a text message")
            )
        }
    }

    static func error(code: String, message: String) -> String {
        #"{"error":{"code":"# + JSONText.quote(code) + #","message":"# + JSONText.quote(message) + "}}"
    }
}
