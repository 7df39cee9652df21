/// The example's logins: session id (the `session` cookie) → user name, in memory. A real
/// application would keep these in its database or use its framework's sessions.
actor Sessions {
    private var users: [String: String] = [:]

    /// Log `name` in: a new session id, unguessable (the system's secure random generator).
    func create(for name: String) -> String {
        var random = SystemRandomNumberGenerator()
        let id = (0..<4).map { _ in String(random.next() as UInt64, radix: 16) }.joined(separator: "-")
        self.users[id] = name
        return id
    }

    /// Who a session belongs to, if anyone.
    func user(_ id: String?) -> String? {
        id.flatMap { self.users[$0] }
    }

    /// Log a session out; who it belonged to.
    func remove(_ id: String?) -> String? {
        guard let id else { return nil }
        return self.users.removeValue(forKey: id)
    }
}
