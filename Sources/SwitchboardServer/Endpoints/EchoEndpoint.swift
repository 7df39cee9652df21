import Switchboard

/// `/ws`: the tutorial's echo. Text `X` is answered `Message text was: X`; binary comes back as the same bytes.
struct EchoEndpoint: WebSocketEndpoint {
    func receive(_ message: InboundMessage, on connection: Connection) {
        switch message {
        case .text(let text):
            connection.send(text: "Message text was: \(text)")
        case .binary(let bytes):
            connection.send(.binary(bytes))
        }
    }
}

/// `/echo`: every message back verbatim, text as text and binary as binary. For diagnostics and
/// the Autobahn conformance suite.
struct RawEchoEndpoint: WebSocketEndpoint {
    func receive(_ message: InboundMessage, on connection: Connection) {
        switch message {
        case .text(let text):
            connection.send(text: text)
        case .binary(let bytes):
            connection.send(.binary(bytes))
        }
    }
}
