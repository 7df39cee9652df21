import Switchboard

/// One backend endpoint the HTTP proxy posts events to.
public struct ProxyEndpoint: Sendable, Equatable {
    /// The name in log lines: the named proxy's `name`, or the event (`connect`, `rpc`, …) for the
    /// endpoints of the `proxy_<event>_endpoint` settings.
    public var name: String
    /// The URL requests are POSTed to (`http://…` or `https://…`).
    public var endpoint: String
    /// How long the backend has to answer (Centrifugo's default: 1 second).
    public var timeout: Duration
    /// Headers of the client's HTTP request (the WebSocket upgrade) that are copied onto the proxy's
    /// requests, e.g. `Cookie`, `Authorization`, `Origin`, `User-Agent`, `X-Real-Ip`.
    public var httpHeaders: [String]

    public init(name: String, endpoint: String, timeout: Duration = ProxyConfiguration.defaultTimeout, httpHeaders: [String] = []) {
        self.name = name
        self.endpoint = endpoint
        self.timeout = timeout
        self.httpHeaders = httpHeaders
    }
}

/// Centrifugo's HTTP proxy as the configuration file (and flags) set it up: which events go to which
/// backend endpoint, with which timeout and forwarded headers.
///
/// Two styles, as in Centrifugo v5, can be mixed:
/// - `proxy_connect_endpoint`, `proxy_refresh_endpoint`, `proxy_subscribe_endpoint`,
///   `proxy_publish_endpoint`, `proxy_sub_refresh_endpoint`, `proxy_rpc_endpoint` with their
///   `*_timeout` and the shared `proxy_http_headers`; channels use the subscribe, publish and
///   sub_refresh endpoints where their namespace (or the top level, for channels without a namespace)
///   says `proxy_subscribe`, `proxy_publish`, `proxy_sub_refresh`;
/// - named `proxies` (`name`, `endpoint`, `timeout`, `http_headers`), chosen by `connect_proxy_name`,
///   `refresh_proxy_name`, `rpc_proxy_name` and, per namespace, `subscribe_proxy_name`,
///   `publish_proxy_name`, `sub_refresh_proxy_name` (Centrifugo's granular proxy mode).
public struct ProxyConfiguration: Sendable, Equatable {
    /// The kinds of events the proxy carries.
    public enum Kind: String, Sendable, CaseIterable {
        case connect, refresh, subscribe, publish, subRefresh = "sub_refresh", rpc
    }

    /// Which proxy a namespace (or a client-wide event) uses.
    public enum Selection: Sendable, Equatable {
        /// The `proxy_<event>_endpoint` of the event.
        case `default`
        /// A proxy of ``named``.
        case named(String)
    }

    /// Centrifugo's default proxy timeout.
    public static let defaultTimeout: Duration = .seconds(1)

    /// `proxy_<event>_endpoint` URLs, by event.
    public var endpoints: [Kind: String] = [:]
    /// `proxy_<event>_timeout`, by event.
    public var timeouts: [Kind: Duration] = [:]
    /// `proxy_http_headers`: headers forwarded with the `proxy_<event>_endpoint` requests.
    public var httpHeaders: [String] = []
    /// The `proxies` list, by name.
    public var named: [String: ProxyEndpoint] = [:]
    /// The client-wide events' proxy: `connect_proxy_name` etc., or the default endpoint when set.
    public var clientWide: [Kind: Selection] = [:]
    /// The channel events' proxy, by namespace (`""`: channels without a namespace).
    public var channels: [Kind: [String: Selection]] = [:]

    public init() {}

    /// Whether no event goes to a backend.
    public var isEmpty: Bool { self.resolvedEndpoints().isEmpty }

    /// The endpoint a client-wide event (connect, refresh, rpc) goes to, if any.
    public func endpoint(for kind: Kind) -> ProxyEndpoint? {
        self.resolve(self.clientWide[kind] ?? (self.endpoints[kind] == nil ? nil : .default), kind)
    }

    /// The endpoint a channel event (subscribe, publish, sub_refresh) in `namespace` goes to, if any.
    public func endpoint(for kind: Kind, namespace: String) -> ProxyEndpoint? {
        self.resolve(self.channels[kind]?[namespace], kind)
    }

    /// Every endpoint in use, by event and namespace (client-wide events under `""`).
    func resolvedEndpoints() -> [(Kind, String, ProxyEndpoint)] {
        var result: [(Kind, String, ProxyEndpoint)] = []
        for kind in [Kind.connect, .refresh, .rpc] {
            if let endpoint = self.endpoint(for: kind) { result.append((kind, "", endpoint)) }
        }
        for kind in [Kind.subscribe, .publish, .subRefresh] {
            for namespace in (self.channels[kind] ?? [:]).keys.sorted() {
                if let endpoint = self.endpoint(for: kind, namespace: namespace) { result.append((kind, namespace, endpoint)) }
            }
        }
        return result
    }

    private func resolve(_ selection: Selection?, _ kind: Kind) -> ProxyEndpoint? {
        switch selection {
        case nil: return nil
        case .default:
            guard let url = self.endpoints[kind] else { return nil }
            return ProxyEndpoint(name: kind.rawValue, endpoint: url, timeout: self.timeouts[kind] ?? Self.defaultTimeout, httpHeaders: self.httpHeaders)
        case .named(let name):
            return self.named[name]
        }
    }

    /// What is wrong with the settings (a namespace that asks for a proxy no setting defines), if anything.
    public func problem() -> String? {
        for (kind, url) in self.endpoints.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            if let problem = Self.urlProblem(url) { return "'proxy_\(kind.rawValue)_endpoint' \(problem)" }
        }
        for (name, proxy) in self.named.sorted(by: { $0.key < $1.key }) {
            if let problem = Self.urlProblem(proxy.endpoint) { return "proxy '\(name)': 'endpoint' \(problem)" }
        }
        for (kind, selection) in self.clientWide.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            if case .named(let name) = selection, self.named[name] == nil {
                return "'\(kind.rawValue)_proxy_name' names proxy '\(name)', which 'proxies' does not define"
            }
        }
        for (kind, namespaces) in self.channels.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for (namespace, selection) in namespaces.sorted(by: { $0.key < $1.key }) {
                let place = namespace.isEmpty ? "the top level" : "namespace '\(namespace)'"
                switch selection {
                case .default where self.endpoints[kind] == nil:
                    return "\(place) sets 'proxy_\(kind.rawValue)' but 'proxy_\(kind.rawValue)_endpoint' is not set"
                case .named(let name) where self.named[name] == nil:
                    return "\(place) sets '\(kind.rawValue)_proxy_name' to '\(name)', which 'proxies' does not define"
                default: continue
                }
            }
        }
        return nil
    }

    static func urlProblem(_ url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.count > "http://".count else {
            return "must be an http:// or https:// URL, got '\(url)'"
        }
        return nil
    }
}
