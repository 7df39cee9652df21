import Synchronization

/// A set of connections that receive every message broadcast to it: the tutorial's `ConnectionManager`.
///
/// Broadcast only enqueues into each member's ``Outbox`` and never waits for a client. It enqueues
/// under the room's lock, so every member sees the room's messages in one order, and the messages
/// of any one sender in the order they were sent.
public final class Room: Sendable {
    private let members = Mutex<[ConnectionID: Outbox]>([:])

    public init() {}

    /// Number of members.
    public var count: Int { self.members.withLock { $0.count } }

    /// Add a connection. Joining twice with the same id replaces the earlier outbox.
    public func join(_ id: ConnectionID, outbox: Outbox) {
        self.members.withLock { $0[id] = outbox }
    }

    /// Remove a connection. Leaving twice does nothing.
    ///
    /// - Returns: `true` if the connection was a member.
    @discardableResult
    public func leave(_ id: ConnectionID) -> Bool {
        self.members.withLock { $0.removeValue(forKey: id) } != nil
    }

    /// Enqueue a message for every member.
    ///
    /// A member whose outbox overflows is removed from the room: its connection is being closed as a
    /// slow consumer and gets nothing more.
    ///
    /// - Returns: The number of members the message was queued for.
    @discardableResult
    public func broadcast(_ message: OutboundMessage) -> Int {
        self.members.withLock { members in
            var delivered = 0
            var gone: [ConnectionID] = []
            for (id, outbox) in members {
                switch outbox.enqueue(message) {
                case .enqueued: delivered += 1
                case .overflowed, .closed: gone.append(id)
                }
            }
            for id in gone { members.removeValue(forKey: id) }
            return delivered
        }
    }
}
