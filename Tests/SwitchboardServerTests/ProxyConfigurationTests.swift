import Switchboard
import SwitchboardServer
import Testing

/// The proxy settings of the configuration file, as a Centrifugo v5 user writes them.
@Suite struct ProxyConfigurationTests {
    static func problem(_ text: String) -> String {
        var configuration = SwitchboardConfiguration()
        do {
            try ConfigurationFile.apply(text, to: &configuration)
            return "accepted"
        } catch {
            return error.description
        }
    }

    @Test func readsCentrifugoV5EndpointsTimeoutsHeadersAndNamespaceSwitches() throws {
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(
            """
            {"proxy_connect_endpoint":"http://localhost:3000/centrifugo/connect","proxy_connect_timeout":"2s",
             "proxy_refresh_endpoint":"http://localhost:3000/centrifugo/refresh","proxy_refresh_timeout":1.5,
             "proxy_subscribe_endpoint":"http://localhost:3000/centrifugo/subscribe",
             "proxy_publish_endpoint":"http://localhost:3000/centrifugo/publish",
             "proxy_sub_refresh_endpoint":"http://localhost:3000/centrifugo/sub_refresh",
             "proxy_rpc_endpoint":"http://localhost:3000/centrifugo/rpc","proxy_rpc_timeout":"500ms",
             "proxy_http_headers":["Cookie","Authorization","X-Real-Ip"],
             "proxy_publish":true,
             "namespaces":[{"name":"rooms","proxy_subscribe":true,"proxy_publish":true,"proxy_sub_refresh":true},
                           {"name":"news","presence":true}]}
            """,
            to: &configuration
        )
        let proxy = configuration.proxy
        let connect = try #require(proxy.endpoint(for: .connect))
        #expect(connect.endpoint == "http://localhost:3000/centrifugo/connect")
        #expect(connect.timeout == .seconds(2))
        #expect(connect.httpHeaders == ["Cookie", "Authorization", "X-Real-Ip"])
        #expect(proxy.endpoint(for: .refresh)?.timeout == .milliseconds(1500))
        #expect(proxy.endpoint(for: .rpc)?.timeout == .milliseconds(500))
        #expect(proxy.endpoint(for: .subscribe, namespace: "rooms")?.endpoint == "http://localhost:3000/centrifugo/subscribe")
        #expect(proxy.endpoint(for: .subscribe, namespace: "news") == nil)
        #expect(proxy.endpoint(for: .subscribe, namespace: "") == nil)
        #expect(proxy.endpoint(for: .publish, namespace: "")?.timeout == ProxyConfiguration.defaultTimeout)
        #expect(proxy.endpoint(for: .subRefresh, namespace: "rooms") != nil)
        #expect(configuration.channels.namespaces["news"]?.presence == true)
    }

    @Test func readsNamedProxiesChosenPerNamespace() throws {
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(
            """
            {"granular_proxy_mode":true,
             "proxies":[{"name":"auth","endpoint":"http://auth:8080/connect","timeout":"3s","http_headers":["Cookie"]},
                        {"name":"chat","endpoint":"https://chat/proxy"}],
             "connect_proxy_name":"auth","rpc_proxy_name":"chat",
             "namespaces":[{"name":"rooms","subscribe_proxy_name":"chat","publish_proxy_name":"chat"}]}
            """,
            to: &configuration
        )
        let proxy = configuration.proxy
        #expect(proxy.endpoint(for: .connect) == ProxyEndpoint(name: "auth", endpoint: "http://auth:8080/connect", timeout: .seconds(3), httpHeaders: ["Cookie"]))
        #expect(proxy.endpoint(for: .rpc)?.name == "chat")
        #expect(proxy.endpoint(for: .refresh) == nil)
        #expect(proxy.endpoint(for: .subscribe, namespace: "rooms")?.endpoint == "https://chat/proxy")
        #expect(proxy.endpoint(for: .publish, namespace: "rooms")?.timeout == .seconds(1))
        #expect(proxy.endpoint(for: .subRefresh, namespace: "rooms") == nil)
    }

    @Test func noProxySettingsMeansNoHooks() throws {
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(#"{"namespaces":[{"name":"rooms"}]}"#, to: &configuration)
        #expect(configuration.proxy.isEmpty)
    }

    @Test func mistakesAreRefusedNamingTheSetting() {
        #expect(Self.problem(#"{"proxy_conect_endpoint":"http://x"}"#) == "unknown setting 'proxy_conect_endpoint'; did you mean 'proxy_connect_endpoint'?")
        #expect(Self.problem(#"{"namespaces":[{"name":"a","proxy_subscibe":true}]}"#) == "unknown namespace setting 'namespaces[0].proxy_subscibe'; did you mean 'proxy_subscribe'?")
        #expect(Self.problem(#"{"proxies":[{"name":"a","endpoint":"http://x","timout":"1s"}]}"#).hasPrefix("unknown proxy setting 'proxies[0].timout'"))
        #expect(Self.problem(#"{"proxy_connect_endpoint":"localhost:3000"}"#).hasPrefix("'proxy_connect_endpoint' must be an http:// or https:// URL"))
        #expect(Self.problem(#"{"proxy_connect_timeout":"0s"}"#) == "'proxy_connect_timeout' must be more than 0 and at most 60 seconds")
        #expect(Self.problem(#"{"proxy_connect_timeout":"2m"}"#) == "'proxy_connect_timeout' must be more than 0 and at most 60 seconds")
        #expect(Self.problem(#"{"proxy_http_headers":"Cookie"}"#) == "'proxy_http_headers' must be an array of header names")
        #expect(Self.problem(#"{"proxy_http_headers":["Bad Header"]}"#) == "'proxy_http_headers[0]' must be an HTTP header name")
        #expect(
            Self.problem(#"{"namespaces":[{"name":"a","proxy_subscribe":true}]}"#)
                == "namespace 'a' sets 'proxy_subscribe' but 'proxy_subscribe_endpoint' is not set"
        )
        #expect(Self.problem(#"{"connect_proxy_name":"nope"}"#) == "'connect_proxy_name' names proxy 'nope', which 'proxies' does not define")
        #expect(
            Self.problem(#"{"namespaces":[{"name":"a","publish_proxy_name":"nope"}]}"#)
                == "namespace 'a' sets 'publish_proxy_name' to 'nope', which 'proxies' does not define"
        )
        #expect(Self.problem(#"{"proxies":[{"name":"a","endpoint":"http://x"},{"name":"a","endpoint":"http://y"}]}"#) == "proxy 'a' is defined twice in 'proxies'")
        #expect(Self.problem(#"{"proxies":[{"name":"a"}]}"#) == "'proxies[0].endpoint' must be set")
    }
}
