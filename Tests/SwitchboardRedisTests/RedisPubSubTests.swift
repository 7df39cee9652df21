import NIOConcurrencyHelpers
import NIOCore
import SwitchboardRedis
import Testing

/// The subscribed connection against a real redis-server: messages of channels and patterns in
/// order, confirmations, the probe, and a server that dies.
@Suite(.enabled(if: TestRedisServer.available, "needs redis-server: run scripts/test.sh"))
struct RedisPubSubTests {
    @Test func messagesArriveInPublishOrderOnTheirChannels() async throws {
        try await TestRedisServer.withServer { server in
            let received = NIOLockedValueBox<[(String, String?, String)]>([])
            let subscriber = try await RedisPubSubConnection.connect(to: server.url) { message in
                received.withLockedValue { $0.append((String(buffer: message.channel), message.pattern.map { String(buffer: $0) }, String(buffer: message.payload))) }
            }
            defer { subscriber.close() }
            try await subscriber.subscribe(["a", "b"])
            try await subscriber.subscribe(patterns: ["p:*"])
            try await subscriber.ping()
            let publisher = try await RedisConnection.connect(to: server.url)
            defer { publisher.close() }
            var commands: [RESPCommand] = []
            for n in 0..<500 { commands.append(RESPCommand("PUBLISH", n % 2 == 0 ? "a" : "b", "\(n)")) }
            commands.append(RESPCommand("PUBLISH", "p:1", "pattern"))
            commands.append(RESPCommand("PUBLISH", "elsewhere", "not for us"))
            let replies = try await publisher.send(commands)
            #expect(replies[0] == .integer(1), "one subscriber heard it")
            #expect(replies.last == .integer(0))
            try await subscriber.ping()  // every message sent before the pong has been handed over
            let messages = received.withLockedValue { $0 }
            #expect(messages.filter { $0.0 == "a" }.map(\.2) == stride(from: 0, to: 500, by: 2).map(String.init))
            #expect(messages.filter { $0.0 == "b" }.map(\.2) == stride(from: 1, to: 500, by: 2).map(String.init))
            #expect(messages.last.map { [$0.0, $0.1 ?? "", $0.2] } == ["p:1", "p:*", "pattern"])
            #expect(!messages.contains { $0.0 == "elsewhere" })

            try await subscriber.unsubscribe(["a"])
            _ = try await publisher.send(RESPCommand("PUBLISH", "a", "after"))
            _ = try await publisher.send(RESPCommand("PUBLISH", "b", "still"))
            try await subscriber.ping()
            let after = received.withLockedValue { Array($0.dropFirst(messages.count)) }
            #expect(after.map(\.2) == ["still"])
        }
    }

    @Test func aDeadServerEndsTheSubscriberAndItsProbe() async throws {
        let server = try TestRedisServer()
        try await server.start()
        let subscriber = try await RedisPubSubConnection.connect(to: server.url) { _ in }
        try await subscriber.subscribe(["x"])
        server.kill()
        try await subscriber.closeFuture.get()
        await #expect(throws: RedisError.self) { try await subscriber.ping(timeout: .seconds(1)) }
    }
}
