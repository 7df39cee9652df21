public import Logging
public import PostgresNIO

/// The tables a Switchboard cluster shares in PostgreSQL.
///
/// `switchboard migrate` brings the database up to date, and so does every node of
/// `serve --engine postgres` at start. Each migration runs once, in its own transaction, under an
/// advisory lock, so migrators that start together neither race nor apply anything twice; running
/// it again changes nothing.
public enum PostgresSchema {
    /// The advisory lock key migrations hold (an arbitrary constant: "sbmigrat" in ASCII).
    static let lockKey: Int64 = 0x7362_6d69_6772_6174

    /// Each migration's statements; migration N is `migrations[N - 1]`. Append, never edit.
    static let migrations: [[String]] = [
        [
            // One row per channel stream: its epoch (kept across node restarts) and the offset of
            // its last publication, which the publishing transaction increments under the row's lock.
            """
            CREATE TABLE switchboard_streams (
                channel text PRIMARY KEY,
                epoch text NOT NULL,
                top_offset bigint NOT NULL
            )
            """,
            // Publications, for delivery to every node (NOTIFY carries only channel and offset) and
            // as history, until `expires_at`.
            """
            CREATE TABLE switchboard_publications (
                channel text NOT NULL,
                "offset" bigint NOT NULL,
                data text NOT NULL,
                info text,
                tags text,
                published_at timestamptz NOT NULL DEFAULT now(),
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (channel, "offset")
            )
            """,
            "CREATE INDEX switchboard_publications_expiry ON switchboard_publications (expires_at)",
            // Live nodes: each refreshes `seen_at`; a node not seen within the presence TTL is dead.
            """
            CREATE TABLE switchboard_nodes (
                node text PRIMARY KEY,
                name text NOT NULL,
                started_at timestamptz NOT NULL DEFAULT now(),
                seen_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            // Presence, per channel and client, with the node that holds the connection.
            """
            CREATE TABLE switchboard_presence (
                channel text NOT NULL,
                client text NOT NULL,
                node text NOT NULL,
                user_id text NOT NULL,
                info text NOT NULL,
                PRIMARY KEY (channel, client)
            )
            """,
            "CREATE INDEX switchboard_presence_node ON switchboard_presence (node)",
        ],
        [
            // A publication sent with `skip_history` still takes its place in the stream (every node
            // delivers by offset), but history never shows it.
            "ALTER TABLE switchboard_publications ADD COLUMN in_history boolean NOT NULL DEFAULT true",
        ],
        [
            // History is the newest `history_size` publications in history, whatever was sent with
            // `skip_history` between them: reading it and trimming it walk this index.
            """
            CREATE INDEX switchboard_publications_history ON switchboard_publications (channel, "offset") WHERE in_history
            """,
            // A subscriber's farewell: the data of a publication into the channel when it leaves,
            // however it leaves (the tutorial chat's "left the chat"), with the channel's history
            // settings for that publication. Whoever deletes the row (the node on unsubscribe or
            // shutdown, or any node reaping a dead one) publishes it, so it goes out once.
            "ALTER TABLE switchboard_presence ADD COLUMN farewell text",
            "ALTER TABLE switchboard_presence ADD COLUMN farewell_history_size integer NOT NULL DEFAULT 0",
            "ALTER TABLE switchboard_presence ADD COLUMN farewell_history_ttl_ms bigint NOT NULL DEFAULT 0",
        ],
        [
            // What each node last reported about itself (the server API's `info` of that node, as
            // JSON), written with its heartbeat, so any node's `info` and admin page show them all.
            "ALTER TABLE switchboard_nodes ADD COLUMN info text",
        ],
        [
            // The publisher asked for delta compression (the server API's `delta`): nodes that fetch
            // a publication rather than read it from its notification must know it too.
            "ALTER TABLE switchboard_publications ADD COLUMN delta boolean NOT NULL DEFAULT false",
        ],
    ]

    /// The schema version this build needs.
    public static var currentVersion: Int { Self.migrations.count }

    /// Bring the database to ``currentVersion``.
    ///
    /// - Returns: The versions applied now, oldest first (empty when it was up to date).
    /// - Throws: ``PostgresSchemaError/newerThanThisBuild(_:)`` when the database was migrated by a
    ///   newer Switchboard, and postgres-nio's errors when the database cannot be reached.
    @discardableResult
    public static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        do {
            return try await Self.migrateInTransaction(client, logger: logger)
        } catch let error as PostgresTransactionError {
            // Say what went wrong, not that a transaction was rolled back because of it.
            if let reason = error.closureError as? PostgresSchemaError { throw reason }
            throw error
        }
    }

    private static func migrateInTransaction(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withTransaction(logger: logger) { connection in
            // Transaction-scoped: released at commit or rollback, also if this node dies.
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger).collect()
            _ = try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS switchboard_schema (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            ).collect()
            var current = 0
            for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM switchboard_schema", logger: logger)
                .decode(Int.self)
            {
                current = version
            }
            guard current <= Self.currentVersion else { throw PostgresSchemaError.newerThanThisBuild(current) }
            var applied: [Int] = []
            for version in stride(from: current + 1, through: Self.currentVersion, by: 1) {
                for statement in Self.migrations[version - 1] {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
                }
                _ = try await connection.query("INSERT INTO switchboard_schema (version) VALUES (\(version))", logger: logger).collect()
                logger.info("Applied PostgreSQL schema migration", metadata: ["version": "\(version)"])
                applied.append(version)
            }
            return applied
        }
    }
}

/// Why the schema could not be brought up to date.
public enum PostgresSchemaError: Error, Equatable, CustomStringConvertible {
    /// The database has a schema version this build does not know.
    case newerThanThisBuild(Int)

    public var description: String {
        switch self {
        case .newerThanThisBuild(let version):
            "the database's Switchboard schema is at version \(version), newer than this build's \(PostgresSchema.currentVersion): run the newer Switchboard"
        }
    }
}
