import ArgumentParser
import SwitchboardPostgres
import SwitchboardRedis
import SwitchboardServer
import Testing

@testable import switchboard

@Suite struct ServeConfigurationTests {
    @Test func defaultsWithoutFlagsOrEnvironment() throws {
        let configuration = try Serve.parse([]).resolve(environment: [:])
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8000)
        #expect(configuration.maxConnections == nil)
        #expect(configuration.allowedOrigins == .sameOrigin)
        #expect(configuration.maxMessageSize == 65536)
        #expect(configuration.outboxLimit == 1_048_576)
        #expect(configuration.pingInterval == .seconds(30))
        #expect(configuration.closeTimeout == .seconds(5))
        #expect(configuration.requestHeadTimeout == .seconds(10))
        #expect(configuration.httpIdleTimeout == .seconds(60))
        #expect(configuration.echoEndpoint)
        #expect(configuration.compression == WebSocketCompression(isEnabled: false, minimumSize: 128, level: 1))
    }

    @Test func compressionFromFlagsEnvironmentAndFile() throws {
        let flags = try Serve.parse(["--compression", "on", "--compression-min-size", "0", "--compression-level", "9"]).resolve(environment: [:])
        #expect(flags.compression == WebSocketCompression(isEnabled: true, minimumSize: 0, level: 9))
        let environment = try Serve.parse([]).resolve(environment: [
            "SWITCHBOARD_COMPRESSION": "on", "SWITCHBOARD_COMPRESSION_MIN_SIZE": "512", "SWITCHBOARD_COMPRESSION_LEVEL": "6",
        ])
        #expect(environment.compression == WebSocketCompression(isEnabled: true, minimumSize: 512, level: 6))
        // The flag wins over the variable.
        #expect(try !Serve.parse(["--compression", "off"]).resolve(environment: ["SWITCHBOARD_COMPRESSION": "on"]).compression.isEnabled)
    }

    @Test func environmentSetsEveryOption() throws {
        let configuration = try Serve.parse([]).resolve(environment: [
            "SWITCHBOARD_HOST": "0.0.0.0",
            "SWITCHBOARD_PORT": "9000",
            "SWITCHBOARD_LOG_LEVEL": "DEBUG",
            "SWITCHBOARD_MAX_CONNECTIONS": "10",
            "SWITCHBOARD_ALLOWED_ORIGINS": "*",
            "SWITCHBOARD_MAX_MESSAGE_SIZE": "1024",
            "SWITCHBOARD_OUTBOX_LIMIT": "4096",
            "SWITCHBOARD_PING_INTERVAL": "0",
            "SWITCHBOARD_CLOSE_TIMEOUT": "0.5",
            "SWITCHBOARD_REQUEST_HEAD_TIMEOUT": "2.5",
            "SWITCHBOARD_HTTP_IDLE_TIMEOUT": "30",
            "SWITCHBOARD_ECHO_ENDPOINT": "false",
        ])
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9000)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.maxConnections == 10)
        #expect(configuration.allowedOrigins == .any)
        #expect(configuration.maxMessageSize == 1024)
        #expect(configuration.outboxLimit == 4096)
        #expect(configuration.pingInterval == nil)
        #expect(configuration.closeTimeout == .milliseconds(500))
        #expect(configuration.requestHeadTimeout == .milliseconds(2500))
        #expect(configuration.httpIdleTimeout == .seconds(30))
        #expect(!configuration.echoEndpoint)
    }

    @Test func httpTimeoutFlagsWinOverEnvironment() throws {
        let configuration = try Serve.parse(["--request-head-timeout", "3", "--http-idle-timeout", "4"])
            .resolve(environment: ["SWITCHBOARD_REQUEST_HEAD_TIMEOUT": "9", "SWITCHBOARD_HTTP_IDLE_TIMEOUT": "9"])
        #expect(configuration.requestHeadTimeout == .seconds(3))
        #expect(configuration.httpIdleTimeout == .seconds(4))
    }

    @Test func flagsWinOverEnvironment() throws {
        let configuration = try Serve.parse(["--port", "7000", "--max-connections", "3", "--echo-endpoint"])
            .resolve(environment: ["SWITCHBOARD_PORT": "9000", "SWITCHBOARD_MAX_CONNECTIONS": "10", "SWITCHBOARD_ECHO_ENDPOINT": "0"])
        #expect(configuration.port == 7000)
        #expect(configuration.maxConnections == 3)
        #expect(configuration.echoEndpoint)
        #expect(try !Serve.parse(["--no-echo-endpoint"]).resolve(environment: [:]).echoEndpoint)
    }

    @Test(arguments: [
        (["--port", "70000"], [String: String](), "port must be between 0 and 65535"),
        ([], ["SWITCHBOARD_PORT": "eighty"], "SWITCHBOARD_PORT='eighty' is not a valid value"),
        (["--max-connections", "0"], [:], "max-connections must be at least 1"),
        (["--request-head-timeout", "0"], [:], "request-head-timeout must be more than 0 seconds"),
        ([], ["SWITCHBOARD_HTTP_IDLE_TIMEOUT": "-1"], "http-idle-timeout must be more than 0 seconds"),
        (["--allowed-origins", "example.com"], [:], "invalid allowed origin 'example.com'"),
        (["--log-level", "loud"], [:], "log level must be one of"),
        (["--max-message-size", "0"], [:], "max-message-size must be between"),
        (["--outbox-limit=-1"], [:], "outbox-limit must be at least 1"),
        (["--ping-interval=-1"], [:], "ping-interval must be 0 (off) or more"),
        (["--close-timeout", "0"], [:], "close-timeout must be more than 0"),
        ([], ["SWITCHBOARD_ECHO_ENDPOINT": "maybe"], "SWITCHBOARD_ECHO_ENDPOINT='maybe'"),
        (["--compression", "sometimes"], [:], "compression must be on or off, got 'sometimes'"),
        (["--compression-min-size=-1"], [:], "compression-min-size must be 0 or more"),
        ([], ["SWITCHBOARD_COMPRESSION_LEVEL": "0"], "compression-level must be from 1 to 9, got 0"),
    ])
    func badValuesAreRefusedWithAMessage(arguments: [String], environment: [String: String], message: String) throws {
        let serve = try Serve.parse(arguments)
        #expect {
            try serve.resolve(environment: environment)
        } throws: { error in
            (error as? ValidationError)?.message.contains(message) == true
        }
    }
}

