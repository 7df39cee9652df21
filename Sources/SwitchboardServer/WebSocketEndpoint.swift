public import Switchboard

/// What one WebSocket connection does on a route. A route makes one endpoint value per connection
/// from the upgrade request (or refuses with an ``EndpointRefusal``); the connection calls
/// ``opened(_:)`` once, ``receive(_:on:)`` for each whole inbound message in order, and
/// ``closed(_:)`` once the connection is gone, however it went.
///
/// All three run on the connection's event loop and must not block: they send by enqueueing into
/// outboxes (``Connection/send(_:)``, or an ``Engine``, whose calls that wait run in a task of their own).
public protocol WebSocketEndpoint: Sendable {
    /// The connection is open and registered.
    func opened(_ connection: Connection)

    /// A whole message arrived.
    func receive(_ message: InboundMessage, on connection: Connection)

    /// The client sent its close frame. Call `finish` (from any thread) once the replies to the messages
    /// before it are queued; the connection then sends its close frame after them. The connection
    /// does not wait longer than its close timeout. By default `finish` is called at once: an
    /// endpoint that replies while it handles a message has queued everything by then.
    func peerClosing(_ connection: Connection, then finish: @escaping @Sendable () -> Void)

    /// The connection is gone (closed by either side, or dropped).
    func closed(_ connection: Connection)

    /// How the connection is closed when a broadcast overflows its outbox.
    var overflowReason: CloseReason { get }

    /// How the server checks that the peer is alive.
    var heartbeat: Heartbeat { get }

    /// How the connection is closed when the server shuts down.
    var shutdownReason: CloseReason { get }

    /// The subprotocol the handshake answers with (`Sec-WebSocket-Protocol`): one the client offered,
    /// or `nil` for none.
    var subprotocol: String? { get }

    /// Rewrites each message as the connection's writer takes it from the outbox, or `nil` to write
    /// messages as they were queued (the ready-made frames of broadcasts).
    var outboundTransform: (@Sendable (OutboundMessage) -> OutboundMessage)? { get }

    /// A last message to write before the close frame when the server closes the connection with
    /// this reason, or `nil` for none (the unidirectional WebSocket's `disconnect` push).
    func farewell(_ reason: CloseReason) -> OutboundMessage?
}

extension WebSocketEndpoint {
    public func opened(_ connection: Connection) {}
    public func peerClosing(_ connection: Connection, then finish: @escaping @Sendable () -> Void) { finish() }
    public func closed(_ connection: Connection) {}
    public var overflowReason: CloseReason { .slowConsumer }
    public var heartbeat: Heartbeat { .webSocketPing }
    public var shutdownReason: CloseReason { .serverShuttingDown }
    public var subprotocol: String? { nil }
    public var outboundTransform: (@Sendable (OutboundMessage) -> OutboundMessage)? { nil }
    public func farewell(_ reason: CloseReason) -> OutboundMessage? { nil }
}

/// How a connection's liveness is checked, every heartbeat interval. Whatever the kind, a peer that
/// sends nothing at all for two intervals is closed.
public enum Heartbeat: Sendable {
    /// WebSocket ping frames; the peer's silence closes with 1001 `ping timeout`.
    case webSocketPing
    /// An application message (for example the client protocol's `{}`); silence closes with `timeout`.
    case message(OutboundMessage, timeout: CloseReason)
    /// An application message for a peer that only listens (a unidirectional client, which never
    /// answers it), and a WebSocket ping frame next to it, which browsers and client libraries answer
    /// by themselves; silence (no pong either) closes with `timeout`.
    case messageAndPing(OutboundMessage, timeout: CloseReason)
}

/// A route will not serve this request: the connection is accepted, then closed with this reason,
/// so that browsers (which cannot see a handshake's HTTP status) learn why.
public struct EndpointRefusal: Error, Sendable {
    /// The code and reason the connection is closed with.
    public let reason: CloseReason

    /// A refusal with this close code and reason.
    public init(_ reason: CloseReason) {
        self.reason = reason
    }
}
