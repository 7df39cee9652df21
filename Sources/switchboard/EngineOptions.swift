import ArgumentParser
import Foundation
import SwitchboardPostgres
import SwitchboardRedis
import SwitchboardServer

/// Which engine `serve` runs: `memory` (one process), `postgres` (nodes sharing a database) or
/// `redis` (nodes sharing one Redis, or several as shards).
enum EngineChoice: Equatable {
    case memory
    case postgres(url: PostgresURL, nodeTTL: Duration)
    case redis(urls: [RedisURL], nodeTTL: Duration, prefix: String)
}

extension Serve {
    /// `--engine`, `--postgres-url`, `--redis-url`, `--redis-prefix` and `--node-ttl`, or their
    /// variables, or the configuration file's `engine`, `postgres_url`, `redis_address`,
    /// `redis_prefix` and `node_ttl` (in that order), checked.
    func resolveEngine(environment: [String: String], file: EngineSettings = EngineSettings()) throws -> EngineChoice {
        let env = EnvironmentReader(environment: environment)
        let name = try self.engine ?? env.string("ENGINE") ?? file.type ?? "memory"
        let postgresText = try self.postgresURL ?? env.string("POSTGRES_URL") ?? file.postgresURL
        let redisTexts = try self.redisURL.nonEmpty
            ?? env.string("REDIS_URL").map { $0.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init) }
            ?? file.redisAddresses
        let nodeTTL = try Self.nodeTTL(try self.nodeTTL ?? env.value("NODE_TTL", parse: Double.init), file: file.nodeTTL)
        switch name.lowercased() {
        case "memory":
            if self.postgresURL != nil { throw ValidationError("--postgres-url needs --engine postgres") }
            if !self.redisURL.isEmpty { throw ValidationError("--redis-url needs --engine redis") }
            return .memory
        case "postgres", "postgresql":
            guard let postgresText else {
                throw ValidationError("--engine postgres needs the database: --postgres-url or SWITCHBOARD_POSTGRES_URL")
            }
            if !self.redisURL.isEmpty { throw ValidationError("--redis-url needs --engine redis") }
            return .postgres(url: try PostgresURL(option: postgresText), nodeTTL: nodeTTL)
        case "redis":
            guard let redisTexts, !redisTexts.isEmpty else {
                throw ValidationError("--engine redis needs Redis: --redis-url (once per shard) or SWITCHBOARD_REDIS_URL")
            }
            if self.postgresURL != nil { throw ValidationError("--postgres-url needs --engine postgres") }
            let urls = try redisTexts.map { text throws(ValidationError) in try RedisURL(option: text) }
            guard Set(urls.map { "\($0.host):\($0.port)/\($0.database)" }).count == urls.count else {
                throw ValidationError("redis-url: the same Redis is given twice; each shard must be a different Redis")
            }
            let prefix = try self.redisPrefix ?? env.string("REDIS_PREFIX") ?? file.redisPrefix ?? "switchboard"
            guard !prefix.isEmpty, !prefix.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw ValidationError("redis-prefix must be a non-empty word without spaces, got '\(prefix)'")
            }
            return .redis(urls: urls, nodeTTL: nodeTTL, prefix: prefix)
        default:
            throw ValidationError("engine must be memory, postgres or redis, got '\(name)'")
        }
    }

    private static func nodeTTL(_ seconds: Double?, file: Duration?) throws(ValidationError) -> Duration {
        let seconds = seconds ?? file.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 15
        guard seconds >= 1, seconds <= 3600, seconds.isFinite else {
            throw ValidationError("node-ttl must be between 1 and 3600 seconds, got \(seconds)")
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}

extension Array {
    fileprivate var nonEmpty: Self? { self.isEmpty ? nil : self }
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

extension RedisURL {
    /// A shard given to `--redis-url` (or its variable, or `redis_address`): a URL, or `host:port`
    /// as Centrifugo's `redis_address` takes it; or the error that says what is wrong with it.
    init(option text: String) throws(ValidationError) {
        let url = text.contains("://") ? text : "redis://\(text)"
        do {
            try self.init(url)
        } catch {
            throw ValidationError("redis-url: \(error.description)")
        }
    }
}
