import Foundation

/// `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS, as operators write it.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    /// 6379 when the URL names none.
    public var port: Int
    /// For `AUTH user password` (Redis 6 ACLs); `nil`: `AUTH password`.
    public var username: String?
    public var password: String?
    /// The database number (`SELECT`), 0 by default.
    public var database: Int
    /// `rediss://`
    public var tls: Bool
    /// `?ca_file=/path/ca.pem` (rediss only): trust the certificates this file holds (a private CA)
    /// instead of the system's. The server's certificate is always verified, with its host name.
    public var caFile: String?

    /// Parse a URL.
    ///
    /// - Throws: ``RedisURLError`` naming what is wrong (never repeating the text, which may hold a
    ///   password).
    public init(_ text: String) throws(RedisURLError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme else {
            throw RedisURLError("not a URL; expected redis://[:password@]host[:port][/db]")
        }
        guard scheme == "redis" || scheme == "rediss" else {
            throw RedisURLError("the URL's scheme must be redis:// or rediss:// (TLS), got '\(scheme)://'")
        }
        guard let host = components.host, !host.isEmpty else { throw RedisURLError("the URL names no host") }
        self.host = host
        self.port = components.port ?? 6379
        guard (1...65535).contains(self.port) else { throw RedisURLError("the port must be between 1 and 65535") }
        let user = components.user.map { $0.removingPercentEncoding ?? $0 }
        self.username = user?.isEmpty == false ? user : nil
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        if self.username != nil, self.password == nil {
            // redis://secret@host: the only part given is the password, as most clients read it.
            self.password = self.username
            self.username = nil
        }
        let path = components.path.drop { $0 == "/" }
        if path.isEmpty {
            self.database = 0
        } else {
            guard let database = Int(path), database >= 0 else { throw RedisURLError("the database must be a number (redis://host:6379/0), got '\(path)'") }
            self.database = database
        }
        self.tls = scheme == "rediss"
        for item in components.queryItems ?? [] {
            guard item.name == "ca_file" else { throw RedisURLError("unknown URL parameter '\(item.name)' (only ca_file, for rediss://)") }
            guard self.tls else { throw RedisURLError("ca_file needs TLS: rediss://") }
            guard let path = item.value, !path.isEmpty else { throw RedisURLError("ca_file needs a path: ?ca_file=/path/ca.pem") }
            self.caFile = path
        }
    }

    /// The URL without its password.
    public var description: String {
        let credentials = self.password == nil ? "" : "\(self.username ?? ""):***@"
        return "\(self.tls ? "rediss" : "redis")://\(credentials)\(self.host):\(self.port)/\(self.database)"
    }
}

/// What is wrong with a Redis URL.
public struct RedisURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
