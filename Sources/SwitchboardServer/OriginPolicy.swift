/// Which `Origin`s may open a WebSocket or read an HTTP response cross-origin.
///
/// One policy drives both the WebSocket handshake check and the CORS headers, so the two never disagree.
public struct OriginPolicy: Sendable, Equatable, CustomStringConvertible {
    enum Internal: Sendable, Equatable {
        case sameOrigin(extra: [String])
        case any
    }

    let value: Internal

    /// The default: requests without an `Origin` (non-browser clients) and requests whose `Origin`
    /// names the same host and port as their `Host` header.
    ///
    /// Under every policy an `Origin` with a `ws:` or `wss:` scheme counts as a non-browser client:
    /// browsers send only `http(s)` origins (or `null`), while some WebSocket client libraries
    /// (swift-websocket's among them) send the URL they connect to.
    public static var sameOrigin: Self { .init(value: .sameOrigin(extra: [])) }

    /// Every origin (`*`).
    public static var any: Self { .init(value: .any) }

    /// Same origin, plus these origins (`scheme://host[:port]`, compared case-insensitively).
    public static func sameOrigin(plus origins: [String]) -> Self {
        .init(value: .sameOrigin(extra: origins.map(Self.normalize)))
    }

    /// Parse the `--allowed-origins` value: `*`, or a comma-separated list of origins (added to same-origin).
    ///
    /// - Throws: ``OriginPolicyError`` when an entry is not of the form `scheme://host[:port]`.
    public static func parse(_ text: String) throws(OriginPolicyError) -> Self {
        let entries = text.split(separator: ",").map { $0.trimmingCharactersInWhitespace() }.filter { !$0.isEmpty }
        if entries == ["*"] { return .any }
        for entry in entries {
            guard entry != "*" else { throw OriginPolicyError(entry: entry, problem: "'*' cannot be combined with other origins") }
            guard let schemeEnd = entry.range(of: "://"), !entry[schemeEnd.upperBound...].isEmpty,
                !entry[schemeEnd.upperBound...].contains("/")
            else {
                throw OriginPolicyError(entry: entry, problem: "expected scheme://host[:port], e.g. https://app.example.com")
            }
        }
        return .sameOrigin(plus: entries)
    }

    /// Whether a request with this `Origin` and `Host` header is allowed.
    public func allows(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if let scheme = Self.scheme(of: Self.normalize(origin)), scheme == "ws" || scheme == "wss" { return true }
        switch self.value {
        case .any:
            return true
        case .sameOrigin(let extra):
            let origin = Self.normalize(origin)
            if extra.contains(origin) { return true }
            guard let host, let authority = Self.authority(of: origin) else { return false }
            return Self.sameAuthority(authority, Self.normalize(host), scheme: Self.scheme(of: origin))
        }
    }

    /// Whether a request with these `Origin` header values (usually none or one) is allowed: every
    /// value must be.
    public func allows(origins: [String], host: String?) -> Bool {
        origins.allSatisfy { self.allows(origin: $0, host: host) }
    }

    public var description: String {
        switch self.value {
        case .any: "*"
        case .sameOrigin(let extra): extra.isEmpty ? "same-origin" : "same-origin," + extra.joined(separator: ",")
        }
    }

    static func normalize(_ origin: String) -> String {
        var origin = origin.lowercased()
        while origin.hasSuffix("/") { origin.removeLast() }
        return origin
    }

    static func scheme(of origin: String) -> String? {
        origin.range(of: "://").map { String(origin[..<$0.lowerBound]) }
    }

    static func authority(of origin: String) -> String? {
        origin.range(of: "://").map { String(origin[$0.upperBound...]) }
    }

    /// Compare `host[:port]` strings, filling in the scheme's default port where one side omits it.
    static func sameAuthority(_ a: String, _ b: String, scheme: String?) -> Bool {
        let defaultPort = scheme == "https" || scheme == "wss" ? "443" : "80"
        func withPort(_ authority: String) -> String {
            // An IPv6 literal ends in ']' when it has no port.
            if authority.hasSuffix("]") || !authority.contains(":") { return authority + ":" + defaultPort }
            return authority
        }
        return withPort(a) == withPort(b)
    }
}

/// A bad `--allowed-origins` entry.
public struct OriginPolicyError: Error, Sendable, CustomStringConvertible {
    /// The entry as given.
    public let entry: String
    /// What is wrong with it.
    public let problem: String

    /// The entry and its problem, for the command line.
    public var description: String { "invalid allowed origin '\(self.entry)': \(self.problem)" }
}

extension Substring {
    func trimmingCharactersInWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
