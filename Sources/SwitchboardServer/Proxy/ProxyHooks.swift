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
        if let proxy = configuration.endpoint(for: .connect) {
            hooks.connect = Hook(timeout: proxy.timeout + Self.hookMargin) { event in
                try await Self.guarded("connect", client: event.client, logger) {
                    let json = try await client.post(ProxyRequest.connect(event), to: proxy, request: event.request)
                    return try ProxyResponse(json, proxy: proxy).connect()
                }
            }
        }
        if let proxy = configuration.endpoint(for: .refresh) {
            hooks.refresh = Hook(timeout: proxy.timeout + Self.hookMargin) { event in
                try await Self.guarded("refresh", client: event.client, logger) {
                    let json = try await client.post(ProxyRequest.refresh(event), to: proxy, request: event.request)
                    return try ProxyResponse(json, proxy: proxy).refresh()
                }
            }
        }
        if let proxy = configuration.endpoint(for: .rpc) {
            hooks.rpc = Hook(timeout: proxy.timeout + Self.hookMargin) { event in
                try await Self.guarded("rpc", client: event.client, logger) {
                    let json = try await client.post(ProxyRequest.rpc(event), to: proxy, request: event.request)
                    return try ProxyResponse(json, proxy: proxy).rpc()
                }
            }
        }
        if let selector = ChannelProxies(configuration, .subscribe) {
            hooks.subscribe = Hook(timeout: selector.timeout + Self.hookMargin, covers: selector.covers) { event in
                try await Self.guarded("subscribe", client: event.client, logger) {
                    let proxy = try selector.proxy(for: event.channel)
                    let json = try await client.post(ProxyRequest.subscribe(event), to: proxy, request: event.request)
                    return try ProxyResponse(json, proxy: proxy).subscribe()
                }
            }
        }
        if let selector = ChannelProxies(configuration, .publish) {
            hooks.publish = Hook(timeout: selector.timeout + Self.hookMargin, covers: selector.covers) { event in
                try await Self.guarded("publish", client: event.client, logger) {
                    let proxy = try selector.proxy(for: event.channel)
                    let json = try await client.post(ProxyRequest.publish(event), to: proxy, request: event.request)
                    return try ProxyResponse(json, proxy: proxy).publish()
                }
            }
        }
        if let selector = ChannelProxies(configuration, .subRefresh) {
            hooks.subRefresh = Hook(timeout: selector.timeout + Self.hookMargin, covers: selector.covers) { event in
                try await Self.guarded("sub_refresh", client: event.client, logger) {
                    let proxy = try selector.proxy(for: event.channel)
                    let json = try await client.post(ProxyRequest.subRefresh(event), to: proxy, request: event.request)
                    return try ProxyResponse(json, proxy: proxy).refresh()
                }
            }
        }
        return hooks
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
