public import Logging
public import Switchboard

/// Builds the server's ``Hooks`` from Centrifugo's HTTP proxy configuration: each hook POSTs its event
/// to the backend in Centrifugo's request JSON and reads Centrifugo's response JSON.
///
/// A backend `error` (code 400–1999) or `disconnect` (4000–4999) passes through to the client. A
/// backend that cannot be reached, is slower than the proxy's timeout, answers with a status other
/// than 200 or with JSON that is not Centrifugo's makes the hook fail: the server logs one line with
/// the proxy, its endpoint and the cause, and the client gets error 100 `internal server error`
/// (temporary), which names neither (as Centrifugo's does: the backend's address is not the
/// client's business).
public enum ProxyHooks {
    /// How much longer than the proxy's timeout the hook waits, so that the HTTP request's own
    /// deadline (which names the endpoint in the log) ends it first.
    static let hookMargin: Duration = .milliseconds(250)

    /// The hooks of `configuration`, making their requests with `client`. Events no proxy is
    /// configured for have no hook.
    public static func make(_ configuration: ProxyConfiguration, client: ProxyClient, logger: Logger = Logger(label: "switchboard.proxy")) -> Hooks {
        var hooks = Hooks(logger: logger)
        let proxied = Proxied(client: client, logger: logger)
        if let proxy = configuration.endpoint(for: .connect) {
            hooks.connect = proxied.hook("connect", to: proxy, request: ProxyRequest.connect) { try $0.connect() }
        }
        if let proxy = configuration.endpoint(for: .refresh) {
            hooks.refresh = proxied.hook("refresh", to: proxy, request: ProxyRequest.refresh) { try $0.refresh() }
        }
        if let proxy = configuration.endpoint(for: .rpc) {
            hooks.rpc = proxied.hook("rpc", to: proxy, request: ProxyRequest.rpc) { try $0.rpc() }
        }
        if let selector = ChannelProxies(configuration, .subscribe) {
            hooks.subscribe = proxied.hook("subscribe", by: selector, request: ProxyRequest.subscribe) { try $0.subscribe() }
        }
        if let selector = ChannelProxies(configuration, .publish) {
            hooks.publish = proxied.hook("publish", by: selector, request: ProxyRequest.publish) { try $0.publish() }
        }
        if let selector = ChannelProxies(configuration, .subRefresh) {
            hooks.subRefresh = proxied.hook("sub_refresh", by: selector, request: ProxyRequest.subRefresh) { try $0.refresh() }
        }
        return hooks
    }

    /// Makes hooks that POST their event to a proxy and read its answer.
    struct Proxied: Sendable {
        let client: ProxyClient
        let logger: Logger

        /// A hook whose every event goes to `proxy`.
        func hook<Event: ProxiedEvent, Decision: Sendable>(
            _ name: String,
            to proxy: ProxyEndpoint,
            request: @escaping @Sendable (Event) -> JSONValue,
            decide: @escaping @Sendable (ProxyResponse) throws -> Decision
        ) -> Hook<Event, Decision> {
            self.hook(name, timeout: proxy.timeout, covers: { _ in true }, proxy: { _ in proxy }, request: request, decide: decide)
        }

        /// A hook for the channels whose namespace has a proxy, each event going to its namespace's.
        func hook<Event: ProxiedEvent & ChannelScopedEvent, Decision: Sendable>(
            _ name: String,
            by selector: ChannelProxies,
            request: @escaping @Sendable (Event) -> JSONValue,
            decide: @escaping @Sendable (ProxyResponse) throws -> Decision
        ) -> Hook<Event, Decision> {
            self.hook(name, timeout: selector.timeout, covers: selector.covers, proxy: { event throws(ProxyFailure) in try selector.proxy(for: event.channel) }, request: request, decide: decide)
        }

