import Foundation
import Logging
import NIOCore
import Switchboard
@testable import SwitchboardRedis
import Testing

/// The Redis engine when Redis fails: a lost pub/sub connection is replaced and the node catches
/// up from the streams; a Redis that is down fails publishes at once and makes the node unready; a
/// Redis that comes back empty (a new epoch) closes the subscribers that track positions with 3010.
@Suite(.enabled(if: TestRedisServer.available, "needs redis-server: run scripts/test.sh"))
struct RedisEngineFaultTests {
    let logger = Logger(label: "test")

    var room: Switchboard.ChannelOptions {
        var options = Switchboard.ChannelOptions()
        options.historySize = 1000
        options.historyTTL = .seconds(300)
        return options
    }

    /// A subscriber's outbox, drained as it fills.
    final class Inbox: @unchecked Sendable {
        let subscriber: Subscriber
        private let lock = NSLock()
        private var messages: [OutboundMessage] = []
        private var closed: CloseReason?

        init(client: String, tracksPosition: Bool = false) {
            var subscriber = Subscriber(info: ClientInfo(user: "u", client: client), outbox: Outbox(limit: 1 << 24))
            subscriber.tracksPosition = tracksPosition
            self.subscriber = subscriber
        }

        private func drain() {
            let batch = self.subscriber.outbox.drain()
            self.lock.withLock {
                self.messages += batch.messages
                if let close = batch.close { self.closed = close }
            }
        }

        var offsets: [UInt64] {
            self.drain()
            return self.lock.withLock {
                self.messages.compactMap { message in
                    (try? JSONValue.parse(String(buffer: message.bytes)))?["push"]?["pub"]?["offset"]?.integerValue(UInt64.self)
                }
            }
        }

        var close: CloseReason? {
            self.drain()
            return self.lock.withLock { self.closed }
        }
    }

    private func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Two nodes on one Redis, each running until `body` ends.
    private func withNodes(_ server: TestRedisServer, _ body: (RedisEngine, RedisEngine) async throws -> Void) async throws {
        let settings = RedisEngine.Settings(nodeTTL: .seconds(3), requestTimeout: .seconds(2), probeInterval: .milliseconds(300))
        let a = RedisEngine(urls: [server.url], settings: settings, logger: self.logger)
        let b = RedisEngine(urls: [server.url], settings: settings, logger: self.logger)
        let runs = [Task { await a.run() }, Task { await b.run() }]
        var failure: (any Error)?
        do {
            #expect(try await self.eventually { a.status == .ready && b.status == .ready }, "both nodes connect")
            try await body(a, b)
        } catch {
            failure = error
        }
        for run in runs { run.cancel() }
        for run in runs { await run.value }
        if let failure { throw failure }
    }

    /// Wait (up to 10 s) until Redis lists `count` pub/sub connections.
    private func pubSubConnections(_ admin: RedisConnection, atLeast count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let list = try await admin.send(RESPCommand("CLIENT", "LIST", "TYPE", "pubsub")).string ?? ""
            if list.split(separator: "\n").count >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("fewer than \(count) pub/sub connections after 10 s")
    }

