import Switchboard
import SwitchboardServer
import Testing

/// The same settings in JSON, YAML and TOML: one configuration, the same errors.
@Suite struct ConfigurationFormatTests {
    static let json = """
        {
          "token_hmac_secret_key": "0123456789abcdef0123456789abcdef",
          "api_key": "key",
          "allow_anonymous": false,
          "client_channel_limit": 7,
          "client_expired_close_delay": "250ms",
          "presence": true,
          "history_size": 5,
          "history_ttl": 30,
          "proxy_connect_endpoint": "http://127.0.0.1:9/connect",
          "proxy_connect_timeout": 1.5,
          "proxy_subscribe_endpoint": "http://127.0.0.1:9/subscribe",
          "proxy_http_headers": ["Cookie", "Authorization"],
          "proxies": [{"name": "rpc", "endpoint": "http://127.0.0.1:9/rpc", "timeout": "2s"}],
          "namespaces": [
            {"name": "chat", "presence": true, "history_size": 10, "history_ttl": "2m", "private": true},
            {"name": "feed", "join_leave": true, "proxy_subscribe": true}
          ]
        }
        """

    static let yaml = """
        # The same settings as YAML.
        token_hmac_secret_key: "0123456789abcdef0123456789abcdef"
        api_key: key
        allow_anonymous: false
        client_channel_limit: 7
        client_expired_close_delay: 250ms
        presence: true
        history_size: 5
        history_ttl: 30
        proxy_connect_endpoint: http://127.0.0.1:9/connect
        proxy_connect_timeout: 1.5
        proxy_subscribe_endpoint: http://127.0.0.1:9/subscribe
        proxy_http_headers: [Cookie, Authorization]
        proxies:
          - name: rpc
            endpoint: http://127.0.0.1:9/rpc
            timeout: 2s
        namespaces:
          - name: chat
            presence: true
            history_size: 10
            history_ttl: 2m
            private: true
          - name: feed
            join_leave: true
            proxy_subscribe: true
        """

    static let toml = """
        # The same settings as TOML.
        token_hmac_secret_key = "0123456789abcdef0123456789abcdef"
        api_key = "key"
        allow_anonymous = false
        client_channel_limit = 7
        client_expired_close_delay = "250ms"
        presence = true
        history_size = 5
        history_ttl = 30
        proxy_connect_endpoint = "http://127.0.0.1:9/connect"
        proxy_connect_timeout = 1.5
        proxy_subscribe_endpoint = "http://127.0.0.1:9/subscribe"
        proxy_http_headers = ["Cookie", "Authorization"]

        [[proxies]]
        name = "rpc"
        endpoint = "http://127.0.0.1:9/rpc"
        timeout = "2s"

        [[namespaces]]
        name = "chat"
        presence = true
        history_size = 10
        history_ttl = "2m"
        private = true

        [[namespaces]]
        name = "feed"
        join_leave = true
        proxy_subscribe = true
        """

    static func load(_ text: String, _ format: ConfigurationFormat) throws -> SwitchboardConfiguration {
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(text, format: format, to: &configuration)
        return configuration
    }

