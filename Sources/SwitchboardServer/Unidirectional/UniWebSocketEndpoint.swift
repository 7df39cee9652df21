import Synchronization
import Switchboard

/// `/connection/uni_websocket`: Centrifugo's unidirectional WebSocket. The client's first text
/// message is its connect request (`{"token":…,"subs":{…}}`); from then on the server only pushes, one
/// push per text message, in the unidirectional shape (``UniPush``), and anything else the client
/// sends closes the connection with 3501.
///
/// Errors close the connection with their protocol code (a bad token 3500, malformed JSON 3501, …),
/// after a `{"disconnect":{"code":…,"reason":…}}` push saying the same, as Centrifugo (6.5.1 and later)
/// does by default; a close the client started gets no push.
/// The heartbeat is `{}` every ping interval with a WebSocket ping frame next to it: the client never
/// answers `{}`, but its WebSocket stack answers the ping, so a dead peer is still found.
final class UniWebSocketEndpoint: WebSocketEndpoint {
    private struct State {
        var session: ClientSession?
        var connectReceived = false
    }

    private let service: ChannelService
    private let state = Mutex(State())
    /// The upgrade request, for the application's hooks.
    private let request: ConnectionRequest

    init(service: ChannelService, request: ConnectionRequest = ConnectionRequest()) {
        self.service = service
        self.request = request
    }

    var overflowReason: CloseReason { Disconnect.slow }
    var shutdownReason: CloseReason { Disconnect.shutdown }
    var heartbeat: Heartbeat { .messageAndPing(UniPush.ping, timeout: Disconnect.noPong) }
    var outboundTransform: (@Sendable (OutboundMessage) -> OutboundMessage)? { Self.unidirectional }

    /// A push as the unidirectional protocol writes it: without the `{"push":…}` envelope.
    private static let unidirectional: @Sendable (OutboundMessage) -> OutboundMessage = { message in
        let push = UniPush.unwrap(message.bytes)
        return push.readableBytes == message.byteCount ? message : OutboundMessage(kind: .text, bytes: push)
    }

    func farewell(_ reason: CloseReason) -> OutboundMessage? {
        // Protocol disconnects only: not the answer to the client's own close (1000, 1002, …).
        guard reason.code >= 3000 else { return nil }
        return OutboundMessage(kind: .text, bytes: UniPush.disconnect(reason))
    }

    func opened(_ connection: Connection) {
        let session = ClientSession(
            connection: connection,
            service: self.service,
            format: .json,
            transport: .unidirectional,
            request: self.request,
            transportName: "uni_websocket"
        )
        self.state.withLock { $0.session = session }
    }

    func receive(_ message: InboundMessage, on connection: Connection) {
        let (session, isConnect) = self.state.withLock { state in
            defer { state.connectReceived = true }
            return (state.session, !state.connectReceived)
        }
        guard let session else { return }
        // After the connect request the session refuses everything (3501).
        guard isConnect else { return session.receive(message) }
        switch message {
        case .text(let request):
            session.connectUnidirectional(request)
        case .binary:
            session.disconnect(Disconnect.badRequest("the connect request must be a JSON object in a text message"))
        }
    }

    /// A connect request still waiting for its token check is answered before the close frame.
    func peerClosing(_ connection: Connection, then finish: @escaping @Sendable () -> Void) {
        guard let session = self.state.withLock({ $0.session }) else { return finish() }
        session.whenIdle(finish)
    }

    func closed(_ connection: Connection) {
        self.state.withLock { $0.session }?.closed()
    }
}