        private func hook<Event: ProxiedEvent, Decision: Sendable>(
            _ name: String,
            timeout: Duration,
            covers: @escaping @Sendable (String) -> Bool,
            proxy: @escaping @Sendable (Event) throws(ProxyFailure) -> ProxyEndpoint,
            request: @escaping @Sendable (Event) -> JSONValue,
            decide: @escaping @Sendable (ProxyResponse) throws -> Decision
        ) -> Hook<Event, Decision> {
            let client = self.client
            let logger = self.logger
            return Hook(timeout: timeout + ProxyHooks.hookMargin, covers: covers) { event in
                try await ProxyHooks.guarded(name, client: event.client, logger) {
                    let endpoint = try proxy(event)
                    let json = try await client.post(request(event), to: endpoint, request: event.request)
                    return try decide(ProxyResponse(json, proxy: endpoint))
                }
            }
        }
    }

    /// Run a proxy call; a ``ProxyFailure`` becomes one log line (proxy, endpoint, cause) and error
    /// 100 (temporary) for the client, without the backend's address or the cause.
    static func guarded<Decision>(
        _ event: String,
        client: String,
        _ logger: Logger,
        _ call: () async throws -> Decision
    ) async throws -> Decision {
        do {
            return try await call()
        } catch let failure as ProxyFailure {
            logger.warning(
                "The \(event) proxy failed",
                metadata: ["proxy": "\(failure.proxy)", "endpoint": "\(failure.endpoint)", "cause": "\(failure.cause)", "client": "\(client)"]
            )
            throw ProtocolError.internalError(temporary: true)
        }
    }
}

/// An event a proxy is asked about: its client and the connection's request, whose configured
/// headers go with the proxy request.
protocol ProxiedEvent: Sendable {
    var client: String { get }
    var request: ConnectionRequest { get }
}

/// An event about one channel, which goes to its namespace's proxy.
protocol ChannelScopedEvent {
    var channel: String { get }
}

extension ConnectEvent: ProxiedEvent {}
extension RefreshEvent: ProxiedEvent {}
extension RPCEvent: ProxiedEvent {}
extension SubscribeEvent: ProxiedEvent, ChannelScopedEvent {}
extension PublishEvent: ProxiedEvent, ChannelScopedEvent {}
extension SubRefreshEvent: ProxiedEvent, ChannelScopedEvent {}

/// Which proxy a channel event goes to, by the channel's namespace.
struct ChannelProxies: Sendable {
    let byNamespace: [String: ProxyEndpoint]
    /// The hook's timeout: the longest of its proxies' (each request has its own deadline).
    let timeout: Duration

    init?(_ configuration: ProxyConfiguration, _ kind: ProxyConfiguration.Kind) {
        var byNamespace: [String: ProxyEndpoint] = [:]
        for namespace in (configuration.channels[kind] ?? [:]).keys {
            byNamespace[namespace] = configuration.endpoint(for: kind, namespace: namespace)
        }
        guard let longest = byNamespace.values.map(\.timeout).max() else { return nil }
        self.byNamespace = byNamespace
        self.timeout = longest
    }

    var covers: @Sendable (String) -> Bool {
        let byNamespace = self.byNamespace
        return { channel in byNamespace[ChannelConfiguration.namespace(of: channel)] != nil }
    }

    func proxy(for channel: String) throws(ProxyFailure) -> ProxyEndpoint {
        guard let proxy = self.byNamespace[ChannelConfiguration.namespace(of: channel)] else {
            throw ProxyFailure(proxy: "-", endpoint: "-", cause: "no proxy covers channel '\(channel)'")
        }
        return proxy
    }
}

extension ProxyConfiguration {
    /// The hooks of this configuration (see ``ProxyHooks/make(_:client:logger:)``).
    public func makeHooks(client: ProxyClient, logger: Logger = Logger(label: "switchboard.proxy")) -> Hooks {
        ProxyHooks.make(self, client: client, logger: logger)
    }
}
