import Foundation
public import Switchboard

/// The `Engine` conformance suite: what every engine must do, as one set of cases that each
/// engine's test target runs with a fixture of its own (memory in SwitchboardTests, PostgreSQL in
/// SwitchboardPostgresTests), so another engine is a drop-in: give it a fixture, run the cases.
///
/// A case spreads its subscribers and publishers over the fixture's nodes (one for the memory
/// engine), so on a cluster engine it checks what crosses nodes.
public enum EngineConformance {
    /// One requirement of an engine.
    public struct Case: Sendable, CustomStringConvertible {
        public let description: String
        let body: @Sendable (any EngineFixture) async throws -> Void

        public func run(with fixture: any EngineFixture) async throws {
            try await self.body(fixture)
        }
    }

    /// Every case.
    public static let cases: [Case] = [
        Case(description: "publications reach every subscriber on every node in offset order, once each", body: Self.orderAndOnce),
        Case(description: "history keeps the newest history_size publications and answers since, limit and reverse", body: Self.historyWindow),
        Case(description: "a subscriber recovers what it missed on any node; a wrong epoch is not recovered", body: Self.recovery),
        Case(description: "presence, presence stats and join/leave span the nodes", body: Self.presenceAcrossNodes),
        Case(description: "a publication outside history is delivered but never in history", body: Self.skipHistory),
        Case(description: "removing history keeps the offsets and the epoch", body: Self.removeHistory),
        Case(description: "a channel without history has no epoch or position", body: Self.noHistory),
        Case(description: "history expires after its TTL", body: Self.historyTTL),
        Case(description: "a subscriber's farewell is published when it leaves", body: Self.farewell),
        Case(description: "epochs and offsets survive restarting a node", body: Self.restart),
        Case(description: "a publication that asks for delta compression reaches every node asking for it", body: Self.delta),
    ]

    static var room: ChannelOptions {
        var options = ChannelOptions()
        options.presence = true
        options.joinLeave = true
        options.historySize = 100
        options.historyTTL = .seconds(300)
        return options
    }

    static func channel(_ name: String) -> String { "conformance:\(name)-\(UUID().uuidString.prefix(8))" }

    // MARK: Cases

    static func orderAndOnce(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 3) { cluster in
            let channel = Self.channel("order")
            var subscribers: [TestSubscriber] = []
            for (index, node) in cluster.nodes.enumerated() {
                subscribers.append(try await TestSubscriber.subscribe(to: channel, on: node, options: Self.room, client: "s\(index)"))
            }
            // Every node publishes at once.
            let perNode = 30
            let offsets = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                for (index, node) in cluster.nodes.enumerated() {
                    group.addTask {
                        var offsets: [UInt64] = []
                        for n in 0..<perNode {
                            let (publication, epoch) = try await node.publish(Publication(data: "\"\(index)-\(n)\""), to: channel, options: Self.room, storeInHistory: true)
                            try expect(epoch != nil, "a channel with history has an epoch")
                            offsets.append(publication.offset)
                        }
                        return offsets
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let total = perNode * cluster.nodes.count
            try expect(offsets.sorted() == Array(1...UInt64(total)), "each publication gets its own offset: \(offsets.sorted())")
            for subscriber in subscribers {
                try await subscriber.waitFor(count: total)
                let received = subscriber.publications
                try expect(received.map(\.offset) == Array(1...UInt64(total)), "\(subscriber.client) got \(received.map(\.offset))")
                // Each node's publications in the order it made them.
                for index in cluster.nodes.indices {
                    let own = received.map(\.data).filter { $0.hasPrefix("\"\(index)-") }
                    try expect(own == (0..<perNode).map { "\"\(index)-\($0)\"" }, "node \(index)'s publications in order")
                }
            }
        }
    }

    static func historyWindow(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            var options = Self.room
            options.historySize = 5
            let channel = Self.channel("history")
            var epoch: String?
            for n in 1...8 {
                epoch = try await cluster.node(n).publish(Publication(data: "\(n)"), to: channel, options: options, storeInHistory: true).epoch
            }
            let reader = cluster.node(0)
            let all = try await reader.history(channel, options: options, since: nil, limit: -1, reverse: false).get()
            try expect(all.publications.map(\.offset) == [4, 5, 6, 7, 8], "the newest five: \(all.publications.map(\.offset))")
            try expect(all.publications.map(\.data) == ["4", "5", "6", "7", "8"], "their data")
            try expect(all.position == StreamPosition(offset: 8, epoch: epoch!), "position \(all.position)")
            let since = try await reader.history(channel, options: options, since: StreamPosition(offset: 6, epoch: epoch!), limit: -1, reverse: false).get()
            try expect(since.publications.map(\.offset) == [7, 8], "since 6: \(since.publications.map(\.offset))")
            let newest = try await reader.history(channel, options: options, since: nil, limit: 2, reverse: true).get()
            try expect(newest.publications.map(\.offset) == [8, 7], "reverse, limit 2: \(newest.publications.map(\.offset))")
            let positionOnly = try await reader.history(channel, options: options, since: nil, limit: 0, reverse: false).get()
            try expect(positionOnly.publications.isEmpty && positionOnly.position.offset == 8, "limit 0: the position only")
        }
    }

