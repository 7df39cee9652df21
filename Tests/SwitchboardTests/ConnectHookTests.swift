import CentrifugeProtobuf
import Foundation
import Testing

@testable import Switchboard

/// The `connect` and `refresh` hooks, driving a session without a socket.
@Suite struct ConnectHookTests {
    private static func hooks(
        timeout: Duration = .seconds(2),
        _ connect: @escaping @Sendable (ConnectEvent) async throws -> ConnectDecision
    ) -> Hooks {
        var hooks = Hooks()
        hooks.connect = Hook(timeout: timeout, connect)
        return hooks
    }

    @Test func theHookAcceptsWithUserInfoDataAndChannelsAndSeesTheRequest() async throws {
        let events = Recorder<ConnectEvent>()
        let request = ConnectionRequest(
            headers: [("Host", "example.com"), ("Cookie", "session=abc; theme=dark"), ("X-Token", "t1")],
            uri: "/connection/websocket?x=1",
            remoteAddress: "127.0.0.1"
        )
        let harness = SessionHarness(hooks: Self.hooks { event in
            events.record(event)
            return .accept(ConnectGrant(user: "u1", info: .object(["role": .string("admin")]), data: .object(["hello": .integer(1)]), channels: ["rooms:news"]))
        }, request: request)
        harness.send(#"{"id":1,"connect":{"data":{"want":"in"},"name":"js","version":"5.0"}}"#)
        let reply = try #require(await harness.nextJSON())
        #expect(reply["id"] == .integer(1))
        #expect(reply["connect"]?["data"] == .object(["hello": .integer(1)]))
        #expect(reply["connect"]?["subs"]?["rooms:news"] != nil)
        #expect(reply["connect"]?["expires"] == nil)
        #expect(harness.session.user == "u1")
        #expect(harness.service.sessions.counts == (clients: 1, users: 1))

        let event = try #require(events.all.first)
        #expect(event.transport == "websocket")
        #expect(event.format == .json)
        #expect(event.request.cookies == ["session": "abc", "theme": "dark"])
        #expect(event.request["x-token"] == "t1")
        #expect(event.request.remoteAddress == "127.0.0.1")
        #expect(event.request.uri == "/connection/websocket?x=1")
        #expect(event.data == .object(["want": .string("in")]))
        #expect(event.name == "js" && event.version == "5.0")
        #expect(event.client == harness.session.id)

        // The hook's info is the connection's: presence and publications carry it.
        harness.send(#"{"id":2,"publish":{"channel":"rooms:news","data":{"t":1}}}"#)
        let push = try #require(await harness.nextJSON())
        #expect(push["push"]?["pub"]?["info"]?["conn_info"] == .object(["role": .string("admin")]))
        #expect(push["push"]?["pub"]?["info"]?["user"] == .string("u1"))
    }

    @Test func aGrantWithMoreChannelsThanTheLimitCloses3505() async throws {
        var channels = SessionHarness.channels
        channels.maxChannelsPerConnection = 1
        let harness = SessionHarness(hooks: Self.hooks { _ in .accept(ConnectGrant(user: "u", channels: ["rooms:a", "rooms:b"])) }, channels: channels)
        harness.send(#"{"id":1,"connect":{}}"#)
        #expect(await harness.next() == .close(Disconnect.channelLimit))
    }

    @Test func refreshedInfoReachesLaterPublications() async throws {
        var hooks = Self.hooks { _ in .accept(ConnectGrant(user: "u", info: .string("old"), expiresIn: .milliseconds(100))) }
        hooks.refresh = Hook { _ in .extend(expiresIn: nil, info: .string("new")) }
        let harness = SessionHarness(hooks: hooks)
        harness.send(#"{"id":1,"connect":{}}"#, #"{"id":2,"subscribe":{"channel":"rooms:a"}}"#)
        #expect(await harness.nextJSON()?["connect"] != nil)
        #expect(await harness.nextJSON()?["subscribe"] != nil)
        let deadline = ContinuousClock.now + .seconds(10)
        while harness.session.state.withLock({ $0.connectionInfo }) != #""new""#, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(harness.session.state.withLock { $0.expiresAt } == nil, "extended for good")
        harness.send(#"{"id":3,"publish":{"channel":"rooms:a","data":1}}"#)
        let push = try #require(await harness.nextJSON())
        #expect(push["push"]?["pub"]?["info"]?["conn_info"] == .string("new"))
    }

    @Test func rejectIsAnErrorReplyAndDisconnectCloses() async throws {
        let rejecting = SessionHarness(hooks: Self.hooks { _ in .reject(.unauthorized("who are you")) })
        rejecting.send(#"{"id":1,"connect":{}}"#)
        let reply = try #require(await rejecting.nextJSON())
        #expect(reply["error"]?["code"] == .integer(101))
        #expect(reply["error"]?["message"] == .string("unauthorized: who are you"))
        #expect(rejecting.service.sessions.counts.clients == 0)

        let closing = SessionHarness(hooks: Self.hooks { _ in .disconnect(CloseReason(code: 4001, reason: "go away")) })
        closing.send(#"{"id":1,"connect":{}}"#)
        #expect(await closing.next() == .close(CloseReason(code: 4001, reason: "go away")))
    }

    @Test func aHookThatThrowsOrTimesOutGetsTemporaryError100() async throws {
        let throwing = SessionHarness(hooks: Self.hooks { _ in throw HookFailure() })
        throwing.send(#"{"id":1,"connect":{}}"#)
        let thrown = try #require(await throwing.nextJSON())
        #expect(thrown["error"]?["code"] == .integer(100))
        #expect(thrown["error"]?["temporary"] == .bool(true))

        let slow = SessionHarness(hooks: Self.hooks(timeout: .milliseconds(100)) { _ in
            try await Task.sleep(for: .seconds(30))
            return .accept(ConnectGrant(user: "late"))
        })
        let started = ContinuousClock.now
        slow.send(#"{"id":1,"connect":{}}"#, #"{"id":2,"ping":{}}"#)
        let timedOut = try #require(await slow.nextJSON())
        #expect(timedOut["error"]?["code"] == .integer(100))
        #expect(timedOut["error"]?["temporary"] == .bool(true))
        #expect(ContinuousClock.now - started < .seconds(5))
        // The command after it waited its turn: 'ping' before 'connect' closes with 3501.
        #expect(await slow.next()?.closeCode == 3501)
    }

    @Test func aClientWithATokenIsCheckedByTheTokenNotTheHook() async throws {
        let calls = Recorder<String>()
        let harness = SessionHarness(hooks: Self.hooks { event in
            calls.record(event.client)
            return .reject(.unauthorized())
        })
        harness.send(#"{"id":1,"connect":{"token":"user:bob"}}"#)
        let reply = try #require(await harness.nextJSON())
        #expect(reply["connect"] != nil)
        #expect(harness.session.user == "bob")
        #expect(calls.count == 0)
    }

    @Test func withoutAHookAnonymousRulesHold() async throws {
        let refused = SessionHarness(settings: ProtocolSettings(allowAnonymous: false, pingInterval: nil))
        refused.send(#"{"id":1,"connect":{}}"#)
        #expect(await refused.next()?.closeCode == 3500)

        let anonymous = SessionHarness()
        anonymous.send(#"{"id":1,"connect":{"data":{"name":"Ann"}}}"#)
        let reply = try #require(await anonymous.nextJSON())
        #expect(reply["connect"]?["client"]?.stringValue == anonymous.session.id)
        #expect(reply["connect"]?["data"] == nil)
    }

    @Test func withoutARefreshHookAnExpiringGrantIsAnnouncedToTheClient() async throws {
        let harness = SessionHarness(hooks: Self.hooks { _ in .accept(ConnectGrant(user: "u", expiresIn: .seconds(60))) })
        harness.send(#"{"id":1,"connect":{}}"#)
        let reply = try #require(await harness.nextJSON())
        #expect(reply["connect"]?["expires"] == .bool(true))
        #expect(reply["connect"]?["ttl"] == .integer(60))
    }

    @Test func theRefreshHookExtendsThenExpires() async throws {
        let refreshes = Recorder<RefreshEvent>()
        var hooks = Self.hooks { _ in .accept(ConnectGrant(user: "u", info: .object(["v": .integer(0)]), expiresIn: .milliseconds(200))) }
        hooks.refresh = Hook { event in
            refreshes.record(event)
            return refreshes.count == 1 ? .extend(expiresIn: .milliseconds(200), info: .object(["v": .integer(1)])) : .expire
        }
        let harness = SessionHarness(hooks: hooks)
        let started = ContinuousClock.now
        harness.send(#"{"id":1,"connect":{}}"#)
        let reply = try #require(await harness.nextJSON())
        #expect(reply["connect"] != nil)
        #expect(reply["connect"]?["expires"] == nil, "the server refreshes: the client is not told")
        #expect(await harness.next(within: .seconds(10)) == .close(Disconnect.expired))
        #expect(ContinuousClock.now - started >= .milliseconds(400))
        #expect(refreshes.count == 2)
        #expect(refreshes.all.map(\.info) == [.object(["v": .integer(0)]), .object(["v": .integer(1)])])
        #expect(refreshes.all.first?.user == "u")
    }

    @Test func aFailingRefreshHookKeepsTheConnectionAndIsAskedAgain() async throws {
        let calls = Recorder<Int>()
        var hooks = Self.hooks { _ in .accept(ConnectGrant(user: "u", expiresIn: .milliseconds(100))) }
        hooks.refreshRetryDelay = .milliseconds(100)
        hooks.refresh = Hook(timeout: .milliseconds(100)) { _ in
            calls.record(calls.count)
            switch calls.count {
            case 1: throw HookFailure()
            case 2: try await Task.sleep(for: .seconds(30))  // times out
            default: break
            }
            return .expire
        }
        let harness = SessionHarness(hooks: hooks, settings: ProtocolSettings(allowAnonymous: true, pingInterval: nil, expiredCloseDelay: .zero))
        harness.send(#"{"id":1,"connect":{}}"#)
        #expect(await harness.nextJSON()?["connect"] != nil)
        #expect(await harness.next(within: .seconds(10)) == .close(Disconnect.expired))
        #expect(calls.count == 3)
    }

    @Test func aUnidirectionalConnectIsDecidedByTheHookToo() async throws {
        let transports = Recorder<String>()
        let accepted = SessionHarness(
            hooks: Self.hooks { event in
                transports.record(event.transport)
                return .accept(ConnectGrant(user: "u", data: .string("welcome")))
            },
            transport: .unidirectional,
            transportName: "uni_sse"
        )
        accepted.session.connectUnidirectional(#"{"data":{"a":1}}"#)
        let push = try #require(await accepted.nextJSON())
        #expect(push["push"]?["connect"]?["data"] == .string("welcome"))
        #expect(transports.all == ["uni_sse"])

        let rejected = SessionHarness(hooks: Self.hooks { _ in .reject(.permissionDenied("no")) }, transport: .unidirectional)
        rejected.session.connectUnidirectional("{}")
        #expect(await rejected.next()?.closeCode == 3500)
    }

    @Test func protobufConnectCarriesNameVersionAndDataBothWays() async throws {
        let events = Recorder<ConnectEvent>()
        let harness = SessionHarness(hooks: Self.hooks { event in
            events.record(event)
            return .accept(ConnectGrant(user: "u", data: .object(["k": .array([.integer(1), .bool(true)])])))
        }, format: .protobuf)
        var command = Centrifugal_Centrifuge_Protocol_Command()
        command.id = 1
        command.connect.name = "swift"
        command.connect.version = "0.1"
        command.connect.data = Data(#"{"x":"y"}"#.utf8)
        try harness.send(command)
        let reply = try #require(await harness.next()?.protobufReply)
        #expect(reply.id == 1)
        #expect(String(decoding: reply.connect.data, as: UTF8.self) == #"{"k":[1,true]}"#)
        let event = try #require(events.all.first)
        #expect(event.name == "swift" && event.version == "0.1")
        #expect(event.data == .object(["x": .string("y")]))
        #expect(event.format == .protobuf)

        let bad = SessionHarness(hooks: Self.hooks { _ in .accept(ConnectGrant(user: "u")) }, format: .protobuf)
        command.connect.data = Data("not json".utf8)
        try bad.send(command)
        #expect(await bad.next()?.protobufReply?.error.code == 107)
    }
}
