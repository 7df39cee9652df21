import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Switchboard
@testable import SwitchboardPostgres
import Testing

/// Two nodes in one process: two hubs, each with its own engine and PostgreSQL clients, on one
/// real database. What one publishes reaches the other's subscribers in order, once each, and a
/// subscriber recovers on the other node.
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresEngineTests {
    let logger = Logger(label: "test")

    var room: Switchboard.ChannelOptions {
        var options = Switchboard.ChannelOptions()
        options.presence = true
        options.historySize = 1000
        options.historyTTL = .seconds(300)
        return options
    }

    /// Runs `body` with two started engines (nodes) on a fresh database.
    func withTwoNodes(_ body: (PostgresEngine, Hub, PostgresEngine, Hub) async throws -> Void) async throws {
        try await TestDatabase.withDatabase { client, url in
            try await PostgresSchema.migrate(client, logger: self.logger)
            try await TestDatabase.withClient(url) { listenA in
                try await TestDatabase.withClient(url) { clientB in
                    try await TestDatabase.withClient(url) { listenB in
                        let hubA = Hub()
                        let hubB = Hub()
                        let a = PostgresEngine(hub: hubA, client: client, listenerClient: listenA, logger: self.logger)
                        let b = PostgresEngine(hub: hubB, client: clientB, listenerClient: listenB, logger: self.logger)
                        a.shareNodeInfo { [weak a] in Self.report("a", clients: 1, status: a?.status) }
                        b.shareNodeInfo { [weak b] in Self.report("b", clients: 2, status: b?.status) }
                        let runA = Task { await a.run() }
                        let runB = Task { await b.run() }
                        let ready = try await self.eventually { a.status == .ready && b.status == .ready }
                        #expect(ready, "both nodes listen")
                        var failure: (any Error)?
                        do { try await body(a, hubA, b, hubB) } catch { failure = error }
                        // Stop the engines (they leave the cluster) while their clients still run.
                        runA.cancel()
                        runB.cancel()
                        await runA.value
                        await runB.value
                        if let failure { throw failure }
                    }
                }
            }
        }
    }

    /// What node `name` reports about itself: `clients` and its engine's status.
    static func report(_ name: String, clients: Int, status: EngineStatus?) -> NodeInfo {
        NodeInfo(
            identity: NodeIdentity(id: "id-" + name, name: name, version: "test"),
            clients: clients, users: clients, channels: 3, subscriptions: 4, uptime: .seconds(7), engineStatus: status ?? .unavailable("gone")
        )
    }

    func offsets(_ outbox: Outbox) -> [UInt64] {
        outbox.drain().messages.compactMap { message in
            let value = try? JSONValue.parse(String(buffer: message.bytes))
            return value?["push"]?["pub"]?["offset"]?.integerValue(UInt64.self)
        }
    }

    func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    @Test func eachNodeSeesTheOthersAsTheyReportedThemselves() async throws {
        try await self.withTwoNodes { a, _, b, _ in
            var othersOfA: [NodeInfo] = []
            var othersOfB: [NodeInfo] = []
            let deadline = ContinuousClock.now + .seconds(20)
            // A node's first heartbeat may come before it listens (then it says so); the next
            // one, a third of the node TTL later, says it is ready.
            let reported = { (others: [NodeInfo]) in others.first?.engineStatus == .ready }
            while !(reported(othersOfA) && reported(othersOfB)) && ContinuousClock.now < deadline {
                othersOfA = try await a.otherNodes()
                othersOfB = try await b.otherNodes()
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(othersOfA.map(\.identity.id) == ["id-b"], "a sees b, not itself")
            #expect(othersOfB.map(\.identity.id) == ["id-a"])
            let other = try #require(othersOfA.first)
            #expect(other.identity.name == "b")
            #expect(other.clients == 2)
            #expect(other.channels == 3)
            #expect(other.subscriptions == 4)
            #expect(other.uptime >= .seconds(7), "the uptime counts on from the report")
            #expect(other.engineStatus == .ready)
        }
    }

    @Test func publicationsFromBothNodesReachEverySubscriberInOrderOnceEach() async throws {
        try await self.withTwoNodes { a, _, b, _ in
            let onA = Subscriber(info: ClientInfo(user: "", client: "sub-a"), outbox: Outbox(limit: 1 << 24))
            let onB = Subscriber(info: ClientInfo(user: "", client: "sub-b"), outbox: Outbox(limit: 1 << 24))
            try await a.subscribe("rooms:x", options: self.room, subscriber: onA)
            try await b.subscribe("rooms:x", options: self.room, subscriber: onB)
            // Give the listeners a moment to be listening before the stream starts.
            try await Task.sleep(for: .milliseconds(300))

            // 2 publishers on each node, 150 publications each, at the same time.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (engine, name) in [(a, "a"), (b, "b")] {
                    for publisher in 0..<2 {
                        group.addTask {
                            for n in 0..<150 {
                                _ = try await engine.publish(Publication(data: #""\#(name)\#(publisher)-\#(n)""#), to: "rooms:x", options: self.room)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            var seenA: [UInt64] = []
            var seenB: [UInt64] = []
            #expect(try await self.eventually {
                seenA += self.offsets(onA.outbox)
                seenB += self.offsets(onB.outbox)
                return seenA.count >= 600 && seenB.count >= 600
            })
            #expect(seenA == Array(1...600), "node A: in order, none lost or doubled")
            #expect(seenB == Array(1...600), "node B: in order, none lost or doubled")
        }
    }

    @Test func joinsLeavesAndPresenceSpanTheNodes() async throws {
        var options = self.room
        options.joinLeave = true
        try await self.withTwoNodes { a, _, b, _ in
            // Both asked for join and leave pushes (`join_leave` in their subscribe).
            var ann = Subscriber(info: ClientInfo(user: "ann", client: "c-ann"), outbox: Outbox(limit: 1 << 20))
            var bob = Subscriber(info: ClientInfo(user: "bob", client: "c-bob"), outbox: Outbox(limit: 1 << 20))
            ann.pushJoinLeave = true
            bob.pushJoinLeave = true
            try await a.subscribe("rooms:p", options: options, subscriber: ann)
            try await b.subscribe("rooms:p", options: options, subscriber: bob)
            var seen: [String] = []
            #expect(try await self.eventually {
                seen += ann.outbox.drain().messages.map { String(buffer: $0.bytes) }
                return seen.contains { $0.contains(#""join""#) && $0.contains("c-bob") }
            }, "Ann on node A sees Bob join on node B: \(seen)")
            for engine in [a, b] {
                #expect(try await engine.presence("rooms:p").map(\.client) == ["c-ann", "c-bob"])
                #expect(try await engine.presenceStats("rooms:p") == (2, 2))
            }
            b.unsubscribe("rooms:p", client: "c-bob")
            #expect(try await self.eventually {
                seen += ann.outbox.drain().messages.map { String(buffer: $0.bytes) }
                return seen.contains { $0.contains(#""leave""#) && $0.contains("c-bob") }
            }, "and leave: \(seen)")
            #expect(try await a.presence("rooms:p").map(\.client) == ["c-ann"])
            #expect(seen.filter { $0.contains("c-bob") }.count == 2, "one join and one leave, not doubled: \(seen)")
        }
    }

    @Test func aClientRecoversOnTheOtherNode() async throws {
        try await self.withTwoNodes { a, hubA, b, _ in
            let first = Subscriber(info: ClientInfo(user: "", client: "c1"), outbox: Outbox(limit: 1 << 20))
            let outcome = try #require(try await a.subscribe("rooms:y", options: self.room, subscriber: first))
            try await Task.sleep(for: .milliseconds(300))
            for n in 1...3 { _ = try await b.publish(Publication(data: "\(n)"), to: "rooms:y", options: self.room) }
            var seen: [UInt64] = []
            #expect(try await self.eventually { seen += self.offsets(first.outbox); return seen.count == 3 })
            // The client drops from node A; 4 more are published; it comes back on node B.
            hubA.unsubscribe("rooms:y", client: "c1")
            var (last, epoch): (Publication, String?) = (Publication(data: "x"), nil)
            for n in 4...7 { (last, epoch) = try await a.publish(Publication(data: "\(n)"), to: "rooms:y", options: self.room) }
            #expect(last.offset == 7)
            let position = StreamPosition(offset: 3, epoch: outcome.position?.epoch ?? "")
            #expect(position.epoch == epoch, "one epoch for the stream on every node")
            let back = Subscriber(info: ClientInfo(user: "", client: "c1-again"), outbox: Outbox(limit: 1 << 20))
            let recovered = try #require(try await b.subscribe("rooms:y", options: self.room, subscriber: back, recoverFrom: position) { outcome in
                .text("reply \(outcome.publications.map(\.offset))")
            })
            #expect(recovered.recovered)
            #expect(recovered.publications.map(\.offset) == [4, 5, 6, 7])
            _ = try await a.publish(Publication(data: "8"), to: "rooms:y", options: self.room)
            var texts: [String] = []
            #expect(try await self.eventually {
                texts += back.outbox.drain().messages.map { String(buffer: $0.bytes) }
                return texts.count == 2
            })
            #expect(texts.first == "reply [4, 5, 6, 7]")
            #expect(texts.last?.contains(#""offset":8"#) == true, "then live, with nothing doubled: \(texts)")
        }
    }
}