    @Test func aKilledPubSubConnectionIsReplacedAndTheNodeCatchesUp() async throws {
        try await TestRedisServer.withServer { server in
            try await self.withNodes(server) { a, b in
                let inbox = Inbox(client: "watcher")
                try await a.subscribe("rooms:killed", options: self.room, subscriber: inbox.subscriber)
                // Node B publishes without pause while Redis drops every pub/sub connection twice.
                let total = 600
                let publisher = Task {
                    for n in 1...total {
                        _ = try await b.publish(Publication(data: "\(n)"), to: "rooms:killed", options: self.room)
                        if n % 50 == 0 { try await Task.sleep(for: .milliseconds(5)) }
                    }
                }
                let admin = try await RedisConnection.connect(to: server.url)
                defer { admin.close() }
                for _ in 0..<2 {
                    // Once both nodes have subscribed (again).
                    try await self.pubSubConnections(admin, atLeast: 2)
                    let killed = try await admin.send(RESPCommand("CLIENT", "KILL", "TYPE", "pubsub"))
                    #expect((killed.integer ?? 0) >= 1, "pub/sub connections were killed")
                }
                try await publisher.value
                // The last ones are published while the node reconnects, and nothing follows them:
                // only the catch-up after resubscribing brings them.
                let last = 50
                try await self.pubSubConnections(admin, atLeast: 2)
                _ = try await admin.send(RESPCommand("CLIENT", "KILL", "TYPE", "pubsub"))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for n in 1...last {
                        group.addTask { _ = try await b.publish(Publication(data: "\(total + n)"), to: "rooms:killed", options: self.room) }
                    }
                    try await group.waitForAll()
                }
                let all = total + last
                #expect(try await self.eventually { inbox.offsets.count >= all }, "every publication arrives: \(inbox.offsets.count)")
                try await Task.sleep(for: .milliseconds(200))
                #expect(inbox.offsets == Array(1...UInt64(all)), "in order, none lost or doubled")
                #expect(inbox.close == nil)
            }
        }
    }

    @Test func aRedisThatIsDownFailsPublishesAtOnceAndOneBackEmptyStartsANewEpoch() async throws {
        try await TestRedisServer.withServer { server in
            try await self.withNodes(server) { a, b in
                let tracking = Inbox(client: "tracking", tracksPosition: true)
                let plain = Inbox(client: "plain")
                var room = self.room
                room.presence = true
                let outcome = try #require(try await a.subscribe("rooms:restart", options: room, subscriber: tracking.subscriber))
                try await a.subscribe("rooms:restart", options: room, subscriber: plain.subscriber)
                #expect(try await b.presence("rooms:restart").map(\.client) == ["plain", "tracking"])
                for n in 1...3 { _ = try await b.publish(Publication(data: "\(n)"), to: "rooms:restart", options: self.room) }
                #expect(try await self.eventually { plain.offsets == [1, 2, 3] && tracking.offsets == [1, 2, 3] })

                server.kill()
                #expect(try await self.eventually { a.status != .ready && b.status != .ready }, "both nodes notice")
                guard case .unavailable(let reason) = b.status else { Issue.record("not unavailable"); return }
                #expect(reason.contains("Redis"), "\(reason)")
                let started = ContinuousClock.now
                await #expect {
                    _ = try await b.publish(Publication(data: #""lost?""#), to: "rooms:restart", options: self.room)
                } throws: { error in
                    guard let error = error as? EngineError else { return false }
                    return error.isTemporary && error.message.contains("publish failed") && error.message.contains("Redis")
                }
                #expect(ContinuousClock.now - started < .seconds(1), "refused at once, not after a timeout")

                // Redis comes back without its data: the stream starts again with a new epoch.
                try await server.start()
                #expect(try await self.eventually { a.status == .ready && b.status == .ready }, "both nodes are ready again")
                let (published, epoch) = try await b.publish(Publication(data: #""new""#), to: "rooms:restart", options: self.room)
                #expect(published.offset == 1)
                #expect(epoch != outcome.position?.epoch, "a new epoch")
                #expect(try await self.eventually { tracking.close != nil }, "the subscriber that tracks positions is told")
                #expect(tracking.close?.code == 3010)
                let carriesOn = try await self.eventually { plain.offsets == [1, 2, 3, 1] }
                #expect(carriesOn, "the other one carries on: \(plain.offsets)")
                #expect(plain.close == nil)
                // Node A wrote its subscribers' presence again.
                var present: [String] = []
                for _ in 0..<500 where present != ["plain", "tracking"] {
                    present = (try? await b.presence("rooms:restart").map(\.client)) ?? []
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(present == ["plain", "tracking"])
            }
        }
    }

    @Test func anEntryTakenTwiceIsTakenOnce() async throws {
        try await TestRedisServer.withServer { server in
            let client = RedisClient(url: server.url, logger: self.logger)
            let run = Task { await client.run() }
            defer { run.cancel() }
            #expect(try await self.eventually { client.status == .connected })
            let presence = RedisPresence(client: client)
            let farewell = Farewell(data: #"{"bye":1}"#, historySize: 10, historyTTL: .seconds(60))
            try await presence.add(ClientInfo(user: "u1", client: "c1"), to: "rooms:x", node: "n1", farewell: farewell, announcing: nil, on: "x")
            try await presence.add(ClientInfo(user: "u1", client: "c2"), to: "rooms:x", node: "n2", farewell: nil, announcing: nil, on: "x")
            try await presence.add(ClientInfo(user: "u2", client: "c3"), to: "rooms:y", node: "n1", farewell: nil, announcing: nil, on: "x")
            #expect(try await presence.stats(of: "rooms:x") == (clients: 2, users: 1))
            #expect(try await presence.members(of: "rooms:x").map(\.client) == ["c1", "c2"])
            // Node n1 dies: its two entries, with the farewell, are taken once.
            let taken = try await presence.takeNode("n1")
            #expect(Set(taken.map(\.info.client)) == ["c1", "c3"])
            #expect(taken.first { $0.info.client == "c1" }?.farewell == farewell)
            #expect(try await presence.takeNode("n1").isEmpty)
            #expect(try await presence.take(client: "c1", from: "rooms:x") == nil)
            #expect(try await presence.take(client: "c2", from: "rooms:x")?.info.user == "u1")
            #expect(try await presence.stats(of: "rooms:x") == (clients: 0, users: 0))
        }
    }
}
