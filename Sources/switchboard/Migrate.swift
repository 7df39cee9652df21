import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import SwitchboardPostgres

/// `switchboard migrate`: create or upgrade the PostgreSQL schema that nodes share, to prepare a
/// database before the first deployment or to upgrade it before rolling out new nodes. (Nodes of
/// `serve --engine postgres` also do it themselves at start.)
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the PostgreSQL schema (idempotent).")

    @Option(help: "postgres://user:password@host:port/database[?sslmode=disable|prefer|require] [env: SWITCHBOARD_POSTGRES_URL]")
    var postgresURL: String?

    @Option(help: "Seconds to keep trying to reach the database.")
    var timeout: Double = 30

    func run() async throws {
        guard self.timeout > 0, self.timeout <= 86_400 else { throw ValidationError("timeout must be more than 0 seconds, at most 86400") }
        let environment = EnvironmentReader(environment: ProcessInfo.processInfo.environment)
        guard let text = try self.postgresURL ?? environment.string("POSTGRES_URL") else {
            throw ValidationError("give the database with --postgres-url or SWITCHBOARD_POSTGRES_URL")
        }
        let url = try PostgresURL(option: text)
        let logger = Logger(label: "switchboard")
        // The pool's own logging of each failed attempt would bury the one error this command reports.
        var poolLogger = Logger(label: "switchboard.postgres")
        poolLogger.logLevel = .critical
        let client = PostgresClient(configuration: url.configuration, backgroundLogger: poolLogger)
        let applied: [Int]
        do {
            applied = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                return try await SchemaMigration.run(client, url: url, timeout: .milliseconds(Int64(self.timeout * 1000)), logger: logger)
            }
        } catch {
            throw MigrateError.failed(url: url, reason: "\(error)")
        }
        if applied.isEmpty {
            print("\(url): schema already at version \(PostgresSchema.currentVersion)")
        } else {
            print("\(url): applied \(applied.map(String.init).joined(separator: ", ")); schema at version \(PostgresSchema.currentVersion)")
        }
    }
}

/// Migrating the schema with a deadline, for `migrate` and for a node's start.
enum SchemaMigration {
    /// Migrate through `client` (which must be running), giving up after `timeout`. While
    /// PostgreSQL cannot be reached it keeps trying (saying so); when it refuses (no such database,
    /// a wrong password) it gives up at once with PostgreSQL's reason.
    ///
    /// - Returns: The migrations applied.
    static func run(_ client: PostgresClient, url: PostgresURL, timeout: Duration, logger: Logger) async throws -> [Int] {
        let deadline = ContinuousClock.now + timeout
        var attempts = 0
        while true {
            do throws(PostgresProbeError) {
                try await url.probe(logger: Logger(label: "switchboard.postgres.probe", factory: { _ in SwiftLogNoOpLogHandler() }))
                break
            } catch {
                if error.permanent { throw MigrateError.refused(error.description) }
                attempts += 1
                guard ContinuousClock.now + .seconds(1) < deadline else { throw MigrateError.timedOut(timeout, lastError: error.description) }
                if attempts == 1 || attempts % 5 == 0 {
                    logger.warning("Waiting for PostgreSQL", metadata: ["database": "\(url)", "error": "\(error.description)"])
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
        return try await withThrowingTaskGroup(of: [Int].self) { group in
            group.addTask {
                try await Task.sleep(until: deadline)
                throw MigrateError.timedOut(timeout, lastError: nil)
            }
            group.addTask { try await PostgresSchema.migrate(client, logger: logger) }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

enum MigrateError: Error, CustomStringConvertible {
    case timedOut(Duration, lastError: String?)
    case refused(String)
    case failed(url: PostgresURL, reason: String)

    var description: String {
        switch self {
        case .timedOut(let timeout, let lastError):
            "no answer within \(timeout)" + (lastError.map { " (last error: \($0))" } ?? " (is PostgreSQL running there?)")
        case .refused(let reason): "PostgreSQL refused: \(reason)"
        case .failed(let url, let reason): "cannot migrate \(url): \(reason)"
        }
    }
}
