import ArgumentParser
import Foundation
import SwitchboardPostgres

/// Which engine `serve` runs: `memory` (one process) or `postgres` (nodes sharing a database).
enum EngineChoice: Equatable {
    case memory
    case postgres(url: PostgresURL, nodeTTL: Duration)
}

extension Serve {
    /// `--engine`, `--postgres-url` and `--node-ttl`, or their variables, checked.
    func resolveEngine(environment: [String: String]) throws -> EngineChoice {
        let env = EnvironmentReader(environment: environment)
        let name = try self.engine ?? env.string("ENGINE") ?? "memory"
        let urlText = try self.postgresURL ?? env.string("POSTGRES_URL")
        let ttlSeconds = try self.nodeTTL ?? env.value("NODE_TTL", parse: Double.init)
        switch name.lowercased() {
        case "memory":
            if self.postgresURL != nil { throw ValidationError("--postgres-url needs --engine postgres") }
            return .memory
        case "postgres", "postgresql":
            guard let urlText else {
                throw ValidationError("--engine postgres needs the database: --postgres-url or SWITCHBOARD_POSTGRES_URL")
            }
            let url = try PostgresURL(option: urlText)
            let seconds = ttlSeconds ?? 15
            guard seconds >= 1, seconds <= 3600, seconds.isFinite else {
                throw ValidationError("node-ttl must be between 1 and 3600 seconds, got \(seconds)")
            }
            return .postgres(url: url, nodeTTL: .milliseconds(Int64(seconds * 1000)))
        default:
            throw ValidationError("engine must be memory or postgres, got '\(name)'")
        }
    }
}

extension PostgresURL {
    /// The URL given to `--postgres-url` (or its variable), or the error that says what is wrong with it.
    init(option text: String) throws(ValidationError) {
        do {
            try self.init(text)
        } catch {
            throw ValidationError("postgres-url: \(error.description)")
        }
    }
}