extension PostgresEngineTests {
    /// A request PostgreSQL refuses (here a channel name with NUL, which no text column can hold;
    /// the channel-name check keeps clients from sending one) fails with PostgreSQL's reason, not as
    /// a temporary "unreachable", and the node stays ready.
    @Test func aRequestPostgreSQLRefusesFailsWithItsReasonNotTemporarily() async throws {
        try await self.withTwoNodes { a, _, _, _ in
            do throws(EngineError) {
                _ = try await a.publish(Publication(data: "1"), to: "nul\u{0}x", options: self.room, storeInHistory: true)
                Issue.record("PostgreSQL took a NUL")
            } catch {
                #expect(error.protocolError.temporary == false, "\(error)")
                #expect(error.message.contains("invalid byte sequence"), "\(error)")
                #expect(!error.message.contains("unreachable"), "\(error)")
            }
            #expect(a.status == .ready)
            let (publication, _) = try await a.publish(Publication(data: "2"), to: "fine", options: self.room, storeInHistory: true)
            #expect(publication.offset == 1)
        }
    }

    /// A subscriber's farewell is published into the channel when it leaves, and, when its node
    /// dies, by the node that reaps the dead one: once each, for the other nodes' subscribers too.
    @Test func farewellsArePublishedOnLeavingAndWhenTheNodeDies() async throws {
        let chat = Switchboard.ChannelOptions()  // no presence, no history: only the farewell keeps an entry
        try await self.withTwoNodes { a, _, b, _ in
            let listener = Subscriber(info: ClientInfo(user: "", client: "listener"), outbox: Outbox(limit: 1 << 20), format: .plainText)
            try await b.subscribe("chat", options: chat, subscriber: listener)
            let ann = Subscriber(info: ClientInfo(user: "1", client: "ann"), outbox: Outbox(limit: 1 << 20), format: .plainText, farewell: #""ann left""#)
            try await a.subscribe("chat", options: chat, subscriber: ann)
            try await Task.sleep(for: .milliseconds(300))
            a.unsubscribe("chat", client: "ann")
            var texts: [String] = []
            #expect(try await self.eventually {
                texts += listener.outbox.drain().messages.map { String(buffer: $0.bytes) }
                return texts.contains("ann left")
            }, "\(texts)")

            // A node that stopped heartbeating (as after kill -9) with a chat member: a live node
            // reaps it (every TTL/3) and publishes the member's farewell.
            let ghost = PostgresPresence(client: a.streams.client, logger: self.logger, node: "ghost-node")
            try await ghost.heartbeat(name: "ghost")
            try await ghost.add(ClientInfo(user: "9", client: "ghost-9"), to: "chat", farewell: Farewell(data: #""ghost left""#, historySize: 0, historyTTL: .zero))
            _ = try await a.streams.client.query("UPDATE switchboard_nodes SET seen_at = now() - interval '1 hour' WHERE node = 'ghost-node'").collect()
            #expect(try await self.eventually {
                texts += listener.outbox.drain().messages.map { String(buffer: $0.bytes) }
                return texts.contains("ghost left")
            }, "\(texts)")
            try await Task.sleep(for: .seconds(1))
            texts += listener.outbox.drain().messages.map { String(buffer: $0.bytes) }
            #expect(texts == ["ann left", "ghost left"], "once each")
        }
    }
}
