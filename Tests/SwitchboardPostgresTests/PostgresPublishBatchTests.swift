import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Switchboard
@testable import SwitchboardPostgres
import Testing

/// Publications that arrive together go to PostgreSQL in one statement: each caller still gets its
/// own offset (contiguous per channel) or its own error, and the notifications come in offset order.
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresPublishBatchTests {
    let logger = Logger(label: "test")

    /// Batches run by the real statement; the first one is held until ``release()`` so that what
    /// arrives meanwhile gathers into the next ones. Records every batch's size.
    final class Held: Sendable {
        let sizes = NIOLockedValueBox<[Int]>([])
        private let released = NIOLockedValueBox(false)

        func release() { self.released.withLockedValue { $0 = true } }

        func batcher(client: PostgresClient, logger: Logger, maxBatch: Int = 256, maxQueued: Int = 10_000, maxWait: Duration = .seconds(10))
            -> PostgresPublishBatcher
        {
            PostgresPublishBatcher(maxBatch: maxBatch, maxQueued: maxQueued, maxWait: maxWait) { items in
                let first = self.sizes.withLockedValue { sizes in
                    sizes.append(items.count)
                    return sizes.count == 1
                }
                if first {
                    let deadline = ContinuousClock.now + .seconds(20)
                    while !self.released.withLockedValue({ $0 }), ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
                return try await PostgresStreams.appendBatch(items, client: client, logger: logger, deliveryGrace: .seconds(60))
            }
        }
    }

    static func item(_ data: String, to channel: String, historySize: Int = 100) -> PostgresPublishBatcher.Item {
        PostgresPublishBatcher.Item(
            publication: Publication(data: data),
            channel: channel,
            historySize: historySize,
            historyTTL: .seconds(60),
            inHistory: true,
            newEpoch: HistoryStream.makeEpoch()
        )
    }

    /// Wait (bounded) until `count` publications queue behind the held batch.
    static func waitUntil(_ batcher: PostgresPublishBatcher, queues count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while batcher.waiting < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        try #require(batcher.waiting == count, "\(count) publications queue behind the held batch")
    }

    @Test func concurrentPublishesGoTogetherEachWithItsOwnOffsetAndNotificationsInOrder() async throws {
        try await TestDatabase.withDatabase { client, url in
            try await PostgresSchema.migrate(client, logger: self.logger)
            let streams = PostgresStreams(client: client, logger: self.logger)
            let held = Held()
            let batcher = held.batcher(client: client, logger: self.logger, maxBatch: 100)
            let received = NIOLockedValueBox<[String]>([])
            let listening = NIOLockedValueBox(false)
            let listener = Task {
                try await TestDatabase.withClient(url) { other in
                    try await other.withConnection { connection in
                        try await connection.listen(on: PostgresStreams.notificationChannel) { notifications in
                            listening.withLockedValue { $0 = true }
                            for try await notification in notifications {
                                if received.withLockedValue({ $0.append(notification.payload); return $0.count }) == 301 { return }
                            }
                        }
                    }
                }
            }
            while !listening.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(100))

            let channels = ["a", "b", "c"]
            let first = Task { try await batcher.append(Self.item(#""first""#, to: "a")) }
            while held.sizes.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
            let results = try await withThrowingTaskGroup(of: (Int, String, UInt64, String).self) { group in
                for n in 0..<300 {
                    let channel = channels[n % 3]
                    group.addTask {
                        let (publication, epoch) = try await batcher.append(Self.item(#"{"n":\#(n)}"#, to: channel, historySize: 50))
                        return (n, channel, publication.offset, epoch)
                    }
                }
                try await Self.waitUntil(batcher, queues: 300)
                held.release()
                var all: [(Int, String, UInt64, String)] = []
                for try await result in group { all.append(result) }
                return all
            }
            let (firstStored, firstEpoch) = try await first.value
            #expect(firstStored.offset == 1)
            #expect(held.sizes.withLockedValue { $0 } == [1, 100, 100, 100], "one statement per batch")

            for channel in channels {
                let mine = results.filter { $0.1 == channel }
                let base: UInt64 = channel == "a" ? 1 : 0
                #expect(mine.map(\.2).sorted() == Array((base + 1)...(base + 100)), "\(channel): contiguous offsets, each given once")
                #expect(Set(mine.map(\.3)).count == 1, "\(channel): one epoch")
                if channel == "a" { #expect(mine.first?.3 == firstEpoch) }
                // Each caller got the offset its own publication was stored at.
                let stored = try await streams.publications(of: channel, after: base)
                let byOffset = Dictionary(uniqueKeysWithValues: stored.map { ($0.offset, $0.data) })
                for (n, _, offset, _) in mine { #expect(byOffset[offset] == #"{"n":\#(n)}"#) }
                let (history, position) = try await streams.history(of: channel, historySize: 50, historyTTL: .seconds(60))
                #expect(history.map(\.offset) == Array((base + 51)...(base + 100)))
                #expect(position?.offset == base + 100)
            }

            try await listener.value
            let parsed = received.withLockedValue { $0 }.compactMap(PostgresStreams.parseNotification)
            #expect(parsed.count == 301)
            for channel in channels {
                let notified = parsed.filter { $0.channel == channel }
                let top: UInt64 = channel == "a" ? 101 : 100
                #expect(notified.map(\.offset) == Array(1...top), "\(channel): notified once each, in offset order")
                for notification in notified where notification.offset > 1 || channel != "a" {
                    let caller = results.first { $0.1 == channel && $0.2 == notification.offset }
                    #expect(notification.publication?.data == caller.map { #"{"n":\#($0.0)}"# }, "the notification carries its publication")
                }
            }
        }
    }

    @Test func aPublicationPostgreSQLRefusesFailsAloneAndTheRestOfItsBatchIsStored() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await PostgresSchema.migrate(client, logger: self.logger)
            let streams = PostgresStreams(client: client, logger: self.logger)
            let held = Held()
            let batcher = held.batcher(client: client, logger: self.logger)
            let first = Task { try await batcher.append(Self.item("0", to: "r")) }
            while held.sizes.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
            // PostgreSQL's text holds no NUL character: it refuses the statement that carries one.
            let outcomes = await withTaskGroup(of: (Int, Result<UInt64, any Error>).self) { group in
                for n in 1...10 {
                    group.addTask {
                        let data = n == 5 ? "\"a\u{0}b\"" : "\(n)"
                        do { return (n, .success(try await batcher.append(Self.item(data, to: "r")).publication.offset)) } catch { return (n, .failure(error)) }
                    }
                }
                try? await Self.waitUntil(batcher, queues: 10)
                held.release()
                var all: [(Int, Result<UInt64, any Error>)] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            #expect(try await first.value.publication.offset == 1)
            let refused = outcomes.filter { if case .failure = $0.1 { true } else { false } }
            #expect(refused.map(\.0) == [5], "only the refused one fails")
            if case .failure(let error)? = refused.first?.1 {
                #expect(error.postgresSQLState == "22021", "PostgreSQL's reason: \(error.postgresReason)")
                #expect(!error.engineError.isTemporary)
            }
            let offsets = outcomes.compactMap { try? $0.1.get() }.sorted()
            #expect(offsets == Array(2...10), "the others are stored, with no gap where the refused one was")
            #expect(held.sizes.withLockedValue { $0 }.prefix(2) == [1, 10], "they were one batch")
            #expect(held.sizes.withLockedValue { $0 }.count == 12, "then each tried on its own")
            #expect(try await streams.publications(of: "r", after: 0).map(\.offset) == Array(1...10))
        }
    }

    @Test func whenEveryPublicationFailsEachCallerGetsItsError() async throws {
        // No schema: PostgreSQL refuses every statement.
        try await TestDatabase.withDatabase { client, _ in
            let held = Held()
            let batcher = held.batcher(client: client, logger: self.logger)
            let first = Task { try await batcher.append(Self.item("0", to: "x")) }
            while held.sizes.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
            let failures = await withTaskGroup(of: String?.self) { group in
                for n in 1...8 {
                    group.addTask {
                        do {
                            _ = try await batcher.append(Self.item("\(n)", to: n.isMultiple(of: 2) ? "x" : "y"))
                            return nil
                        } catch {
                            return error.postgresSQLState
                        }
                    }
                }
                try? await Self.waitUntil(batcher, queues: 8)
                held.release()
                var all: [String?] = []
                for await failure in group { all.append(failure) }
                return all
            }
            await #expect(throws: PSQLError.self) { try await first.value }
            #expect(failures == Array(repeating: "42P01", count: 8), "every caller gets PostgreSQL's error: undefined table")
            #expect(batcher.waiting == 0)
        }
    }

    @Test func aFullQueueRefusesAtOnceAndAPublicationThatWaitedTooLongIsNotSent() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await PostgresSchema.migrate(client, logger: self.logger)
            let streams = PostgresStreams(client: client, logger: self.logger)
            let held = Held()
            let batcher = held.batcher(client: client, logger: self.logger, maxQueued: 3, maxWait: .milliseconds(100))
            let first = Task { try await batcher.append(Self.item("0", to: "q")) }
            while held.sizes.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
            let queued = (1...3).map { n in Task { try await batcher.append(Self.item("\(n)", to: "q")) } }
            try await Self.waitUntil(batcher, queues: 3)
            await #expect(throws: PostgresPublishError.tooManyWaiting(3)) { try await batcher.append(Self.item("4", to: "q")) }
            try await Task.sleep(for: .milliseconds(300))
            held.release()
            #expect(try await first.value.publication.offset == 1)
            for task in queued {
                await #expect(throws: PostgresPublishError.waitedTooLong(.milliseconds(100))) { try await task.value }
            }
            #expect(try await streams.position(of: "q")?.offset == 1, "nothing that failed was stored")
            // A client is told why, and that it may retry.
            #expect(PostgresPublishError.tooManyWaiting(3).engineError == EngineError("3 publications are already waiting for PostgreSQL", kind: .unavailable))
            // The batcher carries on.
            #expect(try await batcher.append(Self.item("5", to: "q")).publication.offset == 2)
        }
    }
}

extension PostgresPublishBatchTests {
    /// A publication pushes the oldest out of history at once; they stay fetchable for the delivery
    /// grace and are deleted with the expired rows after it, while history keeps its size.
    @Test func publicationsPushedOutOfHistoryLeaveItAtOnceAndTheTableAfterTheGrace() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await PostgresSchema.migrate(client, logger: self.logger)
            let streams = PostgresStreams(client: client, logger: self.logger, deliveryGrace: .milliseconds(300))
            for n in 1...5 {
                _ = try await streams.append(Publication(data: "\(n)"), to: "h", historySize: 2, historyTTL: .seconds(60))
            }
            var inHistory: [Int64] = []
            for try await offset in try await client.query(
                #"SELECT "offset" FROM switchboard_publications WHERE channel = 'h' AND in_history ORDER BY "offset""#
            ).decode(Int64.self) {
                inHistory.append(offset)
            }
            #expect(inHistory == [4, 5], "only history's rows are in its index")
            #expect(try await streams.publications(of: "h", after: 0).map(\.offset) == [1, 2, 3, 4, 5], "within the grace")
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await streams.removeExpired() == 3)
            #expect(try await streams.publications(of: "h", after: 0).map(\.offset) == [4, 5])
            #expect(try await streams.history(of: "h", historySize: 2, historyTTL: .seconds(60)).publications.map(\.data) == ["4", "5"])
        }
    }
}

extension PostgresEngineTests {
    /// Many publishers on two nodes at once, into two channels: every caller's publications get
    /// increasing offsets, and every subscriber on both nodes gets each channel in order, once each.
    @Test func manyConcurrentPublishersOnTwoNodesIntoTwoChannels() async throws {
        try await self.withTwoNodes { a, _, b, _ in
            let channels = ["rooms:p", "rooms:q"]
            var subscribers: [(String, Subscriber)] = []
            for (engine, node) in [(a, "a"), (b, "b")] {
                for channel in channels {
                    let subscriber = Subscriber(info: ClientInfo(user: "", client: "\(node)-\(channel)"), outbox: Outbox(limit: 1 << 24))
                    try await engine.subscribe(channel, options: self.room, subscriber: subscriber)
                    subscribers.append((channel, subscriber))
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            // 20 publishers per node, 10 publications each, alternating channels.
            let offsets = try await withThrowingTaskGroup(of: [String: [UInt64]].self) { group in
                for engine in [a, b] {
                    for publisher in 0..<20 {
                        group.addTask {
                            var mine: [String: [UInt64]] = [:]
                            for n in 0..<10 {
                                let channel = channels[(publisher + n) % 2]
                                let (stored, epoch) = try await engine.publish(Publication(data: "\(n)"), to: channel, options: self.room)
                                #expect(epoch != nil)
                                mine[channel, default: []].append(stored.offset)
                            }
                            return mine
                        }
                    }
                }
                var all: [[String: [UInt64]]] = []
                for try await mine in group { all.append(mine) }
                return all
            }
            for mine in offsets {
                for (_, list) in mine { #expect(list == list.sorted() && Set(list).count == list.count, "a publisher's offsets increase") }
            }
            for channel in channels {
                #expect(offsets.flatMap { $0[channel] ?? [] }.sorted() == Array(1...200))
            }
            for (channel, subscriber) in subscribers {
                var seen: [UInt64] = []
                #expect(try await self.eventually {
                    seen += self.offsets(subscriber.outbox)
                    return seen.count >= 200
                })
                #expect(seen == Array(1...200), "\(subscriber.info.client): \(channel) in order, none lost or doubled")
            }
        }
    }
}
