import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import SwitchboardPostgres

/// `switchboard migrate`: create or upgrade the PostgreSQL schema that nodes share, to prepare a
/// database before the first deployment or to upgrade it before rolling out new nodes. (Nodes will
/// also do it themselves at start once the PostgreSQL engine exists; see docs/SCALE-OUT.md.)
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the PostgreSQL schema (idempotent).")

    @Option(help: "postgres://user:password@host:port/database[?sslmode=disable|prefer|require] [env: SWITCHBOARD_POSTGRES_URL]")
    var postgresURL: String?

    @Option(help: "Seconds to keep trying to reach the database.")
    var timeout: Double = 30

    func run() async throws {
        guard self.timeout > 0, self.timeout.isFinite else { throw ValidationError("timeout must be more than 0 seconds") }
        let environment = ProcessInfo.processInfo.environment
        guard let text = self.postgresURL ?? environment["SWITCHBOARD_POSTGRES_URL"] else {
            throw ValidationError("give the database with --postgres-url or SWITCHBOARD_POSTGRES_URL")
        }
        let url: PostgresURL
        do {
            url = try PostgresURL(text)
        } catch {
            throw ValidationError("postgres-url: \(error.description)")
        }
        let logger = Logger(label: "switchboard")
        // The pool's own logging of each failed attempt would bury the one error this command reports.
        var poolLogger = Logger(label: "switchboard.postgres")
        poolLogger.logLevel = .critical
        let client = PostgresClient(configuration: url.configuration, backgroundLogger: poolLogger)
        let timeout = self.timeout
        let applied: [Int]
        do {
            applied = try await withThrowingTaskGroup(of: [Int]?.self) { group in
                group.addTask {
                    await client.run()
                    return nil
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    throw MigrateError.timedOut(timeout)
                }
                group.addTask { try await PostgresSchema.migrate(client, logger: logger) }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let applied = result { return applied }
                }
                throw CancellationError()
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

enum MigrateError: Error, CustomStringConvertible {
    case timedOut(Double)
    case failed(url: PostgresURL, reason: String)

    var description: String {
        switch self {
        case .timedOut(let seconds): "no answer within \(seconds.formatted()) s (is PostgreSQL running there, and does it accept this user?)"
        case .failed(let url, let reason): "cannot migrate \(url): \(reason)"
        }
    }
}
