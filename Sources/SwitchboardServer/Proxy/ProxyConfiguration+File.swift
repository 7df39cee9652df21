import Switchboard

/// The proxy's settings in the configuration file (see ``ProxyConfiguration``).
extension ProxyConfiguration {
    typealias FileError = ConfigurationFile.Error

    /// Apply one top-level setting of the file; `false` if `key` is not a proxy setting.
    mutating func applyTopLevel(_ key: String, _ value: JSONValue) throws(FileError) -> Bool {
        if try self.applyChannelSetting(key, value, namespace: "", at: key) { return true }
        for kind in Kind.allCases {
            switch key {
            case "proxy_\(kind.rawValue)_endpoint":
                let url = try Self.string(value, at: key)
                if url.isEmpty { self.endpoints[kind] = nil } else { self.endpoints[kind] = url }
                return true
            case "proxy_\(kind.rawValue)_timeout":
                self.timeouts[kind] = try Self.timeout(value, at: key)
                return true
            case "\(kind.rawValue)_proxy_name" where [.connect, .refresh, .rpc].contains(kind):
                let name = try Self.string(value, at: key)
                self.clientWide[kind] = name.isEmpty ? nil : .named(name)
                return true
            default: continue
            }
        }
        switch key {
        case "proxy_http_headers":
            self.httpHeaders = try Self.headerNames(value, at: key)
        case "granular_proxy_mode":
            // Centrifugo needs it for named proxies; here the `*_proxy_name` settings suffice.
            _ = try Self.bool(value, at: key)
        case "proxies":
            guard let list = value.arrayValue else { throw FileError("'proxies' must be an array of objects") }
            for (index, entry) in list.enumerated() {
                let proxy = try Self.namedProxy(entry, at: "proxies[\(index)]")
                guard self.named[proxy.name] == nil else { throw FileError("proxy '\(proxy.name)' is defined twice in 'proxies'") }
                self.named[proxy.name] = proxy
            }
        default:
            return false
        }
        return true
    }

    /// The top-level keys ``applyTopLevel(_:_:)`` takes (for "did you mean" suggestions).
    static var topLevelKeys: [String] {
        var keys = Self.channelKeys
        for kind in Kind.allCases {
            keys += ["proxy_\(kind.rawValue)_endpoint", "proxy_\(kind.rawValue)_timeout"]
        }
        keys += [Kind.connect, .refresh, .rpc].map { "\($0.rawValue)_proxy_name" }
        return keys + ["proxy_http_headers", "granular_proxy_mode", "proxies"]
    }

    /// The namespace keys ``applyChannelSetting(_:_:namespace:at:)`` takes.
    static var channelKeys: [String] {
        [Kind.subscribe, .publish, .subRefresh].flatMap { ["proxy_\($0.rawValue)", "\($0.rawValue)_proxy_name"] }
    }

    /// The keys of one entry of `proxies`.
    static let namedProxyKeys = ["name", "endpoint", "timeout", "http_headers"]

    /// Apply one channel setting of a namespace (`""`: the top level); `false` if `key` is not one.
    mutating func applyChannelSetting(_ key: String, _ value: JSONValue, namespace: String, at path: String) throws(FileError) -> Bool {
        for kind in [Kind.subscribe, .publish, .subRefresh] {
            switch key {
            case "proxy_\(kind.rawValue)":
                if try Self.bool(value, at: path) {
                    self.channels[kind, default: [:]][namespace] = .default
                } else if self.channels[kind]?[namespace] == .default {
                    self.channels[kind]?[namespace] = nil
                }
                return true
            case "\(kind.rawValue)_proxy_name":
                let name = try Self.string(value, at: path)
                self.channels[kind, default: [:]][namespace] = name.isEmpty ? nil : .named(name)
                return true
            default: continue
            }
        }
        return false
    }

    private static func namedProxy(_ entry: JSONValue, at path: String) throws(FileError) -> ProxyEndpoint {
        guard let fields = entry.members else { throw FileError("'\(path)' must be an object") }
        guard let name = entry["name"]?.stringValue, !name.isEmpty else { throw FileError("'\(path).name' must be a non-empty string") }
        var proxy = ProxyEndpoint(name: name, endpoint: "")
        for field in fields {
            let fieldPath = "\(path).\(field.key)"
            switch field.key {
            case "name": continue
            case "endpoint": proxy.endpoint = try Self.string(field.value, at: fieldPath)
            case "timeout": proxy.timeout = try Self.timeout(field.value, at: fieldPath)
            case "http_headers": proxy.httpHeaders = try Self.headerNames(field.value, at: fieldPath)
            default:
                throw FileError(
                    "unknown proxy setting '\(fieldPath)'" + ConfigurationFile.suggestion(for: field.key, among: Self.namedProxyKeys)
                        + " (known: name, endpoint, timeout, http_headers)"
                )
            }
        }
        guard !proxy.endpoint.isEmpty else { throw FileError("'\(path).endpoint' must be set") }
        return proxy
    }

    private static func string(_ value: JSONValue, at path: String) throws(FileError) -> String {
        guard let string = value.stringValue else { throw FileError("'\(path)' must be a string") }
        return string
    }

    private static func bool(_ value: JSONValue, at path: String) throws(FileError) -> Bool {
        guard let bool = value.boolValue else { throw FileError("'\(path)' must be true or false") }
        return bool
    }

    /// A proxy timeout: more than zero, at most a minute (a client waits that long for its reply).
    static func timeout(_ value: JSONValue, at path: String) throws(FileError) -> Duration {
        let timeout = try ConfigurationFile.duration(value, at: path)
        guard timeout > .zero, timeout <= Self.maximumTimeout else {
            throw FileError("'\(path)' must be more than 0 and at most 60 seconds")
        }
        return timeout
    }

    /// The longest a proxy timeout may be.
    public static let maximumTimeout: Duration = .seconds(60)

    static func headerNames(_ value: JSONValue, at path: String) throws(FileError) -> [String] {
        guard let list = value.arrayValue else { throw FileError("'\(path)' must be an array of header names") }
        var names: [String] = []
        for (index, element) in list.enumerated() {
            guard let name = element.stringValue, Self.isHeaderName(name) else {
                throw FileError("'\(path)[\(index)]' must be an HTTP header name")
            }
            names.append(name)
        }
        return names
    }

    /// Whether `name` can be an HTTP header's name (for the `--proxy-http-headers` flag).
    public static func isValidHeaderName(_ name: String) -> Bool { Self.isHeaderName(name) }

    /// A token of RFC 9110 (letters, digits and `!#$%&'*+-.^_`|~`).
    static func isHeaderName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
    }
}
