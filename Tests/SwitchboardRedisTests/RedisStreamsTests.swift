import Logging
import NIOConcurrencyHelpers
import NIOCore
@testable import Switchboard
@testable import SwitchboardRedis
import Testing

/// Channel streams in a real redis-server: offsets, epochs, history and the published messages.
@Suite(.enabled(if: TestRedisServer.available, "needs redis-server: run scripts/test.sh"))
struct RedisStreamsTests {
    static func withStreams(_ body: (RedisStreams, TestRedisServer) async throws -> Void) async throws {
        try await TestRedisServer.withServer { server in
            let client = RedisClient(url: server.url, logger: Logger(label: "test"))
            let running = Task { await client.run() }
            defer { running.cancel() }
            try await RedisClientTests.waitFor(client) { $0 == .connected }
            try await body(RedisStreams(client: client), server)
        }
    }

    @Test func offsetsEpochsHistoryAndMessagesInOneStep() async throws {
        try await Self.withStreams { streams, server in
            let heard = NIOLockedValueBox<[(UInt64, String, Publication)]>([])
            let subscriber = try await RedisPubSubConnection.connect(to: server.url) { message in
                if let parsed = RedisStreams.parseMessage(message.payload) { heard.withLockedValue { $0.append(parsed) } }
            }
            defer { subscriber.close() }
            try await subscriber.subscribe([streams.pubSubChannel("rooms:a")])
            #expect(streams.channel(ofPubSubChannel: streams.pubSubChannel("rooms:a")) == "rooms:a")

            let info = ClientInfo(user: "ann", client: "c1", connectionInfo: #"{"name":"Ann\tT"}"#)
            var epoch: String?
            for n in 1...7 {
                let publication = Publication(data: #"{"n":\#(n),"text":"tab\there"}"#, info: n == 1 ? info : nil, tags: n == 2 ? ["k": "v"] : [:])
                let (published, streamEpoch) = try await streams.publish(publication, to: "rooms:a", historySize: 5, historyTTL: .seconds(60), inHistory: n != 3)
                #expect(published.offset == UInt64(n))
                #expect(epoch == nil || streamEpoch == epoch, "one epoch")
                epoch = streamEpoch
            }
            let read = try await streams.history(of: "rooms:a", startingStream: false)
            #expect(read.position == StreamPosition(offset: 7, epoch: epoch!))
            #expect(read.publications.map(\.offset) == [2, 4, 5, 6, 7], "the newest five in history (3 never was): \(read.publications.map(\.offset))")
            #expect(!read.publications.map(\.offset).contains(3), "3 skipped history")
            #expect(read.publications.last?.data == #"{"n":7,"text":"tab\there"}"#)
            #expect(try await streams.publications(of: "rooms:a", after: 5).map(\.offset) == [6, 7])

            try await subscriber.ping()
            let messages = heard.withLockedValue { $0 }
            #expect(messages.map(\.0) == Array(1...7), "every publication published in offset order, history or not")
            #expect(messages.allSatisfy { $0.1 == epoch })
            #expect(messages[0].2.info == info, "info round trip")
            #expect(messages[1].2.tags == ["k": "v"], "tags round trip")
            #expect(messages[2].2.data == #"{"n":3,"text":"tab\there"}"#)

            try await streams.removeHistory(of: "rooms:a")
            let removed = try await streams.history(of: "rooms:a", startingStream: false)
            #expect(removed.publications.isEmpty)
            #expect(removed.position == StreamPosition(offset: 7, epoch: epoch!), "offsets and epoch carry on")
            #expect(try await streams.publish(Publication(data: "8"), to: "rooms:a", historySize: 5, historyTTL: .seconds(60), inHistory: true).publication.offset == 8)
        }
    }

    @Test func aNewChannelHasNoStreamUntilOneIsStarted() async throws {
        try await Self.withStreams { streams, _ in
            let none = try await streams.history(of: "fresh", startingStream: false)
            #expect(none.position == nil && none.publications.isEmpty)
            let started = try await streams.history(of: "fresh", startingStream: true)
            let position = try #require(started.position)
            #expect(position.offset == 0)
            let again = try await streams.history(of: "fresh", startingStream: true)
            #expect(again.position == position, "started once")
            let first = try await streams.publish(Publication(data: "1"), to: "fresh", historySize: 10, historyTTL: .seconds(60), inHistory: true)
            #expect(first.epoch == position.epoch && first.publication.offset == 1, "publishing goes on in the started stream")
        }
    }

    @Test func historyExpiresAfterItsTTL() async throws {
        try await Self.withStreams { streams, _ in
            let ttl = Duration.seconds(2)
            let before = ContinuousClock.now
            _ = try await streams.publish(Publication(data: "1"), to: "short", historySize: 10, historyTTL: ttl, inHistory: true)
            let kept = try await streams.history(of: "short", startingStream: false).publications.count
            // On a loaded machine the read may come after the TTL; only a read inside it must see the publication.
            if ContinuousClock.now - before < ttl {
                #expect(kept == 1)
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while try await !streams.history(of: "short", startingStream: false).publications.isEmpty {
                try #require(ContinuousClock.now < deadline, "history outlived its TTL")
                try await Task.sleep(for: .milliseconds(100))
            }
            let position = try await streams.history(of: "short", startingStream: false).position
            #expect(position?.offset == 1, "the offset outlives the history (meta TTL)")
        }
    }

    @Test func scriptsAreLoadedAgainAfterRedisRestarts() async throws {
        let server = try TestRedisServer()
        try await server.start()
        let client = RedisClient(url: server.url, logger: Logger(label: "test"))
        let running = Task { await client.run() }
        defer { running.cancel() }
        try await RedisClientTests.waitFor(client) { $0 == .connected }
        let streams = RedisStreams(client: client)
        _ = try await streams.publish(Publication(data: "1"), to: "c", historySize: 10, historyTTL: .seconds(60), inHistory: true)
        server.kill()
        try await RedisClientTests.waitFor(client) { $0 != .connected }
        await #expect(throws: RedisError.self) {
            _ = try await streams.publish(Publication(data: "2"), to: "c", historySize: 10, historyTTL: .seconds(60), inHistory: true)
        }
        try await server.start()
        try await RedisClientTests.waitFor(client) { $0 == .connected }
        let after = try await streams.publish(Publication(data: "3"), to: "c", historySize: 10, historyTTL: .seconds(60), inHistory: true)
        #expect(after.publication.offset == 1, "an empty Redis: a new stream")
    }
}
