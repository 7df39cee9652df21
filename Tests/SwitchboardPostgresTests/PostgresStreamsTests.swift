import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Switchboard
import SwitchboardPostgres
import Testing

/// Publication streams in a real PostgreSQL (each test in a database of its own).
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresStreamsTests {
    let logger = Logger(label: "test")

    func withStreams<T>(
        deliveryGrace: Duration = .seconds(60),
        _ body: (PostgresStreams, PostgresClient, PostgresURL) async throws -> T
    ) async throws -> T {
        try await TestDatabase.withDatabase { client, url in
            try await PostgresSchema.migrate(client, logger: self.logger)
            return try await body(PostgresStreams(client: client, logger: self.logger, deliveryGrace: deliveryGrace), client, url)
        }
    }

    /// Several publishers at once (as several nodes would be): every offset from 1 is given out
    /// exactly once, in one epoch.
    @Test func concurrentPublishersGetEveryOffsetOnce() async throws {
        try await self.withStreams { streams, _, _ in
            let results = try await withThrowingTaskGroup(of: [(UInt64, String)].self) { group in
                for publisher in 0..<4 {
                    group.addTask {
                        var mine: [(UInt64, String)] = []
                        for n in 0..<50 {
                            let (publication, epoch) = try await streams.append(
                                Publication(data: #"{"p":\#(publisher),"n":\#(n)}"#), to: "rooms:a", historySize: 1000, historyTTL: .seconds(600))
                            mine.append((publication.offset, epoch))
                        }
                        return mine
                    }
                }
                var all: [(UInt64, String)] = []
                for try await part in group { all += part }
                return all
            }
            #expect(results.map(\.0).sorted() == Array(1...200))
            #expect(Set(results.map(\.1)).count == 1)
            #expect(try await streams.position(of: "rooms:a")?.offset == 200)
            // Delivery reads them back in offset order, each publisher's in the order it sent them.
            let stored = try await streams.publications(of: "rooms:a", after: 0)
            #expect(stored.map(\.offset) == Array(1...200))
            for publisher in 0..<4 {
                let sequence = stored.compactMap { publication -> Int? in
                    guard let value = try? JSONValue.parse(publication.data), value["p"]?.integerValue(Int.self) == publisher else { return nil }
                    return value["n"]?.integerValue(Int.self)
                }
                #expect(sequence == Array(0..<50))
            }
        }
    }

    /// The epoch lives in the database: another client (a restarted node) continues the same stream.
    @Test func theEpochAndOffsetsSurviveANewClient() async throws {
        try await self.withStreams { streams, _, url in
            let (first, epoch) = try await streams.append(Publication(data: "1"), to: "news", historySize: 10, historyTTL: .seconds(60))
            #expect(first.offset == 1)
            try await TestDatabase.withClient(url) { other in
                let restarted = PostgresStreams(client: other, logger: self.logger)
                let (second, sameEpoch) = try await restarted.append(
                    Publication(data: "2"), to: "news", historySize: 10, historyTTL: .seconds(60), newEpoch: "not-used")
                #expect(second.offset == 2)
                #expect(sameEpoch == epoch)
                #expect(try await restarted.position(of: "news") == StreamPosition(offset: 2, epoch: epoch))
            }
        }
    }

    @Test func historyKeepsTheLastSizeWhileDeliveryStillSeesTheRest() async throws {
        // A grace far longer than the test: what it checks must not depend on how fast the machine is.
        try await self.withStreams(deliveryGrace: .seconds(60)) { streams, _, _ in
            for n in 1...5 {
                _ = try await streams.append(Publication(data: "\(n)"), to: "c", historySize: 3, historyTTL: .seconds(60))
            }
            let (kept, position) = try await streams.history(of: "c", historySize: 3, historyTTL: .seconds(60))
            #expect(kept.map(\.data) == ["3", "4", "5"])
            #expect(position?.offset == 5)
            // Within the delivery grace, a node that is behind can still fetch what history dropped.
            #expect(try await streams.publications(of: "c", after: 0).map(\.offset) == [1, 2, 3, 4, 5])
        }
    }

    @Test func aShortTTLEmptiesHistoryAndTheTableAfterTheGrace() async throws {
        // Only waits past the TTL and the grace, so a slow machine cannot make it fail.
        try await self.withStreams(deliveryGrace: .milliseconds(300)) { streams, _, _ in
            _ = try await streams.append(Publication(data: "brief"), to: "d", historySize: 10, historyTTL: .milliseconds(100))
            try await Task.sleep(for: .milliseconds(600))
            let (expired, stillPositioned) = try await streams.history(of: "d", historySize: 10, historyTTL: .milliseconds(100))
            #expect(expired.isEmpty)
            #expect(stillPositioned?.offset == 1, "the stream's position outlives its history")
            #expect(try await streams.removeExpired() >= 1)
            #expect(try await streams.publications(of: "d", after: 0).isEmpty)
        }
    }

    @Test func aChannelNeverPublishedToHasNoPosition() async throws {
        try await self.withStreams { streams, _, _ in
            #expect(try await streams.position(of: "nothing") == nil)
            let (publications, position) = try await streams.history(of: "nothing", historySize: 10, historyTTL: .seconds(60))
            #expect(publications.isEmpty)
            #expect(position == nil)
        }
    }

    /// Info and tags come back as they went in; a publication that fits in a notification travels in
    /// it, and one far over NOTIFY's 8000 bytes works because its notification carries only the
    /// offset and channel.
    @Test func largePayloadsInfoAndTagsRoundTripAndEveryListenerIsNotified() async throws {
        try await self.withStreams { streams, client, url in
            let received = NIOLockedValueBox<[String]>([])
            let listening = NIOLockedValueBox(false)
            let listener = Task {
                try await TestDatabase.withClient(url) { other in
                    try await other.withConnection { connection in
                        try await connection.listen(on: PostgresStreams.notificationChannel) { notifications in
                            listening.withLockedValue { $0 = true }
                            for try await notification in notifications {
                                let count = received.withLockedValue { $0.append(notification.payload); return $0.count }
                                if count == 4 { return }
                            }
                        }
                    }
                }
            }
            while !listening.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            // LISTEN is sent before the closure runs, but give the server a moment anyway.
            try await Task.sleep(for: .milliseconds(100))

            let big = "\"" + String(repeating: "x", count: 100_000) + "\""
            let info = ClientInfo(user: "ann", client: "c-1", connectionInfo: #"{"name":"Ann"}"#)
            _ = try await streams.append(Publication(data: big, info: info, tags: ["k": "v"]), to: "rooms:big", historySize: 10, historyTTL: .seconds(60))
            _ = try await streams.append(Publication(data: "2"), to: "rooms:big", historySize: 10, historyTTL: .seconds(60))
            _ = try await streams.append(Publication(data: "3"), to: "other", historySize: 10, historyTTL: .seconds(60))
            _ = try await streams.append(Publication(data: #"{"a":"b\tc"}"#, info: info, tags: ["k": "v"]), to: "with space\tand tab", historySize: 10, historyTTL: .seconds(60))
            try await listener.value
            let payloads = received.withLockedValue { $0 }
            #expect(payloads == [
                "1 rooms:big",
                "p\t2\t2\t\t\trooms:big",
                "p\t1\t3\t\t\tother",
                "p\t1\t" + #"{"a":"b\tc"}"# + "\t" + info.json.jsonText + "\t" + #"{"k":"v"}"# + "\twith space\tand tab",
            ])
            let parsed = payloads.compactMap(PostgresStreams.parseNotification)
            #expect(parsed.map(\.offset) == [1, 2, 1, 1])
            #expect(parsed.map(\.channel) == ["rooms:big", "rooms:big", "other", "with space\tand tab"])
            #expect(parsed.map(\.publication) == [
                nil, Publication(offset: 2, data: "2"), Publication(offset: 1, data: "3"),
                Publication(offset: 1, data: #"{"a":"b\tc"}"#, info: info, tags: ["k": "v"]),
            ])
            #expect(PostgresStreams.parseNotification("x rooms") == nil)
            #expect(PostgresStreams.parseNotification("3 ") == nil)
            #expect(PostgresStreams.parseNotification("p\tx\t1\t\t\tc") == nil)

            let stored = try await streams.publications(of: "rooms:big", after: 0, limit: 1)
            #expect(stored == [Publication(offset: 1, data: big, info: info, tags: ["k": "v"])])
            _ = client
        }
    }
}

extension PostgresStreamsTests {
    @Test func startingAStreamGivesAnEpochOnceAndPublicationsContinueIt() async throws {
        try await self.withStreams { streams, _, _ in
            let started = try await streams.startStream(of: "fresh", newEpoch: "first")
            #expect(started == StreamPosition(offset: 0, epoch: "first"))
            #expect(try await streams.startStream(of: "fresh", newEpoch: "second") == started, "started once")
            let (publication, epoch) = try await streams.append(Publication(data: "1"), to: "fresh", historySize: 10, historyTTL: .seconds(60))
            #expect(publication.offset == 1)
            #expect(epoch == "first")
        }
    }
}

extension PostgresStreamsTests {
    /// `skip_history`: the publication takes its offset (nodes deliver by offset) but history never
    /// shows it, and it trims nothing the channel keeps.
    @Test func aPublicationOutsideHistoryKeepsItsPlaceButNotItsHistory() async throws {
        try await self.withStreams { streams, _, _ in
            for n in 1...3 {
                _ = try await streams.append(Publication(data: "\(n)"), to: "mixed", historySize: 10, historyTTL: .seconds(60))
            }
            let (skipped, _) = try await streams.append(Publication(data: "4"), to: "mixed", historySize: 10, historyTTL: .seconds(60), inHistory: false)
            #expect(skipped.offset == 4)
            _ = try await streams.append(Publication(data: "5"), to: "mixed", historySize: 10, historyTTL: .seconds(60))
            let (history, position) = try await streams.history(of: "mixed", historySize: 10, historyTTL: .seconds(60))
            #expect(history.map(\.offset) == [1, 2, 3, 5])
            #expect(position?.offset == 5)
            #expect(try await streams.publications(of: "mixed", after: 3).map(\.data) == ["4", "5"], "still delivered")

            // history_remove: out of history at once, still there for nodes that have not delivered them.
            try await streams.removeHistory(of: "mixed")
            let (afterRemoval, positionAfter) = try await streams.history(of: "mixed", historySize: 10, historyTTL: .seconds(60))
            #expect(afterRemoval.isEmpty)
            #expect(positionAfter == position, "the epoch and offsets carry on")
            #expect(try await streams.publications(of: "mixed", after: 0).count == 5)
        }
    }
}

extension PostgresStreamsTests {
    /// Several nodes subscribe to (or read the history of) the same fresh channel at the same moment,
    /// for many fresh channels: every one of them gets the stream's position, the same one. (The
    /// insert that starts a stream waits for a concurrent one and does nothing; a read in the same
    /// statement still saw no row, in about 6 % of channels.)
    @Test func concurrentFirstReadsOfFreshChannelsAllStartTheSameStream() async throws {
        try await self.withStreams { streams, _, url in
            try await TestDatabase.withClient(url) { other in
                let nodes = [streams, PostgresStreams(client: other, logger: self.logger)]
                var failures: [String] = []
                for batch in 0..<20 {
                    let results = await withTaskGroup(of: (String, Result<StreamPosition?, any Error>).self) { group in
                        for n in 0..<10 {
                            let channel = "fresh-\(batch)-\(n)"
                            for reader in 0..<4 {
                                group.addTask {
                                    do {
                                        let read = try await nodes[reader % 2].history(
                                            of: channel, historySize: 10, historyTTL: .seconds(60), startingStream: true)
                                        return (channel, .success(read.position))
                                    } catch {
                                        return (channel, .failure(error))
                                    }
                                }
                            }
                        }
                        var all: [(String, Result<StreamPosition?, any Error>)] = []
                        for await result in group { all.append(result) }
                        return all
                    }
                    var positions: [String: [StreamPosition]] = [:]
                    for (channel, result) in results {
                        switch result {
                        case .success(let position?): positions[channel, default: []].append(position)
                        case .success(nil): failures.append("\(channel): no position")
                        case .failure(let error): failures.append("\(channel): \(error)")
                        }
                    }
                    for (channel, seen) in positions where seen.contains(where: { $0 != seen[0] }) { failures.append("\(channel): positions \(seen)") }
                }
                #expect(failures.isEmpty, "\(failures.count) of 800 reads failed: \(failures.prefix(3))")
            }
        }
    }

    /// History holds the last `historySize` publications that are in it: those sent with
    /// `skip_history` neither count nor push any out, neither from what history shows nor from the
    /// table (with no delivery grace, trimming deletes at once whatever history no longer holds).
    @Test func publicationsOutsideHistoryPushNothingOutOfIt() async throws {
        try await self.withStreams(deliveryGrace: .zero) { streams, _, _ in
            for n in 1...10 {
                _ = try await streams.append(Publication(data: "\(n)"), to: "kept", historySize: 100, historyTTL: .seconds(60))
            }
            for n in 1...100 {
                _ = try await streams.append(Publication(data: "s\(n)"), to: "kept", historySize: 100, historyTTL: .seconds(60), inHistory: false)
            }
            let (kept, position) = try await streams.history(of: "kept", historySize: 100, historyTTL: .seconds(60))
            #expect(kept.map(\.data) == (1...10).map { "\($0)" })
            #expect(position?.offset == 110)

            // A full history, then one skipped: still full.
            for n in 1...150 {
                _ = try await streams.append(Publication(data: "\(n)"), to: "full", historySize: 100, historyTTL: .seconds(60))
            }
            _ = try await streams.append(Publication(data: "skipped"), to: "full", historySize: 100, historyTTL: .seconds(60), inHistory: false)
            let (full, _) = try await streams.history(of: "full", historySize: 100, historyTTL: .seconds(60))
            #expect(full.map(\.offset) == Array(51...150))
            // The next one in history pushes exactly one out.
            _ = try await streams.append(Publication(data: "151"), to: "full", historySize: 100, historyTTL: .seconds(60))
            let (next, _) = try await streams.history(of: "full", historySize: 100, historyTTL: .seconds(60))
            #expect(next.map(\.offset) == Array(52...150) + [152])
        }
    }
}
