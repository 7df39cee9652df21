import Synchronization
import Switchboard

/// `/connection/websocket`: the Centrifugo client protocol over one connection, in the format the
/// handshake chose (JSON, or Protobuf with the `centrifuge-protobuf` subprotocol), run by a
/// ``ClientSession``.
final class ProtocolEndpoint: WebSocketEndpoint {
    private let service: ChannelService
    private let format: ProtocolFormat
    let subprotocol: String?
    /// The upgrade request, for the application's hooks.
    private let request: ConnectionRequest
    private let session = Mutex<ClientSession?>(nil)

    init(service: ChannelService, format: ProtocolFormat, subprotocol: String?, request: ConnectionRequest = ConnectionRequest()) {
        self.service = service
        self.format = format
        self.subprotocol = subprotocol
        self.request = request
    }

    var overflowReason: CloseReason { Disconnect.slow }

    var heartbeat: Heartbeat { .message(self.format.ping, timeout: Disconnect.noPong) }
    var shutdownReason: CloseReason { Disconnect.shutdown }

    func opened(_ connection: Connection) {
        self.session.withLock { $0 = ClientSession(connection: connection, service: self.service, format: self.format, request: self.request, transportName: "websocket") }
    }

    func receive(_ message: InboundMessage, on connection: Connection) {
        self.session.withLock { $0 }?.receive(message)
    }

    /// Commands still waiting (for a token check, or for an engine that asks a database) are answered
    /// before the close frame.
    func peerClosing(_ connection: Connection, then finish: @escaping @Sendable () -> Void) {
        guard let session = self.session.withLock({ $0 }) else { return finish() }
        session.whenIdle(finish)
    }

    func closed(_ connection: Connection) {
        self.session.withLock { $0 }?.closed()
    }
}
