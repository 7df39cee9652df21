import Synchronization

/// Every open connection of the process: enforces the connection limit and closes them all on shutdown.
///
/// A connection registers its ``Outbox`` when it opens, with the ``CloseReason`` it gets on shutdown
/// (the protocol endpoint says 3001 `shutdown`, the others 1001), and unregisters when it is gone. The
/// registry never writes to a socket: to close connections it ends their outboxes and each
/// connection's writer sends the close frame.
public final class ConnectionRegistry: Sendable {
    /// The result of ``register(_:)``.
    public enum Registration: Sendable, Equatable {
        /// The connection is registered under this id.
        case registered(ConnectionID)
        /// Refused: ``ConnectionRegistry/limit`` connections are open already.
        case atLimit(Int)
        /// Refused: the registry is closing every connection.
        case shuttingDown
    }

    private struct State {
        var nextID: UInt64 = 1
        var connections: [ConnectionID: (outbox: Outbox, shutdownReason: CloseReason)] = [:]
        var closing = false
    }

    /// The most connections open at once, or `nil` for no limit.
    public let limit: Int?
    private let state = Mutex(State())

    /// Create a registry.
    ///
    /// - Parameter limit: The most connections open at once, or `nil` for no limit.
    public init(limit: Int? = nil) {
        precondition(limit.map { $0 > 0 } ?? true, "connection limit must be positive")
        self.limit = limit
    }

    /// Number of open connections.
    public var count: Int { self.state.withLock { $0.connections.count } }

    /// Register a new connection, unless the registry is at its limit or shutting down.
    ///
    /// - Parameters:
    ///   - outbox: The connection's outbox.
    ///   - shutdownReason: How ``closeAll()`` closes this connection.
    public func register(_ outbox: Outbox, shutdownReason: CloseReason = .serverShuttingDown) -> Registration {
        self.state.withLock { state in
            if state.closing { return .shuttingDown }
            if let limit = self.limit, state.connections.count >= limit { return .atLimit(limit) }
            let id = ConnectionID(rawValue: state.nextID)
            state.nextID += 1
            state.connections[id] = (outbox, shutdownReason)
            return .registered(id)
        }
    }

    /// Remove a connection that has gone. Removing an id twice does nothing.
    public func unregister(_ id: ConnectionID) {
        _ = self.state.withLock { $0.connections.removeValue(forKey: id) }
    }

    /// Refuse new connections from now on and end every open connection's outbox with the shutdown
    /// reason it registered with.
    ///
    /// - Returns: The number of connections asked to close.
    @discardableResult
    public func closeAll() -> Int {
        let connections = self.state.withLock { state in
            state.closing = true
            return Array(state.connections.values)
        }
        for connection in connections { connection.outbox.finish(closing: connection.shutdownReason) }
        return connections.count
    }

    /// Wait until every connection has unregistered, or until `timeout` has passed.
    ///
    /// - Returns: `true` if no connection is left.
    public func waitUntilEmpty(timeout: Duration, pollInterval: Duration = .milliseconds(10)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while self.count > 0 {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: pollInterval)
        }
        return true
    }
}
