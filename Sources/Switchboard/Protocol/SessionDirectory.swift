import Synchronization

/// The node's connected protocol sessions, by client id and by user: what the server API uses to
/// reach a user's connections.
public final class SessionDirectory: Sendable {
    private struct State {
        var byClient: [String: ClientSession] = [:]
        var byUser: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    /// An empty directory.
    public init() {}

    func add(_ session: ClientSession, user: String) {
        self.state.withLock { state in
            state.byClient[session.id] = session
            state.byUser[user, default: []].insert(session.id)
        }
    }

    func remove(_ session: ClientSession, user: String) {
        self.state.withLock { state in
            guard state.byClient.removeValue(forKey: session.id) != nil else { return }
            state.byUser[user]?.remove(session.id)
            if state.byUser[user]?.isEmpty == true { state.byUser[user] = nil }
        }
    }

    /// The sessions of `user`, or only the one with client id `client` among them.
    public func sessions(user: String, client: String? = nil) -> [ClientSession] {
        self.state.withLock { state in
            let ids = state.byUser[user] ?? []
            return ids.filter { client == nil || $0 == client }.compactMap { state.byClient[$0] }
        }
    }

    /// Number of connected sessions and of distinct users.
    public var counts: (clients: Int, users: Int) {
        self.state.withLock { ($0.byClient.count, $0.byUser.count) }
    }

    /// Every connected session.
    public var all: [ClientSession] {
        self.state.withLock { Array($0.byClient.values) }
    }
}
