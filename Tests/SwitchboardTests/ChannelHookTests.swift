import CentrifugeProtobuf
import Foundation
import Testing

@testable import Switchboard

/// The `subscribe`, `subRefresh` and `publish` hooks, driving a session without a socket. Namespace
/// `closed` lets clients do nothing on their own; `rooms` lets them subscribe and publish.
@Suite struct ChannelHookTests {
    /// A connected anonymous session.
    private static func connected(_ hooks: Hooks, format: ProtocolFormat = .json) async throws -> SessionHarness {
        let harness = SessionHarness(hooks: hooks, format: format)
        if format == .json {
            harness.send(#"{"id":1,"connect":{}}"#)
            #expect(await harness.nextJSON()?["connect"] != nil)
        } else {
            var command = Centrifugal_Centrifuge_Protocol_Command()
            command.id = 1
            command.connect = .init()
            try harness.send(command)
            #expect(await harness.next()?.protobufReply?.hasConnect == true)
        }
        return harness
    }

    private static func subscribeHook(
        timeout: Duration = .seconds(2),
        covers: @escaping @Sendable (String) -> Bool = { $0.hasPrefix("closed:") },
        _ decide: @escaping @Sendable (SubscribeEvent) async throws -> SubscribeDecision
    ) -> Hooks {
        var hooks = Hooks()
        hooks.subscribe = Hook(timeout: timeout, covers: covers, decide)
        return hooks
    }

    @Test func theSubscribeHookAllowsWhatTheNamespaceWouldNotWithInfoAndData() async throws {
        let events = Recorder<SubscribeEvent>()
        let harness = try await Self.connected(Self.subscribeHook { event in
            events.record(event)
            return .allow(SubscribeGrant(info: .object(["seat": .integer(7)]), data: .object(["welcome": .bool(true)])))
        })
        harness.send(#"{"id":2,"subscribe":{"channel":"closed:a","data":{"why":"curious"}}}"#)
        let reply = try #require(await harness.nextJSON())
        #expect(reply["id"] == .integer(2))
        #expect(reply["subscribe"]?["data"] == .object(["welcome": .bool(true)]))
        #expect(events.all.first?.channel == "closed:a")
        #expect(events.all.first?.data == .object(["why": .string("curious")]))
        #expect(harness.session.channels == ["closed:a"])
        #expect(harness.service.hub.presence("closed:a").first?.channelInfo == #"{"seat":7}"#)

        // A channel the hook does not cover follows the namespace: `closed` refuses.
        harness.send(#"{"id":3,"subscribe":{"channel":"rooms:x"}}"#, #"{"id":4,"subscribe":{"channel":"closed:a"}}"#)
        #expect(await harness.nextJSON()?["subscribe"] != nil)
        #expect(await harness.nextJSON()?["error"]?["code"] == .integer(105), "already subscribed: checked before the hook")
        #expect(events.count == 1)
    }

    @Test func aChannelTheHookDoesNotCoverFollowsTheNamespace() async throws {
        let harness = try await Self.connected(Self.subscribeHook(covers: { $0 == "closed:only" }) { _ in .allow })
        harness.send(#"{"id":2,"subscribe":{"channel":"closed:b"}}"#)
        #expect(await harness.nextJSON()?["error"]?["code"] == .integer(103))
        harness.send(#"{"id":3,"subscribe":{"channel":"closed:only"}}"#)
        #expect(await harness.nextJSON()?["subscribe"] != nil)
    }

    @Test func theNamespaceAndTheChannelLimitStillHoldWithAHook() async throws {
        let calls = Recorder<String>()
        var channels = SessionHarness.channels
        channels.maxChannelsPerConnection = 1
        let harness = SessionHarness(hooks: Self.subscribeHook(covers: { _ in true }) { event in
            calls.record(event.channel)
            return .allow
        }, channels: channels)
        harness.send(#"{"id":1,"connect":{}}"#)
        #expect(await harness.nextJSON()?["connect"] != nil)
        harness.send(
            #"{"id":2,"subscribe":{"channel":"nosuch:a"}}"#,
            #"{"id":3,"subscribe":{"channel":"closed:a"}}"#,
            #"{"id":4,"subscribe":{"channel":"closed:b"}}"#
        )
        #expect(await harness.nextJSON()?["error"]?["code"] == .integer(102))
        #expect(await harness.nextJSON()?["subscribe"] != nil)
        #expect(await harness.nextJSON()?["error"]?["code"] == .integer(106))
        #expect(calls.all == ["closed:a"])
    }

    @Test func theSubscribeHookRejectsDisconnectsThrowsAndTimesOut() async throws {
        let rejecting = try await Self.connected(Self.subscribeHook { _ in .reject(.permissionDenied("not you")) })
        rejecting.send(#"{"id":2,"subscribe":{"channel":"closed:a"}}"#)
        #expect(await rejecting.nextJSON()?["error"]?["code"] == .integer(103))
        #expect(rejecting.session.channels.isEmpty)

        let closing = try await Self.connected(Self.subscribeHook { _ in .disconnect(CloseReason(code: 4003, reason: "banned")) })
        closing.send(#"{"id":2,"subscribe":{"channel":"closed:a"}}"#)
        #expect(await closing.next() == .close(CloseReason(code: 4003, reason: "banned")))

        let throwing = try await Self.connected(Self.subscribeHook { _ in throw HookFailure() })
        throwing.send(#"{"id":2,"subscribe":{"channel":"closed:a"}}"#)
        let thrown = try #require(await throwing.nextJSON())
        #expect(thrown["error"]?["code"] == .integer(100) && thrown["error"]?["temporary"] == .bool(true))

        let slow = try await Self.connected(Self.subscribeHook(timeout: .milliseconds(100)) { _ in
            try await Task.sleep(for: .seconds(30))
            return .allow
        })
        let started = ContinuousClock.now
        slow.send(#"{"id":2,"subscribe":{"channel":"closed:a"}}"#, #"{"id":3,"ping":{}}"#)
        let timedOut = try #require(await slow.nextJSON())
        #expect(timedOut["id"] == .integer(2))
        #expect(timedOut["error"]?["code"] == .integer(100) && timedOut["error"]?["temporary"] == .bool(true))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(await slow.nextJSON() == .object(["id": .integer(3), "ping": .object([])]))
    }

    @Test func theSubRefreshHookExtendsThenEndsTheConnectionWith3006() async throws {
        let refreshes = Recorder<SubRefreshEvent>()
        var hooks = Self.subscribeHook { _ in .allow(SubscribeGrant(info: .string("v0"), expiresIn: .milliseconds(200))) }
        hooks.subRefresh = Hook { event in
            refreshes.record(event)
            return refreshes.count == 1 ? .extend(expiresIn: .milliseconds(200), info: .string("v1")) : .expire
        }
        let harness = try await Self.connected(hooks)
        harness.send(#"{"id":2,"subscribe":{"channel":"closed:a"}}"#)
        let reply = try #require(await harness.nextJSON())
        #expect(reply["subscribe"] != nil)
        #expect(reply["subscribe"]?["expires"] == nil, "the server refreshes: the client is not told")
        #expect(await harness.next(within: .seconds(10)) == .close(Disconnect.subscriptionExpired))
        #expect(refreshes.all.map(\.info) == [.string("v0"), .string("v1")])
        #expect(refreshes.all.first?.channel == "closed:a")
    }

    @Test func withoutASubRefreshHookAnExpiringGrantIsAnnounced() async throws {
        let harness = try await Self.connected(Self.subscribeHook { _ in .allow(SubscribeGrant(expiresIn: .seconds(30))) })
        harness.send(#"{"id":2,"subscribe":{"channel":"closed:a"}}"#)
        let reply = try #require(await harness.nextJSON())
        #expect(reply["subscribe"]?["expires"] == .bool(true))
        #expect(reply["subscribe"]?["ttl"] == .integer(30))
    }

    @Test func protobufSubscribeDataGoesBothWays() async throws {
        let events = Recorder<SubscribeEvent>()
        let harness = try await Self.connected(Self.subscribeHook { event in
            events.record(event)
            return .allow(SubscribeGrant(data: .object(["n": .integer(2)])))
        }, format: .protobuf)
        var command = Centrifugal_Centrifuge_Protocol_Command()
        command.id = 2
        command.subscribe.channel = "closed:a"
        command.subscribe.data = Data(#"{"n":1}"#.utf8)
        try harness.send(command)
        let reply = try #require(await harness.next()?.protobufReply)
        #expect(reply.hasSubscribe)
        #expect(String(decoding: reply.subscribe.data, as: UTF8.self) == #"{"n":2}"#)
        #expect(events.all.first?.data == .object(["n": .integer(1)]))
    }

    // MARK: Publish

    private static func publishHook(
        timeout: Duration = .seconds(2),
        _ decide: @escaping @Sendable (PublishEvent) async throws -> PublishDecision
    ) -> Hooks {
        var hooks = Self.subscribeHook { _ in .allow }
        hooks.publish = Hook(timeout: timeout, covers: { $0.hasPrefix("closed:") }, decide)
        return hooks
    }

    @Test func thePublishHookAllowsReplacesDataAndSkipsHistory() async throws {
        let events = Recorder<PublishEvent>()
        let harness = try await Self.connected(Self.publishHook { event in
            events.record(event)
            return event.data["secret"] != nil ? .allow(data: .object(["redacted": .bool(true)]), skipHistory: true) : .allow
        })
        harness.send(#"{"id":2,"subscribe":{"channel":"closed:a"}}"#)
        #expect(await harness.nextJSON()?["subscribe"] != nil)
        harness.send(
            #"{"id":3,"publish":{"channel":"closed:a","data":{"secret":"x"}}}"#,
            #"{"id":4,"publish":{"channel":"closed:a","data":{"text":"hi"}}}"#,
            #"{"id":5,"history":{"channel":"closed:a","limit":-1}}"#
        )
        // Replies and pushes keep the commands' order.
        #expect(await harness.nextJSON()?["push"]?["pub"]?["data"] == .object(["redacted": .bool(true)]))
        #expect(await harness.nextJSON() == .object(["id": .integer(3), "publish": .object([])]))
        #expect(await harness.nextJSON()?["push"]?["pub"]?["data"] == .object(["text": .string("hi")]))
        #expect(await harness.nextJSON() == .object(["id": .integer(4), "publish": .object([])]))
        let history = try #require(await harness.nextJSON())
        let publications = try #require(history["history"]?["publications"]?.arrayValue)
        #expect(publications.map { $0["data"] } == [.object(["text": .string("hi")])], "the redacted one skipped history")
        #expect(events.all.map(\.channel) == ["closed:a", "closed:a"])
        #expect(events.all.first?.user == "")
    }

    @Test func thePublishHookRejectsDisconnectsAndFails() async throws {
        let rejecting = try await Self.connected(Self.publishHook { _ in .reject(.permissionDenied("read only")) })
        rejecting.send(#"{"id":2,"publish":{"channel":"closed:a","data":1}}"#)
        #expect(await rejecting.nextJSON()?["error"]?["code"] == .integer(103))

        let closing = try await Self.connected(Self.publishHook { _ in .disconnect(CloseReason(code: 4004, reason: "spam")) })
        closing.send(#"{"id":2,"publish":{"channel":"closed:a","data":1}}"#)
        #expect(await closing.next()?.closeCode == 4004)

        let slow = try await Self.connected(Self.publishHook(timeout: .milliseconds(100)) { _ in
            try await Task.sleep(for: .seconds(30))
            return .allow
        })
        slow.send(#"{"id":2,"publish":{"channel":"closed:a","data":1}}"#)
        let timedOut = try #require(await slow.nextJSON())
        #expect(timedOut["error"]?["code"] == .integer(100) && timedOut["error"]?["temporary"] == .bool(true))

        // Without a publish hook, the namespace decides as before.
        let plain = try await Self.connected(Hooks())
        plain.send(#"{"id":2,"publish":{"channel":"closed:a","data":1}}"#)
        #expect(await plain.nextJSON()?["error"]?["code"] == .integer(103))
    }
}