    static func problem(_ text: String, _ format: ConfigurationFormat) -> String {
        do {
            _ = try Self.load(text, format)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func theSameSettingsInEachFormatGiveTheSameConfiguration() throws {
        let json = try Self.load(Self.json, .json)
        // The JSON reading itself, so the comparison below compares real values.
        #expect(json.apiKey == "key")
        #expect(json.tokenKeys.hmacSecret == "0123456789abcdef0123456789abcdef")
        #expect(json.channels.maxChannelsPerConnection == 7)
        #expect(json.expiredCloseDelay == .milliseconds(250))
        #expect(json.channels.namespaces["chat"]?.historyTTL == .seconds(120))
        #expect(json.proxy.timeouts[.connect] == .milliseconds(1500))
        #expect(json.proxy.named["rpc"]?.timeout == .seconds(2))
        for (text, format) in [(Self.yaml, ConfigurationFormat.yaml), (Self.toml, .toml)] {
            let other = try Self.load(text, format)
            #expect(other.apiKey == json.apiKey, "\(format)")
            #expect(other.allowAnonymous == json.allowAnonymous, "\(format)")
            #expect(other.tokenKeys == json.tokenKeys, "\(format)")
            #expect(other.channels == json.channels, "\(format)")
            #expect(other.expiredCloseDelay == json.expiredCloseDelay, "\(format)")
            #expect(other.proxy == json.proxy, "\(format)")
        }
    }

    @Test func theFormatFollowsTheExtension() {
        #expect(ConfigurationFormat(path: "/etc/switchboard/config.json") == .json)
        #expect(ConfigurationFormat(path: "config.YAML") == .yaml)
        #expect(ConfigurationFormat(path: "a.b/config.yml") == .yaml)
        #expect(ConfigurationFormat(path: "config.toml") == .toml)
        #expect(ConfigurationFormat(path: "config.ini") == nil)
        #expect(ConfigurationFormat(path: "config") == nil)
        #expect(ConfigurationFormat(path: "dir.json/config") == nil)
        #expect(ConfigurationFormat(path: ".json") == nil)
    }

    @Test func unknownKeysSuggestTheNearestOneInEveryFormat() {
        let cases: [(String, ConfigurationFormat, String)] = [
            (#"{"presense":true}"#, .json, "unknown setting 'presense'; did you mean 'presence'?"),
            ("presense: true", .yaml, "unknown setting 'presense'; did you mean 'presence'?"),
            ("presense = true", .toml, "unknown setting 'presense'; did you mean 'presence'?"),
            ("tokn_hmac_secret: x", .yaml, "unknown setting 'tokn_hmac_secret'; did you mean 'token_hmac_secret_key'?"),
            (
                "namespaces:\n  - name: a\n    history_sise: 1", .yaml,
                "unknown namespace setting 'namespaces[0].history_sise'; did you mean 'history_size'?"
            ),
            (
                "[[namespaces]]\nname = \"a\"\nallow_publish_for_clients = true", .toml,
                "unknown namespace setting 'namespaces[0].allow_publish_for_clients'; did you mean 'allow_publish_for_client'?"
            ),
            (
                "[[proxies]]\nname = \"a\"\nendpoint = \"http://x\"\nendpont = \"http://y\"", .toml,
                "unknown proxy setting 'proxies[0].endpont'; did you mean 'endpoint'? (known: name, endpoint, timeout, http_headers)"
            ),
            // Nothing near: no guess.
            ("zzz: 1", .yaml, "unknown setting 'zzz'"),
        ]
        for (text, format, expected) in cases {
            #expect(Self.problem(text, format) == expected, "\(format): \(text)")
        }
    }

    @Test func typesAreCheckedTheSameWayInEveryFormat() {
        #expect(Self.problem("presence: \"true\"", .yaml) == "'presence' must be true or false")
        #expect(Self.problem("presence = \"true\"", .toml) == "'presence' must be true or false")
        #expect(Self.problem("history_size: 1.5", .yaml) == "'history_size' must be an integer of at least 0")
        #expect(Self.problem("history_size = 1.5", .toml) == "'history_size' must be an integer of at least 0")
        #expect(Self.problem("api_key: 12", .yaml) == "'api_key' must be a string")
        #expect(Self.problem("history_ttl = 1979-05-27", .toml).hasPrefix("'history_ttl' must be a duration"))
        #expect(Self.problem("- a\n- b", .yaml) == "the file must hold an object (a mapping of settings)")
        // An empty YAML document holds no settings.
        #expect(Self.problem("", .yaml) == "accepted")
        #expect(Self.problem("", .toml) == "accepted")
    }

    @Test func syntaxErrorsNameTheLine() {
        let yaml = Self.problem("api_key: k\nnamespaces: [a, b\npresence: true\n", .yaml)
        #expect(yaml.hasPrefix("not valid YAML: line "), "\(yaml)")
        #expect(!yaml.contains("\n"), "one line: \(yaml)")
        let tabs = Self.problem("api_key: k\n\tpresence: true\n", .yaml)
        #expect(tabs.hasPrefix("not valid YAML: line 2"), "\(tabs)")
        let duplicate = Self.problem("api_key: a\napi_key: b\n", .yaml)
        #expect(duplicate.contains("'api_key'"), "\(duplicate)")
        let toml = Self.problem("api_key = \"k\"\npresence = tru\n", .toml)
        #expect(toml.hasPrefix("not valid TOML: line 2, column "), "\(toml)")
        let unclosed = Self.problem("api_key = \"k\n", .toml)
        #expect(unclosed.hasPrefix("not valid TOML: line 1"), "\(unclosed)")
        #expect(Self.problem("{\"api_key\": }", .json).hasPrefix("not valid JSON"))
    }

    /// Every key the suggestions draw on is really taken: given a value of no setting's type
    /// (an object), each gets a type error, never "unknown setting".
    @Test func everyListedKeyIsKnown() {
        for key in ConfigurationFile.topLevelKeys {
            let problem = Self.problem("{\"\(key)\": {\"x\": {}}}", .json)
            #expect(!problem.hasPrefix("unknown setting '\(key)'"), "\(key): \(problem)")
        }
        for key in ConfigurationFile.namespaceKeys where key != "name" {
            let problem = Self.problem("{\"namespaces\": [{\"name\": \"a\", \"\(key)\": {\"x\": {}}}]}", .json)
            #expect(!problem.hasPrefix("unknown"), "\(key): \(problem)")
        }
    }
}
