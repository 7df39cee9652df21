import Foundation
import Logging
import Switchboard
import Testing

@testable import SwitchboardServer

/// The hooks built from Centrifugo's HTTP proxy configuration, against a real backend on loopback:
/// the JSON each event POSTs, and how each answer becomes a decision.
@Suite struct ProxyHooksTests {
    static let quiet: Logger = {
        var logger = Logger(label: "proxy-test")
        logger.logLevel = .critical
        return logger
    }()

    /// The timeout of tests that expect an answer: loopback answers in milliseconds, but the whole
    /// test run (every suite at once on two cores) can hold a request up for more than a second.
    static let generous: Duration = .seconds(10)

    /// Hooks whose every event goes to `backend` at `/<event>`, channels of namespace `rooms` and of
    /// no namespace included.
    static func hooks(
        _ backend: TestBackend,
        client: ProxyClient,
        timeout: Duration = Self.generous,
        headers: [String] = ["Cookie", "Authorization"],
        logger: Logger = Self.quiet
    ) -> Hooks {
        var proxy = ProxyConfiguration()
        for kind in ProxyConfiguration.Kind.allCases {
            proxy.endpoints[kind] = backend.url("/\(kind.rawValue)")
            proxy.timeouts[kind] = timeout
        }
        proxy.httpHeaders = headers
        for kind in [ProxyConfiguration.Kind.subscribe, .publish, .subRefresh] {
            proxy.channels[kind] = ["rooms": .default, "": .default]
        }
        return proxy.makeHooks(client: client, logger: logger)
    }

