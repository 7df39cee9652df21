public import HummingbirdWebSocket
public import Switchboard

/// What one WebSocket connection does on a route. A route makes one endpoint value per connection
/// from the upgrade request (or refuses with an ``EndpointRefusal``) and a ``WebSocketSession``
/// runs it: ``opened(_:)`` once, ``receive(_:on:)`` for each inbound message in order, and
/// ``closed(_:)`` once the connection is gone, however it went.
public protocol WebSocketEndpoint: Sendable {
    /// The connection is open and registered.
    func opened(_ connection: Connection) async

    /// A whole message arrived.
    func receive(_ message: WebSocketMessage, on connection: Connection) async

    /// The connection is gone (closed by either side, or dropped).
    func closed(_ connection: Connection) async
}

extension WebSocketEndpoint {
    public func opened(_ connection: Connection) async {}
    public func closed(_ connection: Connection) async {}
}

/// A route will not serve this request: the connection is accepted, then closed with this reason,
/// so that browsers (which cannot see a handshake's HTTP status) learn why.
public struct EndpointRefusal: Error, Sendable {
    public let reason: CloseReason

    public init(_ reason: CloseReason) {
        self.reason = reason
    }
}