@Suite struct EventLoopThreadsTests {
    @Test func flagThenEnvironmentThenTheCPUsThisProcessMayUse() throws {
        #expect(try Serve.parse(["--threads", "3"]).resolveThreads(environment: ["SWITCHBOARD_THREADS": "5"]) == 3)
        #expect(try Serve.parse([]).resolveThreads(environment: ["SWITCHBOARD_THREADS": "5"]) == 5)
        #expect(try Serve.parse([]).resolveThreads(environment: [:]) == AvailableCPUs.count)
        #expect(throws: ValidationError.self) { try Serve.parse(["--threads", "0"]).resolveThreads(environment: [:]) }
        #expect(throws: ValidationError.self) { try Serve.parse([]).resolveThreads(environment: ["SWITCHBOARD_THREADS": "many"]) }
    }

    @Test func cpuListsAreCounted() {
        #expect(AvailableCPUs.count(ofList: "0") == 1)
        #expect(AvailableCPUs.count(ofList: "\t0-3,8,10-11") == 7)
        #expect(AvailableCPUs.count(ofList: "") == nil)
        #expect(AvailableCPUs.count(ofList: "3-1") == nil)
        #expect(AvailableCPUs.count(ofList: "a-b") == nil)
    }

    /// This process's own mask, as the kernel reports it (the test suite may run under taskset).
    @Test func theAffinityMaskIsRead() throws {
        let count = try #require(AvailableCPUs.affinityCount)
        #expect(count >= 1)
        #expect(AvailableCPUs.count <= count)
    }
}

