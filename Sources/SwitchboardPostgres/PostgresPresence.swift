public import Logging
public import PostgresNIO
public import Switchboard

/// Cluster-wide presence in PostgreSQL: who is subscribed to each channel, on which node.
///
/// A node registers itself (`switchboard_nodes`) and refreshes `seen_at` every few seconds
/// (``heartbeat()``). A node not seen for the presence TTL is dead: ``reapDeadNodes(ttl:)``, which
/// any node may run, deletes it and its presence entries and returns them, so the cluster can
/// announce the leaves. A node killed with `kill -9` therefore leaves no ghost users once the TTL has
/// passed.
public struct PostgresPresence: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// This node's id.
    public let node: String

    public init(client: PostgresClient, logger: Logger, node: String) {
        self.client = client
        self.logger = logger
        self.node = node
    }

    /// Register this node, or mark it seen now.
    public func heartbeat(name: String = "") async throws {
        _ = try await self.client.query(
            """
            INSERT INTO switchboard_nodes (node, name) VALUES (\(self.node), \(name))
            ON CONFLICT (node) DO UPDATE SET seen_at = now()
            """,
            logger: self.logger
        ).collect()
    }

    /// A client of this node entered a channel (again: its entry is replaced).
    public func add(_ info: ClientInfo, to channel: String) async throws {
        _ = try await self.client.query(
            """
            INSERT INTO switchboard_presence (channel, client, node, user_id, info) VALUES (\(channel), \(info.client), \(self.node), \(info.user), \(info.json.jsonText))
            ON CONFLICT (channel, client) DO UPDATE SET node = EXCLUDED.node, user_id = EXCLUDED.user_id, info = EXCLUDED.info
            """,
            logger: self.logger
        ).collect()
    }

    /// A client left a channel.
    ///
    /// - Returns: Whether it was present.
    @discardableResult
    public func remove(client: String, from channel: String) async throws -> Bool {
        var removed = 0
        let rows = try await self.client.query(
            "WITH gone AS (DELETE FROM switchboard_presence WHERE channel = \(channel) AND client = \(client) RETURNING 1) SELECT count(*) FROM gone",
            logger: self.logger
        )
        for try await count in rows.decode(Int.self) { removed = count }
        return removed > 0
    }

    /// Tell every listening node of a join or leave (``PresenceEvent``).
    public func announce(_ event: PresenceEvent) async throws {
        _ = try await self.client.query(
            "SELECT pg_notify(\(PostgresStreams.notificationChannel), \(event.payload))",
            logger: self.logger
        ).collect()
    }

    /// Who is in a channel, on every node.
    public func members(of channel: String) async throws -> [ClientInfo] {
        let rows = try await self.client.query(
            "SELECT info FROM switchboard_presence WHERE channel = \(channel) ORDER BY client",
            logger: self.logger
        )
        var members: [ClientInfo] = []
        for try await text in rows.decode(String.self) {
            if let info = ClientInfo(jsonText: text) { members.append(info) }
        }
        return members
    }

    /// Number of clients and of distinct users in a channel, on every node.
    public func stats(of channel: String) async throws -> (clients: Int, users: Int) {
        let rows = try await self.client.query(
            "SELECT count(*), count(DISTINCT user_id) FROM switchboard_presence WHERE channel = \(channel)",
            logger: self.logger
        )
        for try await (clients, users) in rows.decode((Int, Int).self) { return (clients, users) }
        return (0, 0)
    }

    /// Delete the nodes not seen for `ttl`, and their presence entries.
    ///
    /// - Returns: The entries removed, per channel, for the leaves to announce.
    public func reapDeadNodes(ttl: Duration) async throws -> [(channel: String, info: ClientInfo)] {
        try await self.client.withTransaction(logger: self.logger) { connection in
            let rows = try await connection.query(
                """
                WITH dead AS (
                    DELETE FROM switchboard_nodes WHERE seen_at < now() - \(ttl.milliseconds) * interval '1 millisecond' RETURNING node
                )
                DELETE FROM switchboard_presence WHERE node IN (SELECT node FROM dead) RETURNING channel, info
                """,
                logger: self.logger
            )
            return try await Self.entries(rows)
        }
    }

    /// Remove this node and its entries (a clean shutdown, which need not wait for the TTL).
    ///
    /// - Returns: The entries removed, per channel.
    public func leaveCluster() async throws -> [(channel: String, info: ClientInfo)] {
        try await self.client.withTransaction(logger: self.logger) { connection in
            _ = try await connection.query("DELETE FROM switchboard_nodes WHERE node = \(self.node)", logger: self.logger).collect()
            let rows = try await connection.query(
                "DELETE FROM switchboard_presence WHERE node = \(self.node) RETURNING channel, info",
                logger: self.logger
            )
            return try await Self.entries(rows)
        }
    }

    /// `(channel, info)` rows.
    private static func entries(_ rows: PostgresRowSequence) async throws -> [(channel: String, info: ClientInfo)] {
        var entries: [(channel: String, info: ClientInfo)] = []
        for try await (channel, text) in rows.decode((String, String).self) {
            if let info = ClientInfo(jsonText: text) { entries.append((channel, info)) }
        }
        return entries
    }
}
