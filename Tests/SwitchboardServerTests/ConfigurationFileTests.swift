import Switchboard
import SwitchboardServer
import Testing

@Suite struct ConfigurationFileTests {
    @Test func readsNamespacesKeysAndLimits() throws {
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(
            """
            {"api_key":"k","allow_anonymous":true,"client_channel_limit":3,"history_size":5,"history_ttl":30,
             "namespaces":[{"name":"chat","presence":true,"history_size":10,"history_ttl":"2m","private":true}]}
            """,
            to: &configuration
        )
        #expect(configuration.apiKey == "k")
        #expect(configuration.allowAnonymous == true)
        #expect(configuration.channels.maxChannelsPerConnection == 3)
        #expect(configuration.channels.defaultOptions.historySize == 5)
        #expect(configuration.channels.defaultOptions.historyTTL == .seconds(30))
        let chat = try #require(configuration.channels.namespaces["chat"])
        #expect(chat.presence && chat.private && chat.historySize == 10 && chat.historyTTL == .seconds(120))
        #expect(configuration.channels.namespaces["rooms"] == nil, "a file replaces the built-in namespaces")
    }

    @Test func readsDeltaCompression() throws {
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(
            #"{"namespaces":[{"name":"doc","history_size":1,"history_ttl":60,"allowed_delta_types":["fossil"],"delta_publish":true},{"name":"plain"}]}"#,
            to: &configuration
        )
        let doc = try #require(configuration.channels.namespaces["doc"])
        #expect(doc.allowedDeltaTypes == [.fossil] && doc.deltaPublish)
        let plain = try #require(configuration.channels.namespaces["plain"])
        #expect(plain.allowedDeltaTypes.isEmpty && !plain.deltaPublish, "off unless turned on")
    }

    @Test func mistakesNameTheSetting() {
        func problem(_ text: String) -> String {
            var configuration = SwitchboardConfiguration()
            do {
                try ConfigurationFile.apply(text, to: &configuration)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(problem(#"{"presense":true}"#) == "unknown setting 'presense'; did you mean 'presence'?")
        #expect(problem(#"{"namespaces":[{"name":"a","histroy_size":1}]}"#) == "unknown namespace setting 'namespaces[0].histroy_size'; did you mean 'history_size'?")
        #expect(problem(#"{"history_ttl":"ten"}"#).hasPrefix("'history_ttl' must be a duration"))
        #expect(problem(#"{"namespaces":[{"name":"a:b"}]}"#) == "'namespaces[0].name' must not contain ':'")
        #expect(problem(#"{"namespaces":[{"name":"a"},{"name":"a"}]}"#) == "namespace 'a' is defined twice")
        #expect(problem(#"{"namespaces":[{"name":"a","allowed_delta_types":["xdelta"]}]}"#) == #"'namespaces[0].allowed_delta_types' holds "xdelta", which is not a delta type ("fossil")"#)
        #expect(problem(#"{"allowed_delta_types":"fossil"}"#) == #"'allowed_delta_types' must be an array of delta types ("fossil")"#)
        #expect(problem("[1]") == "the file must hold an object (a mapping of settings)")
        #expect(problem("{").hasPrefix("not valid JSON"))
    }

    @Test func readsTokenRulesAndProtocolBounds() throws {
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(
            """
            {"token_audience":"switchboard","token_issuer":"https://auth.example",
             "client_max_commands_per_message":32,"client_history_max_bytes":65536}
            """,
            to: &configuration
        )
        #expect(configuration.tokenRules == TokenRules(audience: "switchboard", issuer: "https://auth.example"))
        #expect(configuration.maxCommandsPerMessage == 32)
        #expect(configuration.maxHistoryReplyBytes == 65536)
    }

    /// Issue 11, also found by fuzzing (Fuzz/, target `configuration`): a duration past what an Int64
    /// of milliseconds holds trapped in the conversion instead of being refused.
    @Test func hugeOrOddDurationsAreRefusedNotATrap() {
        for text in [
            #"{"history_ttl":1e16}"#,
            #"{"history_ttl":-1}"#,
            #"{"history_ttl":"nan s"}"#,
            #"{"history_ttl":"infm"}"#,
            #"{"token_audience":""}"#,
            #"{"history_ttl":1e300}"#,
            #"{"history_ttl":9223372036854776}"#,
            #"{"client_expired_close_delay":"1e300s"}"#,
            #"{"namespaces":[{"name":"a","history_ttl":"99999999999999999h"}]}"#,
            #"{"history_ttl":"1e19ms"}"#,
        ] {
            var configuration = SwitchboardConfiguration()
            #expect(throws: ConfigurationFile.Error.self, "\(text)") { try ConfigurationFile.apply(text, to: &configuration) }
        }
        var configuration = SwitchboardConfiguration()
        #expect(throws: Never.self) { try ConfigurationFile.apply(#"{"history_ttl":"1e9s","client_expired_close_delay":0.001}"#, to: &configuration) }
        #expect(configuration.channels.defaultOptions.historyTTL == .seconds(1_000_000_000))
        #expect(configuration.expiredCloseDelay == .milliseconds(1))
    }

    @Test func anonymousDefaultFollowsTokenKeys() {
        var configuration = SwitchboardConfiguration()
        #expect(configuration.acceptsAnonymous)
        configuration.tokenKeys.hmacSecret = String(repeating: "s", count: 32)
        #expect(!configuration.acceptsAnonymous)
        configuration.allowAnonymous = true
        #expect(configuration.acceptsAnonymous)
    }
}
