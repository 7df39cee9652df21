import Foundation
public import Logging
public import PostgresNIO
import NIOSSL

/// A `postgres://user:password@host:port/database?sslmode=…` URL, as operators write it.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// The database server's host.
    public var host: String
    /// Its port (5432 when the URL names none).
    public var port: Int
    /// The user to log in as.
    public var username: String
    /// The password, if any.
    public var password: String?
    /// The database, if the URL names one.
    public var database: String?
    /// `disable` (the default: nodes and database usually share a private network), `prefer` or `require`.
    public var sslMode: String

    /// Parse a URL.
    ///
    /// - Throws: ``PostgresURLError`` naming what is wrong.
    public init(_ text: String) throws(PostgresURLError) {
        // Errors never repeat the text: it may hold a password.
        guard let components = URLComponents(string: text), let scheme = components.scheme else {
            throw PostgresURLError("not a URL; expected postgres://user:password@host:port/database")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresURLError("the URL's scheme must be postgres:// or postgresql://, got '\(scheme)://'")
        }
        guard let host = components.host, !host.isEmpty else { throw PostgresURLError("the URL names no host") }
        guard let user = components.user, !user.isEmpty else { throw PostgresURLError("the URL names no user (postgres://USER@host/database)") }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.drop { $0 == "/" }
        self.database = path.isEmpty ? nil : String(path)
        self.sslMode = "disable"
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value, ["disable", "prefer", "require"].contains(mode) else {
                    throw PostgresURLError("sslmode must be disable, prefer or require, got '\(item.value ?? "")'")
                }
                self.sslMode = mode
            default:
                throw PostgresURLError("unknown URL parameter '\(item.name)' (only sslmode is understood)")
            }
        }
    }

    /// The client configuration for this URL.
    public var configuration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch self.sslMode {
        case "require": tls = .require(.makeClientConfiguration())
        case "prefer": tls = .prefer(.makeClientConfiguration())
        default: tls = .disable
        }
        return .init(host: self.host, port: self.port, username: self.username, password: self.password, database: self.database, tls: tls)
    }

    /// The URL without its password, for logs.
    public var description: String {
        "postgres://\(self.username)\(self.password == nil ? "" : ":***")@\(self.host):\(self.port)/\(self.database ?? "")"
            + (self.sslMode == "disable" ? "" : "?sslmode=\(self.sslMode)")
    }
}

/// Why a PostgreSQL URL was refused.
public struct PostgresURLError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension PostgresURL {
    /// Open one connection and close it again, to tell at once whether PostgreSQL takes this URL
    /// (a pool only retries, silently, when the database is missing or the password is wrong).
    ///
    /// - Throws: ``PostgresProbeError`` with PostgreSQL's own reason.
    public func probe(logger: Logger) async throws(PostgresProbeError) {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch self.sslMode {
            case "require": tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case "prefer": tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            default: tls = .disable
            }
        } catch {
            throw PostgresProbeError(description: "cannot set up TLS: \(error)", permanent: true)
        }
        let configuration = PostgresConnection.Configuration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: self.database,
            tls: tls
        )
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
        } catch let error as PSQLError {
            if error.code == .server {
                // Refused by PostgreSQL itself (no such database or role, bad password): retrying will not help.
                throw PostgresProbeError(description: error.serverInfo?[.message] ?? "refused by the server", permanent: true)
            }
            throw PostgresProbeError(description: error.underlying.map { "\($0)" } ?? "\(error.code)", permanent: false)
        } catch {
            throw PostgresProbeError(description: "\(error)", permanent: false)
        }
    }
}

/// Why ``PostgresURL/probe(logger:)`` could not connect.
public struct PostgresProbeError: Error, CustomStringConvertible {
    public let description: String
    /// PostgreSQL answered and refused; otherwise it could not be reached (yet).
    public let permanent: Bool
}
