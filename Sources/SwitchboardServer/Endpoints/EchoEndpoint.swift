import HummingbirdWebSocket
import Switchboard

/// `/ws`: the tutorial's echo. Text `X` is answered `Message text was: X`; binary comes back as the same bytes.
struct EchoEndpoint: WebSocketEndpoint {
    func receive(_ message: WebSocketMessage, on connection: Connection) async {
        switch message {
        case .text(let text):
            await connection.send(text: "Message text was: \(text)")
        case .binary(let bytes):
            await connection.send(.binary(bytes))
        }
    }
}

/// `/echo`: every message back verbatim, text as text and binary as binary. For diagnostics and
/// the Autobahn conformance suite.
struct RawEchoEndpoint: WebSocketEndpoint {
    func receive(_ message: WebSocketMessage, on connection: Connection) async {
        switch message {
        case .text(let text):
            await connection.send(text: text)
        case .binary(let bytes):
            await connection.send(.binary(bytes))
        }
    }
}
