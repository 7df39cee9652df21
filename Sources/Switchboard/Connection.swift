/// What an endpoint holds of one open connection: its id and the way to send to it.
///
/// Everything sent goes through the connection's ``Outbox`` and is written by the connection's
/// writer, in order.
public struct Connection: Sendable {
    /// The connection's process-wide id.
    public let id: ConnectionID
    /// The connection's outbox; rooms enqueue into it directly.
    public let outbox: Outbox

    /// A connection with its id and outbox.
    public init(id: ConnectionID, outbox: Outbox) {
        self.id = id
        self.outbox = outbox
    }

    /// Send a reply to this connection. See ``Outbox/reply(_:)``.
    public func send(_ message: OutboundMessage) {
        self.outbox.reply(message)
    }

    /// Send a text reply. See ``Outbox/reply(_:)``.
    public func send(text: String) {
        self.outbox.reply(.text(text))
    }

    /// Close the connection after what is already queued, with this code and reason.
    public func close(_ reason: CloseReason) {
        self.outbox.finish(closing: reason)
    }
}
