import Synchronization
import Switchboard

/// `/connection/websocket`: the Centrifugo client protocol (JSON) over one connection, run by a
/// ``ClientSession``.
final class ProtocolEndpoint: WebSocketEndpoint {
    private let service: ChannelService
    private let session = Mutex<ClientSession?>(nil)

    init(service: ChannelService) {
        self.service = service
    }

    var overflowReason: CloseReason { Disconnect.slow }

    var heartbeat: Heartbeat { .message(Push.ping, timeout: Disconnect.noPong) }
    var shutdownReason: CloseReason { Disconnect.shutdown }

    func opened(_ connection: Connection) {
        self.session.withLock { $0 = ClientSession(connection: connection, service: self.service) }
    }

    func receive(_ message: InboundMessage, on connection: Connection) {
        guard case .text(let text) = message else {
            return connection.close(Disconnect.badRequest("binary frames are not supported: this endpoint speaks the JSON protocol"))
        }
        self.session.withLock { $0 }?.receive(text)
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
