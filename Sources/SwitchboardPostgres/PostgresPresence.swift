public import Logging
public import PostgresNIO
public import Switchboard

/// Cluster-wide presence in PostgreSQL: who is subscribed to each channel, on which node.
///
/// A node registers itself (`switchboard_nodes`) and refreshes `seen_at` every few seconds
/// (``heartbeat()``). A node not seen for the presence TTL is dead: ``reapDeadNodes(ttl:)``, which
/// any node may run, deletes it and its presence entries and returns them, so the cluster can
/// announce the leaves and publish the farewells. A node killed with `kill -9` therefore leaves no
/// ghost users once the TTL has passed, and its tutorial-chat users are said to have left.
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

    /// Register this node, or mark it seen now, with what it reports about itself (`info`: its
    /// server API `info` as JSON) when given.
    public func heartbeat(name: String = "", info: String? = nil) async throws {
        _ = try await self.client.query(
            """
            INSERT INTO switchboard_nodes (node, name, info) VALUES (\(self.node), \(name), \(info))
            ON CONFLICT (node) DO UPDATE SET seen_at = now(), info = coalesce(EXCLUDED.info, switchboard_nodes.info)
            """,
            logger: self.logger
        ).collect()
    }

    /// The other nodes seen within `ttl` that reported about themselves: each one's report and how
    /// long ago it was made.
    public func otherNodes(ttl: Duration) async throws -> [(info: String, age: Duration)] {
        let rows = try await self.client.query(
            """
            SELECT info, (extract(epoch FROM now() - seen_at) * 1000)::bigint FROM switchboard_nodes
            WHERE node <> \(self.node) AND info IS NOT NULL AND seen_at >= now() - \(ttl.milliseconds) * interval '1 millisecond'
            """,
            logger: self.logger
        )
        var nodes: [(info: String, age: Duration)] = []
        for try await (info, ageMilliseconds) in rows.decode((String, Int64).self) {
            nodes.append((info, .milliseconds(max(0, ageMilliseconds))))
        }
        return nodes
    }

    /// A client of this node entered a channel (again: its entry is replaced), with the publication
    /// to make when it leaves, if any (``Farewell``).
    public func add(_ info: ClientInfo, to channel: String, farewell: Farewell? = nil) async throws {
        _ = try await self.client.query(
            """
            INSERT INTO switchboard_presence (channel, client, node, user_id, info, farewell, farewell_history_size, farewell_history_ttl_ms)
            VALUES (\(channel), \(info.client), \(self.node), \(info.user), \(info.json.jsonText), \(farewell?.data),
                    \(Int32(clamping: farewell?.historySize ?? 0)), \(farewell?.historyTTL.milliseconds ?? 0))
            ON CONFLICT (channel, client) DO UPDATE SET node = EXCLUDED.node, user_id = EXCLUDED.user_id, info = EXCLUDED.info,
                farewell = EXCLUDED.farewell, farewell_history_size = EXCLUDED.farewell_history_size,
                farewell_history_ttl_ms = EXCLUDED.farewell_history_ttl_ms
            """,
            logger: self.logger
        ).collect()
    }

    /// A client left a channel.
    ///
    /// - Returns: Whether it was present.
    @discardableResult
    public func remove(client: String, from channel: String) async throws -> Bool {
        try await self.take(client: client, from: channel) != nil
    }

    /// A client left a channel: remove its entry and return it (with its farewell, which is now the
    /// caller's to publish), or `nil` if it was not present.
    public func take(client: String, from channel: String) async throws -> PresenceEntry? {
        let rows = try await self.client.query(
            """
            DELETE FROM switchboard_presence WHERE channel = \(channel) AND client = \(client)
            RETURNING \(unescaped: Self.entryColumns)
            """,
            logger: self.logger
        )
        return try await Self.entries(rows).first
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
    /// - Returns: The entries removed, for the leaves to announce and the farewells to publish.
    public func reapDeadNodes(ttl: Duration) async throws -> [PresenceEntry] {
        try await self.client.withTransaction(logger: self.logger) { connection in
            let rows = try await connection.query(
                """
                WITH dead AS (
                    DELETE FROM switchboard_nodes WHERE seen_at < now() - \(ttl.milliseconds) * interval '1 millisecond' RETURNING node
                )
                DELETE FROM switchboard_presence WHERE node IN (SELECT node FROM dead) RETURNING \(unescaped: Self.entryColumns)
                """,
                logger: self.logger
            )
            return try await Self.entries(rows)
        }
    }

    /// Remove this node and its entries (a clean shutdown, which need not wait for the TTL).
    ///
    /// - Returns: The entries removed, for the leaves to announce and the farewells to publish.
    public func leaveCluster() async throws -> [PresenceEntry] {
        try await self.client.withTransaction(logger: self.logger) { connection in
            _ = try await connection.query("DELETE FROM switchboard_nodes WHERE node = \(self.node)", logger: self.logger).collect()
            let rows = try await connection.query(
                "DELETE FROM switchboard_presence WHERE node = \(self.node) RETURNING \(unescaped: Self.entryColumns)",
                logger: self.logger
            )
            return try await Self.entries(rows)
        }
    }

    private static let entryColumns = "channel, info, farewell, farewell_history_size, farewell_history_ttl_ms"

    /// Rows of ``entryColumns``.
    private static func entries(_ rows: PostgresRowSequence) async throws -> [PresenceEntry] {
        var entries: [PresenceEntry] = []
        for try await (channel, text, farewell, size, ttl) in rows.decode((String, String, String?, Int32, Int64).self) {
            guard let info = ClientInfo(jsonText: text) else { continue }
            entries.append(
                PresenceEntry(
                    channel: channel,
                    info: info,
                    farewell: farewell.map { Farewell(data: $0, historySize: Int(size), historyTTL: .milliseconds(ttl)) }
                )
            )
        }
        return entries
    }
}