    static func recovery(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            let channel = Self.channel("recovery")
            let first = try await TestSubscriber.subscribe(to: channel, on: cluster.node(0), options: Self.room, client: "r1")
            let position = try unwrap(first.outcome.position, "a subscriber to a channel with history gets a position")
            try await cluster.node(0).publish(Publication(data: "1"), to: channel, options: Self.room, storeInHistory: true)
            try await first.waitFor(count: 1)
            cluster.node(0).unsubscribe(channel, client: "r1")
            for n in 2...4 {
                try await cluster.node(n).publish(Publication(data: "\(n)"), to: channel, options: Self.room, storeInHistory: true)
            }
            let back = try await TestSubscriber.subscribe(
                to: channel, on: cluster.node(1), options: Self.room, client: "r1",
                recoverFrom: StreamPosition(offset: position.offset + 1, epoch: position.epoch)
            )
            try expect(back.outcome.wasRecovering && back.outcome.recovered, "recovered: \(back.outcome)")
            try expect(back.outcome.publications.map(\.data) == ["2", "3", "4"], "what it missed: \(back.outcome.publications.map(\.data))")
            try expect(back.outcome.position?.offset == 4, "at the top")

            let stranger = try await TestSubscriber.subscribe(
                to: channel, on: cluster.node(0), options: Self.room, client: "r2",
                recoverFrom: StreamPosition(offset: 1, epoch: "not-the-epoch")
            )
            try expect(stranger.outcome.wasRecovering && !stranger.outcome.recovered, "another epoch is not recovered")
        }
    }

    static func presenceAcrossNodes(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            let channel = Self.channel("presence")
            let watcher = try await TestSubscriber.subscribe(to: channel, on: cluster.node(0), options: Self.room, client: "w", user: "watcher", pushJoinLeave: true)
            _ = try await TestSubscriber.subscribe(to: channel, on: cluster.node(1), options: Self.room, client: "a1", user: "ann")
            _ = try await TestSubscriber.subscribe(to: channel, on: cluster.node(1), options: Self.room, client: "a2", user: "ann")
            try await watcher.waitFor { $0.joins.count >= 2 }
            try expect(Set(watcher.joins) == ["a1", "a2"], "joins: \(watcher.joins)")
            for node in cluster.nodes {
                let present = try await node.presence(channel)
                try expect(Set(present.map(\.client)) == ["w", "a1", "a2"], "presence: \(present.map(\.client))")
                let stats = try await node.presenceStats(channel)
                try expect(stats == (3, 2), "stats: \(stats)")
            }
            cluster.node(1).unsubscribe(channel, client: "a1")
            try await watcher.waitFor { $0.leaves.count >= 1 }
            try expect(watcher.leaves == ["a1"], "leaves: \(watcher.leaves)")
            try await eventually("presence without a1") {
                (try? await cluster.node(0).presence(channel).map(\.client).sorted()) == ["a2", "w"]
            }
        }
    }

    static func skipHistory(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            let channel = Self.channel("skip")
            let subscriber = try await TestSubscriber.subscribe(to: channel, on: cluster.node(0), options: Self.room, client: "s")
            try await cluster.node(1).publish(Publication(data: "\"kept\""), to: channel, options: Self.room, storeInHistory: true)
            let skipped = try await cluster.node(1).publish(Publication(data: "\"skipped\""), to: channel, options: Self.room, storeInHistory: false)
            try expect(skipped.epoch == nil, "nothing to recover it from")
            try await cluster.node(1).publish(Publication(data: "\"kept too\""), to: channel, options: Self.room, storeInHistory: true)
            try await subscriber.waitFor(count: 3)
            try expect(subscriber.publications.map(\.data) == ["\"kept\"", "\"skipped\"", "\"kept too\""], "delivered in order: \(subscriber.publications.map(\.data))")
            let history = try await cluster.node(0).history(channel, options: Self.room, since: nil, limit: -1, reverse: false).get()
            try expect(history.publications.map(\.data) == ["\"kept\"", "\"kept too\""], "history: \(history.publications.map(\.data))")
        }
    }

    static func removeHistory(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            let channel = Self.channel("remove")
            // (With a subscriber: the memory engine forgets a stream that has neither subscribers nor
            // retained publications, which then starts again in a new epoch.)
            _ = try await TestSubscriber.subscribe(to: channel, on: cluster.node(0), options: Self.room, client: "keeper")
            var epoch: String?
            for n in 1...3 {
                epoch = try await cluster.node(n).publish(Publication(data: "\(n)"), to: channel, options: Self.room, storeInHistory: true).epoch
            }
            try await cluster.node(0).removeHistory(channel)
            let empty = try await cluster.node(1).history(channel, options: Self.room, since: nil, limit: -1, reverse: false).get()
            try expect(empty.publications.isEmpty, "removed: \(empty.publications.map(\.offset))")
            try expect(empty.position == StreamPosition(offset: 3, epoch: epoch!), "same stream: \(empty.position)")
            let next = try await cluster.node(0).publish(Publication(data: "4"), to: channel, options: Self.room, storeInHistory: true)
            try expect(next.publication.offset == 4 && next.epoch == epoch, "offsets carry on: \(next.publication.offset) \(String(describing: next.epoch))")
        }
    }

    static func noHistory(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            let channel = Self.channel("nohistory")
            var options = ChannelOptions()
            options.presence = true
            let subscriber = try await TestSubscriber.subscribe(to: channel, on: cluster.node(0), options: options, client: "s")
            try expect(subscriber.outcome.position == nil, "no position without history")
            let result = try await cluster.node(1).publish(Publication(data: "1"), to: channel, options: options, storeInHistory: true)
            try expect(result.epoch == nil, "no epoch without history")
            try await subscriber.waitFor(count: 1)
        }
    }

    static func historyTTL(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 1) { cluster in
            var options = Self.room
            options.historyTTL = .seconds(1)
            let channel = Self.channel("ttl")
            try await cluster.node(0).publish(Publication(data: "1"), to: channel, options: options, storeInHistory: true)
            let fresh = try await cluster.node(0).history(channel, options: options, since: nil, limit: -1, reverse: false).get()
            try expect(fresh.publications.count == 1, "kept for now")
            try await eventually("history expired", timeout: .seconds(10)) {
                ((try? await cluster.node(0).history(channel, options: options, since: nil, limit: -1, reverse: false).get())?.publications.isEmpty) == true
            }
        }
    }

    static func farewell(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            let channel = Self.channel("farewell")
            let options = ChannelOptions()
            let listener = try await TestSubscriber.subscribe(to: channel, on: cluster.node(0), options: options, client: "l", format: .plainText)
            _ = try await TestSubscriber.subscribe(to: channel, on: cluster.node(1), options: options, client: "leaver", format: .plainText, farewell: "\"bye\"")
            try await Task.sleep(for: .milliseconds(100))
            cluster.node(1).unsubscribe(channel, client: "leaver")
            // A plain-text subscriber gets a JSON string's text.
            try await listener.waitFor { $0.texts.contains("bye") }
            try await Task.sleep(for: .milliseconds(300))
            try expect(listener.texts.filter { $0 == "bye" }.count == 1, "once: \(listener.texts)")
        }
    }

    static func restart(_ fixture: any EngineFixture) async throws {
        guard fixture.persistsAcrossRestarts else { return }  // the memory engine keeps nothing
        try await fixture.withCluster(nodes: 2) { cluster in
            let channel = Self.channel("restart")
            let first = try await cluster.node(0).publish(Publication(data: "1"), to: channel, options: Self.room, storeInHistory: true)
            let restarted = try await cluster.restart(0)
            let second = try await restarted.publish(Publication(data: "2"), to: channel, options: Self.room, storeInHistory: true)
            try expect(second.epoch == first.epoch && second.publication.offset == 2, "the stream goes on: \(second.publication.offset) \(String(describing: second.epoch))")
            let history = try await restarted.history(channel, options: Self.room, since: nil, limit: -1, reverse: false).get()
            try expect(history.publications.map(\.data) == ["1", "2"], "history: \(history.publications.map(\.data))")
        }
    }

    static func delta(_ fixture: any EngineFixture) async throws {
        try await fixture.withCluster(nodes: 2) { cluster in
            var options = Self.room
            options.allowedDeltaTypes = [.fossil]
            let channel = Self.channel("delta")
            let subscriber = try await TestSubscriber.subscribe(to: channel, on: cluster.node(0), options: options, client: "s", delta: true)
            // The last is too large for a PostgreSQL notification, so nodes fetch it.
            let documents = [100, 100, 100, 9000].enumerated().map { "\"\(String(repeating: "x", count: $1))\($0)\"" }
            for (index, document) in documents.enumerated() {
                var publication = Publication(data: document)
                publication.delta = index != 1
                try await cluster.node(1).publish(publication, to: channel, options: options, storeInHistory: true)
            }
            try await subscriber.waitFor(count: documents.count)
            let received = subscriber.deltaPublications
            try expect(received.map(\.delta) == [false, false, true, true], "the first whole, then deltas where asked: \(received.map(\.delta))")
            var previous: [UInt8] = []
            for (publication, document) in zip(received, documents) {
                previous = publication.delta ? try FossilDelta.apply(Array(publication.data.utf8), to: previous) : Array(publication.data.utf8)
                try expect(String(decoding: previous, as: UTF8.self) == document, "applied, the delta gives the document")
            }
        }
    }
}