@Suite struct EngineOptionTests {
    @Test func memoryUnlessToldOtherwise() throws {
        #expect(try Serve.parse([]).resolveEngine(environment: [:]) == .memory)
        #expect(try Serve.parse(["--engine", "memory"]).resolveEngine(environment: ["SWITCHBOARD_ENGINE": "postgres"]) == .memory)
    }

    @Test func postgresFromFlagsOrEnvironment() throws {
        let url = try PostgresURL("postgres://sb:secret@db.internal:5433/switchboard")
        #expect(
            try Serve.parse(["--engine", "postgres", "--postgres-url", "postgres://sb:secret@db.internal:5433/switchboard", "--node-ttl", "4"])
                .resolveEngine(environment: [:]) == .postgres(url: url, nodeTTL: .seconds(4))
        )
        #expect(
            try Serve.parse([]).resolveEngine(environment: [
                "SWITCHBOARD_ENGINE": "postgres",
                "SWITCHBOARD_POSTGRES_URL": "postgres://sb:secret@db.internal:5433/switchboard",
            ]) == .postgres(url: url, nodeTTL: .seconds(15))
        )
    }

    @Test(arguments: [
        (["--engine", "mongodb"], [:], "engine must be memory, postgres or redis"),
        (["--engine", "redis"], [:], "needs Redis"),
        (["--redis-url", "redis://a:6379"], [:], "needs --engine redis"),
        (["--engine", "postgres", "--postgres-url", "postgres://a@b/c", "--redis-url", "redis://a"], [:], "needs --engine redis"),
        (["--engine", "redis", "--redis-url", "http://a:6379"], [:], "redis-url: the URL's scheme"),
        (["--engine", "redis", "--redis-url", "redis://a:6379", "--redis-url", "a:6379"], [:], "given twice"),
        (["--engine", "redis", "--redis-url", "redis://a:6379", "--redis-prefix", "two words"], [:], "redis-prefix must be"),
        (["--engine", "redis"], ["SWITCHBOARD_REDIS_URL": "redis://a:99999"], "redis-url: the port"),
        (["--engine", "postgres"], [:], "needs the database"),
        (["--postgres-url", "postgres://a@b/c"], [:], "needs --engine postgres"),
        (["--engine", "postgres", "--postgres-url", "mysql://a@b/c"], [:], "postgres-url: the URL's scheme"),
        (["--engine", "postgres", "--postgres-url", "postgres://a@b/c", "--node-ttl", "0.5"], [:], "node-ttl must be between"),
        (["--engine", "postgres", "--postgres-url", "postgres://a@b/c"], ["SWITCHBOARD_NODE_TTL": "soon"], "SWITCHBOARD_NODE_TTL='soon'"),
    ] as [([String], [String: String], String)])
    func badChoicesAreRefusedWithAMessage(arguments: [String], environment: [String: String], message: String) throws {
        #expect {
            try Serve.parse(arguments).resolveEngine(environment: environment)
        } throws: { error in
            (error as? ValidationError)?.message.contains(message) == true
        }
    }

    @Test func redisFromFlagsEnvironmentOrFile() throws {
        let a = try RedisURL("redis://:secret@cache-a:6380/2"), b = try RedisURL("redis://cache-b:6379")
        #expect(
            try Serve.parse(["--engine", "redis", "--redis-url", "redis://:secret@cache-a:6380/2", "--redis-url", "cache-b:6379", "--node-ttl", "4"])
                .resolveEngine(environment: ["SWITCHBOARD_REDIS_URL": "redis://ignored"]) == .redis(urls: [a, b], nodeTTL: .seconds(4), prefix: "switchboard")
        )
        #expect(
            try Serve.parse([]).resolveEngine(environment: [
                "SWITCHBOARD_ENGINE": "redis", "SWITCHBOARD_REDIS_URL": "redis://:secret@cache-a:6380/2, cache-b:6379", "SWITCHBOARD_REDIS_PREFIX": "chat",
            ]) == .redis(urls: [a, b], nodeTTL: .seconds(15), prefix: "chat")
        )
        // The configuration file, in Centrifugo's words; flags and variables come first.
        var configuration = SwitchboardConfiguration()
        try ConfigurationFile.apply(
            #"{"engine": {"type": "redis"}, "redis_address": ["redis://:secret@cache-a:6380/2", "cache-b:6379"], "redis_prefix": "x", "node_ttl": "5s"}"#,
            to: &configuration
        )
        #expect(try Serve.parse([]).resolveEngine(environment: [:], file: configuration.engineSettings) == .redis(urls: [a, b], nodeTTL: .seconds(5), prefix: "x"))
        #expect(try Serve.parse(["--engine", "memory"]).resolveEngine(environment: [:], file: configuration.engineSettings) == .memory)
        try ConfigurationFile.apply(#"{"engine": "redis", "redis_address": "cache-b:6379"}"#, to: &configuration)
        #expect(try Serve.parse([]).resolveEngine(environment: [:], file: configuration.engineSettings) == .redis(urls: [b], nodeTTL: .seconds(5), prefix: "x"))
        #expect(throws: ConfigurationFile.Error.self) { try ConfigurationFile.apply(#"{"engine": "mongodb"}"#, to: &configuration) }
        #expect(throws: ConfigurationFile.Error.self) { try ConfigurationFile.apply(#"{"redis_address": []}"#, to: &configuration) }
    }

    @Test func proxyFlagsAndEnvironment() throws {
        let flags = try Serve.parse([
            "--proxy-connect-endpoint", "http://127.0.0.1:3000/connect", "--proxy-connect-timeout", "2.5",
            "--proxy-rpc-endpoint", "http://127.0.0.1:3000/rpc", "--proxy-http-headers", "Cookie, Authorization",
        ]).resolve(environment: ["SWITCHBOARD_PROXY_CONNECT_ENDPOINT": "http://ignored/connect", "SWITCHBOARD_PROXY_REFRESH_ENDPOINT": "http://127.0.0.1:3000/refresh"])
        let connect = try #require(flags.proxy.endpoint(for: .connect))
        #expect(connect.endpoint == "http://127.0.0.1:3000/connect")
        #expect(connect.timeout == .milliseconds(2500))
        #expect(connect.httpHeaders == ["Cookie", "Authorization"])
        #expect(flags.proxy.endpoint(for: .rpc)?.timeout == .seconds(1))
        #expect(flags.proxy.endpoint(for: .refresh)?.endpoint == "http://127.0.0.1:3000/refresh")
        #expect(throws: ValidationError.self) { try Serve.parse(["--proxy-connect-endpoint", "nope"]).resolve(environment: [:]) }
        #expect(throws: ValidationError.self) { try Serve.parse(["--proxy-rpc-timeout", "0"]).resolve(environment: [:]) }
        #expect(throws: ValidationError.self) { try Serve.parse(["--proxy-http-headers", "Bad Header"]).resolve(environment: [:]) }
        #expect(try Serve.parse([]).resolve(environment: [:]).proxy.isEmpty)
    }

    @Test func metricsAndLogFormatFromFlagsEnvironmentAndFile() throws {
        let defaults = try Serve.parse([]).resolve(environment: [:])
        #expect(!defaults.prometheus, "metrics are off by default")
        #expect(defaults.logFormat == .text)
        let flags = try Serve.parse(["--prometheus", "--log-format", "json"]).resolve(environment: ["SWITCHBOARD_PROMETHEUS": "false"])
        #expect(flags.prometheus && flags.logFormat == .json, "a flag wins over the variable")
        let environment = try Serve.parse([]).resolve(environment: ["SWITCHBOARD_PROMETHEUS": "true", "SWITCHBOARD_LOG_FORMAT": "JSON"])
        #expect(environment.prometheus && environment.logFormat == .json)
        #expect(try !Serve.parse(["--no-prometheus"]).resolve(environment: ["SWITCHBOARD_PROMETHEUS": "1"]).prometheus)
        #expect(throws: ValidationError.self) { try Serve.parse(["--log-format", "xml"]).resolve(environment: [:]) }
        #expect(throws: ValidationError.self) { try Serve.parse([]).resolve(environment: ["SWITCHBOARD_PROMETHEUS": "maybe"]) }
    }
}