    static func withHooks(
        _ replies: [String: TestBackend.Reply],
        timeout: Duration = Self.generous,
        maxResponseBytes: Int = 1 << 20,
        logger: Logger = Self.quiet,
        _ body: (Hooks, TestBackend) async throws -> Void
    ) async throws {
        let client = ProxyClient(maxResponseBytes: maxResponseBytes)
        do {
            try await TestBackend.with(replies) { backend in
                try await body(Self.hooks(backend, client: client, timeout: timeout, logger: logger), backend)
            }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    static let connectEvent = ConnectEvent(
        client: "c1",
        transport: "websocket",
        format: .json,
        request: ConnectionRequest(headers: [("Cookie", "session=abc; theme=dark"), ("Authorization", "Bearer t"), ("X-Other", "no")]),
        data: .object(["hello": .string("world")]),
        name: "python",
        version: "0.7.0"
    )

    // MARK: Requests

    @Test func connectPostsCentrifugosShapeWithTheConfiguredHeaders() async throws {
        try await Self.withHooks(["/connect": .init(body: #"{"result":{"user":"alice"}}"#)]) { hooks, backend in
            _ = try await #require(hooks.connect).handler(Self.connectEvent)
            let received = try #require(backend.last("/connect"))
            #expect(received.header("Cookie") == "session=abc; theme=dark")
            #expect(received.header("Authorization") == "Bearer t")
            #expect(received.header("X-Other") == nil)
            #expect(received.header("Content-Type") == "application/json")
            let body = try #require(received.body)
            #expect(body["client"] == .string("c1"))
            #expect(body["transport"] == .string("websocket"))
            #expect(body["protocol"] == .string("json"))
            #expect(body["encoding"] == .string("json"))
            #expect(body["name"] == .string("python"))
            #expect(body["version"] == .string("0.7.0"))
            #expect(body["data"] == .object(["hello": .string("world")]))
        }
    }

    @Test func channelAndClientEventsPostTheirFields() async throws {
        let replies: [String: TestBackend.Reply] = [
            "/refresh": .init(body: #"{"result":{}}"#), "/subscribe": .init(body: #"{"result":{}}"#),
            "/publish": .init(body: #"{"result":{}}"#), "/sub_refresh": .init(body: #"{"result":{}}"#),
            "/rpc": .init(body: #"{"result":{}}"#),
        ]
        let request = ConnectionRequest(headers: [("Cookie", "session=abc"), ("X-Other", "no")])
        try await Self.withHooks(replies) { hooks, backend in
            _ = try await #require(hooks.refresh).handler(RefreshEvent(client: "c1", user: "alice", info: nil))
            _ = try await #require(hooks.subscribe).handler(
                SubscribeEvent(client: "c1", user: "alice", channel: "rooms:1", data: .string("s"), connectionInfo: nil, request: request)
            )
            _ = try await #require(hooks.publish).handler(
                PublishEvent(client: "c1", user: "alice", channel: "rooms:1", data: .object(["text": .string("hi")]), connectionInfo: nil)
            )
            _ = try await #require(hooks.subRefresh).handler(SubRefreshEvent(client: "c1", user: "alice", channel: "rooms:1", info: nil))
            _ = try await #require(hooks.rpc).handler(
                RPCEvent(client: "c1", user: "alice", method: "sum", data: .array([.integer(1)]), connectionInfo: nil, request: request)
            )
            // The configured headers of the connection's request go with every event, as in Centrifugo v5.
            #expect(backend.last("/subscribe")?.header("Cookie") == "session=abc")
            #expect(backend.last("/rpc")?.header("Cookie") == "session=abc")
            #expect(backend.last("/rpc")?.header("X-Other") == nil)
            #expect(backend.last("/refresh")?.header("Cookie") == nil, "this refresh event carries no request")

            #expect(backend.last("/refresh")?.body == .object(["client": .string("c1"), "encoding": .string("json"), "user": .string("alice")]))
            let subscribe = try #require(backend.last("/subscribe")?.body)
            #expect(subscribe["channel"] == .string("rooms:1"))
            #expect(subscribe["user"] == .string("alice"))
            #expect(subscribe["data"] == .string("s"))
            let publish = try #require(backend.last("/publish")?.body)
            #expect(publish["channel"] == .string("rooms:1"))
            #expect(publish["data"] == .object(["text": .string("hi")]))
            #expect(backend.last("/sub_refresh")?.body?["channel"] == .string("rooms:1"))
            let rpc = try #require(backend.last("/rpc")?.body)
            #expect(rpc["method"] == .string("sum"))
            #expect(rpc["data"] == .array([.integer(1)]))
        }
    }

    // MARK: Answers

    @Test func connectResultBecomesAGrant() async throws {
        let expireAt = Int(Date().timeIntervalSince1970) + 600
        let info = Data(#"{"role":"admin"}"#.utf8).base64EncodedString()
        let body = #"{"result":{"user":"alice","expire_at":\#(expireAt),"b64info":"\#(info)","data":{"welcome":true},"channels":["news"]}}"#
        try await Self.withHooks(["/connect": .init(body: body)]) { hooks, _ in
            guard case .accept(let grant) = try await #require(hooks.connect).handler(Self.connectEvent) else {
                Issue.record("not accepted")
                return
            }
            #expect(grant.user == "alice")
            #expect(grant.info == .object(["role": .string("admin")]))
            #expect(grant.data == .object(["welcome": .bool(true)]))
            #expect(grant.channels == ["news"])
            let left = try #require(grant.expiresIn)
            #expect(left > .seconds(590) && left <= .seconds(600))
        }
    }

    @Test func errorsAndDisconnectsInRangePassThrough() async throws {
        let replies: [String: TestBackend.Reply] = [
            "/connect": .init(body: #"{"error":{"code":1000,"message":"bad session","temporary":true}}"#),
            "/subscribe": .init(body: #"{"disconnect":{"code":4500,"reason":"go away"}}"#),
            "/publish": .init(body: #"{"error":{"code":403,"message":"no"}}"#),
            "/rpc": .init(body: #"{"disconnect":{"code":4001,"reason":"bye"}}"#),
        ]
        try await Self.withHooks(replies) { hooks, _ in
            guard case .reject(let error) = try await #require(hooks.connect).handler(Self.connectEvent) else {
                Issue.record("connect not rejected")
                return
            }
            #expect(error == ProtocolError(code: 1000, message: "bad session", temporary: true))
            let subscribe = try await #require(hooks.subscribe).handler(
                SubscribeEvent(client: "c", user: "u", channel: "rooms:1", data: nil, connectionInfo: nil)
            )
            guard case .disconnect(let reason) = subscribe else {
                Issue.record("subscribe not disconnected")
                return
            }
            #expect(reason == CloseReason(code: 4500, reason: "go away"))
            let publish = try await #require(hooks.publish).handler(PublishEvent(client: "c", user: "u", channel: "x", data: .null, connectionInfo: nil))
            guard case .reject(let publishError) = publish else {
                Issue.record("publish not rejected")
                return
            }
            #expect(publishError == ProtocolError(code: 403, message: "no"))
            guard case .disconnect(let rpcReason) = try await #require(hooks.rpc).handler(RPCEvent(client: "c", user: "u", method: "m", data: nil, connectionInfo: nil)) else {
                Issue.record("rpc not disconnected")
                return
            }
            #expect(rpcReason.code == 4001)
        }
    }

    @Test func publishMayReplaceDataAndSkipHistory() async throws {
        let replies: [String: TestBackend.Reply] = [
            "/publish": .init(body: #"{"result":{"data":{"text":"censored"},"skip_history":true}}"#),
            "/rpc": .init(body: #"{"result":{"data":{"sum":3}}}"#),
            "/sub_refresh": .init(body: #"{"result":{"expired":true}}"#),
            "/refresh": .init(body: #"{"result":{"expire_at":\#(Int(Date().timeIntervalSince1970) + 60),"info":{"n":1}}}"#),
            "/subscribe": .init(body: #"{"result":{"info":{"seat":2},"b64data":"\#(Data("[1]".utf8).base64EncodedString())"}}"#),
        ]
        try await Self.withHooks(replies) { hooks, _ in
            let publish = try await #require(hooks.publish).handler(PublishEvent(client: "c", user: "u", channel: "x", data: .null, connectionInfo: nil))
            guard case .allow(let data, let skipHistory) = publish else {
                Issue.record("publish not allowed")
                return
            }
            #expect(data == .object(["text": .string("censored")]))
            #expect(skipHistory)
            guard case .reply(let reply) = try await #require(hooks.rpc).handler(RPCEvent(client: "c", user: "u", method: "m", data: nil, connectionInfo: nil)) else {
                Issue.record("rpc not answered")
                return
            }
            #expect(reply == .object(["sum": .integer(3)]))
            guard case .expire = try await #require(hooks.subRefresh).handler(SubRefreshEvent(client: "c", user: "u", channel: "x", info: nil)) else {
                Issue.record("sub_refresh did not expire")
                return
            }
            guard case .extend(let expiresIn, let info) = try await #require(hooks.refresh).handler(RefreshEvent(client: "c", user: "u", info: nil)) else {
                Issue.record("refresh did not extend")
                return
            }
            #expect(try #require(expiresIn) > .seconds(50))
            #expect(info == .object(["n": .integer(1)]))
            let subscribe = try await #require(hooks.subscribe).handler(SubscribeEvent(client: "c", user: "u", channel: "x", data: nil, connectionInfo: nil))
            guard case .allow(let grant) = subscribe else {
                Issue.record("subscribe not allowed")
                return
            }
            #expect(grant.info == .object(["seat": .integer(2)]))
            #expect(grant.data == .array([.integer(1)]))
        }
    }

    // MARK: Failures

    /// What the log says about a failed proxy call.
    struct Logged {
        let proxy: String
        let endpoint: String
        let cause: String
    }

    /// Run `call` (a hook's handler), which must fail as a backend failure does: error 100,
    /// temporary, naming neither the backend nor the cause, and one log line that names them.
    static func backendFailure(_ capture: LogCapture, _ call: () async throws -> Void) async -> Logged? {
        do {
            try await call()
            Issue.record("the backend's failure was not a failure")
            return nil
        } catch let error as ProtocolError {
            #expect(error == .internalError(temporary: true))
            #expect(error.message == "internal server error")
        } catch {
            Issue.record("not a protocol error: \(error)")
            return nil
        }
        let lines = capture.lines
        #expect(lines.count == 1)
        guard let line = lines.first else { return nil }
        #expect(line.level == .warning)
        return Logged(proxy: line.metadata["proxy"] ?? "", endpoint: line.metadata["endpoint"] ?? "", cause: line.metadata["cause"] ?? "")
    }

    /// The logged failure of the connect hook for `reply`.
    static func connectFailure(_ reply: TestBackend.Reply, timeout: Duration = Self.generous) async throws -> Logged? {
        let capture = LogCapture()
        var logged: Logged?
        try await Self.withHooks(["/connect": reply], timeout: timeout, logger: capture.logger) { hooks, _ in
            let connect = try #require(hooks.connect)
            logged = await Self.backendFailure(capture) { _ = try await connect.handler(Self.connectEvent) }
        }
        return logged
    }

    @Test func outOfRangeCodesAreBackendFailures() async throws {
        let error = try #require(await Self.connectFailure(.init(body: #"{"error":{"code":100,"message":"x"}}"#)))
        #expect(error.cause.contains("outside 400–1999"))
        let disconnect = try #require(await Self.connectFailure(.init(body: #"{"disconnect":{"code":3000,"reason":"x"}}"#)))
        #expect(disconnect.cause.contains("outside 4000–4999"))
    }

    @Test func nonJSONAndBadStatusAreFailuresNamingTheEndpoint() async throws {
        let notJSON = try #require(await Self.connectFailure(.init(body: "<html>oops</html>")))
        #expect(notJSON.proxy == "connect")
        #expect(notJSON.endpoint.hasSuffix("/connect"))
        #expect(notJSON.cause.contains("not a JSON object"))
        let status = try #require(await Self.connectFailure(.init(status: .internalServerError, body: "{}")))
        #expect(status.cause.contains("500"))
    }

    @Test func anOversizedAnswerIsAFailure() async throws {
        let big = #"{"result":{"data":"\#(String(repeating: "x", count: 200))"}}"#
        let capture = LogCapture()
        try await Self.withHooks(["/rpc": .init(body: big)], maxResponseBytes: 100, logger: capture.logger) { hooks, _ in
            let rpc = try #require(hooks.rpc)
            let logged = await Self.backendFailure(capture) {
                _ = try await rpc.handler(RPCEvent(client: "c", user: "u", method: "m", data: nil, connectionInfo: nil))
            }
            #expect(logged?.cause.contains("larger than 100 bytes") == true)
        }
    }

    @Test func aSlowBackendFailsWithinTheTimeout() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        // The backend would answer after 30 s; the hook gives up at its timeout. The bound only says
        // it did not wait for the answer (it includes starting the backend, slow on a loaded machine).
        let failure = try #require(await Self.connectFailure(.init(body: "{}", delay: .seconds(30)), timeout: .milliseconds(300)))
        #expect(failure.cause.contains("timeout"))
        #expect(clock.now - started < .seconds(20))
    }

    @Test func aBackendThatIsDownGivesTemporaryError100() async throws {
        // A port that was just free: nothing listens on it.
        let port = try await TestBackend.with([:]) { $0.port }
        var proxy = ProxyConfiguration()
        proxy.endpoints[.connect] = "http://127.0.0.1:\(port)/connect"
        let client = ProxyClient()
        let capture = LogCapture()
        let hooks = proxy.makeHooks(client: client, logger: capture.logger)
        let connect = try #require(hooks.connect)
        let logged = await Self.backendFailure(capture) { _ = try await connect.handler(Self.connectEvent) }
        #expect(logged?.cause.contains("unreachable") == true, "\(String(describing: logged))")
        #expect(logged?.endpoint == "http://127.0.0.1:\(port)/connect")
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = await connect.decide(Self.connectEvent, name: "connect", logger: Self.quiet)
        try await client.shutdown()
        guard case .failure(let error) = outcome else {
            Issue.record("a backend that is down did not fail")
            return
        }
        #expect(error.code == 100)
        #expect(error.temporary)
        #expect(clock.now - started < .seconds(5))
    }

    @Test func aSlowBackendThroughDecideGivesTemporaryError100() async throws {
        try await Self.withHooks(["/rpc": .init(body: "{}", delay: .seconds(5))], timeout: .milliseconds(200)) { hooks, _ in
            let rpc = try #require(hooks.rpc)
            let outcome = await rpc.decide(RPCEvent(client: "c", user: "u", method: "m", data: nil, connectionInfo: nil), name: "rpc", logger: Self.quiet)
            guard case .failure(let error) = outcome else {
                Issue.record("a slow backend did not fail")
                return
            }
            #expect(error.code == 100)
            #expect(error.temporary)
        }
    }

    @Test func channelHooksCoverOnlyTheirNamespaces() async throws {
        var proxy = ProxyConfiguration()
        proxy.endpoints[.subscribe] = "http://127.0.0.1:1/subscribe"
        proxy.named["chat"] = ProxyEndpoint(name: "chat", endpoint: "http://127.0.0.1:1/chat")
        proxy.channels[.subscribe] = ["rooms": .default]
        proxy.channels[.publish] = ["chat": .named("chat")]
        let client = ProxyClient()
        let hooks = proxy.makeHooks(client: client, logger: Self.quiet)
        try await client.shutdown()
        let subscribe = try #require(hooks.subscribe)
        #expect(subscribe.covers("rooms:1"))
        #expect(!subscribe.covers("news:1"))
        #expect(!subscribe.covers("lobby"))
        let publish = try #require(hooks.publish)
        #expect(publish.covers("chat:x"))
        #expect(!publish.covers("rooms:1"))
        #expect(hooks.connect == nil && hooks.rpc == nil && hooks.subRefresh == nil)
    }
}
