import Foundation
import Logging
import PostgresNIO
import SwitchboardPostgres
import Testing

/// The database the test script starts (`SWITCHBOARD_TEST_POSTGRES_URL`). Without it these tests
/// do not run, unless `SWITCHBOARD_REQUIRE_POSTGRES` is set (the test script sets both), in which
/// case they fail.
enum TestDatabase {
    static let url = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_POSTGRES_URL"]
    static let required = ProcessInfo.processInfo.environment["SWITCHBOARD_REQUIRE_POSTGRES"] != nil
    static var available: Bool { Self.url != nil || Self.required }

    /// A fresh database of its own for one test, dropped afterwards.
    static func withDatabase<T>(_ body: (PostgresClient, PostgresURL) async throws -> T) async throws -> T {
        let text = try #require(Self.url, "SWITCHBOARD_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL")
        let admin = try PostgresURL(text)
        let name = "sbtest_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        _ = try await Self.withClient(admin) { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)")).collect()
        }
        var url = admin
        url.database = name
        do {
            let result = try await Self.withClient(url) { try await body($0, url) }
            try await Self.drop(name, admin: admin)
            return result
        } catch {
            try? await Self.drop(name, admin: admin)
            throw error
        }
    }

    static func withClient<T>(_ url: PostgresURL, _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: url.configuration, backgroundLogger: Logger(label: "test"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    private static func drop(_ name: String, admin: PostgresURL) async throws {
        _ = try await Self.withClient(admin) { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")).collect()
        }
    }
}

@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresSchemaTests {
    let logger = Logger(label: "test")

    @Test func migrationCreatesTheTablesOnceAndAgainChangesNothing() async throws {
        try await TestDatabase.withDatabase { client, _ in
            #expect(try await PostgresSchema.migrate(client, logger: self.logger) == Array(1...PostgresSchema.currentVersion))
            #expect(try await PostgresSchema.migrate(client, logger: self.logger) == [])
            var tables: [String] = []
            let rows = try await client.query(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'switchboard_%' ORDER BY tablename"
            )
            for try await name in rows.decode(String.self) { tables.append(name) }
            #expect(tables == ["switchboard_nodes", "switchboard_presence", "switchboard_publications", "switchboard_schema", "switchboard_streams"])
        }
    }

    /// Several nodes starting at once: the advisory lock lets one migrate and the others find it done.
    @Test func concurrentMigrationsApplyEachVersionOnce() async throws {
        try await TestDatabase.withDatabase { client, _ in
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresSchema.migrate(client, logger: self.logger) } }
                var all: [[Int]] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(applied.flatMap { $0 }.sorted() == Array(1...PostgresSchema.currentVersion))
            var versions: [Int] = []
            for try await version in try await client.query("SELECT version FROM switchboard_schema ORDER BY version").decode(Int.self) {
                versions.append(version)
            }
            #expect(versions == Array(1...PostgresSchema.currentVersion))
        }
    }

    @Test func aDatabaseFromANewerBuildIsRefused() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await PostgresSchema.migrate(client, logger: self.logger)
            let newer = PostgresSchema.currentVersion + 1
            _ = try await client.query("INSERT INTO switchboard_schema (version) VALUES (\(newer))").collect()
            await #expect(throws: PostgresSchemaError.newerThanThisBuild(newer)) {
                try await PostgresSchema.migrate(client, logger: self.logger)
            }
        }
    }
}
