import Logging
import NIOCore
import SwitchboardRedis
import Testing

/// The reconnecting client and scripts against a real redis-server that goes away and comes back.
@Suite(.enabled(if: TestRedisServer.available, "needs redis-server: run scripts/test.sh"))
struct RedisClientTests {
    static func waitFor(_ client: RedisClient, _ expected: (RedisClient.Status) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while !expected(client.status) {
            guard ContinuousClock.now < deadline else { throw RedisTestFailure("status stayed \(client.status)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func failsFastWhileRedisIsDownAndReconnectsWhenItIsBack() async throws {
        let server = try TestRedisServer()
        try await server.start()
        var settings = RedisClient.Settings()
        settings.maximumBackoff = .milliseconds(400)
        let client = RedisClient(url: server.url, settings: settings, logger: Logger(label: "test"))
        let running = Task { await client.run() }
        defer { running.cancel() }
        try await Self.waitFor(client) { $0 == .connected }
        try await client.send(RESPCommand("SET", "k", "v"))

        server.kill()
        try await Self.waitFor(client) { $0 != .connected }
        let started = ContinuousClock.now
        do {
            try await client.send(RESPCommand("GET", "k"))
            Issue.record("a command succeeded with Redis down")
        } catch {
            #expect("\(error)".contains("unavailable"), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(1), "fails at once, not after a timeout")

        try await server.start()  // the same port, an empty Redis
        try await Self.waitFor(client) { $0 == .connected }
        #expect(try await client.send(RESPCommand("GET", "k")) == .null)
        running.cancel()
        await running.value
        #expect(client.status == .disconnected("shut down"))
    }

    @Test func aScriptIsLoadedAgainAfterAFlush() async throws {
        try await TestRedisServer.withServer { server in
            let client = RedisClient(url: server.url, logger: Logger(label: "test"))
            let running = Task { await client.run() }
            defer { running.cancel() }
            try await Self.waitFor(client) { $0 == .connected }
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            let key = [ByteBuffer(string: "counter")]
            #expect(try await script.run(on: client, keys: key, arguments: [ByteBuffer(string: "5")]) == .integer(5))
            #expect(try await script.run(on: client, keys: key, arguments: [ByteBuffer(string: "2")]) == .integer(7))
            try await client.send(RESPCommand("SCRIPT", "FLUSH"))
            #expect(try await script.run(on: client, keys: key, arguments: [ByteBuffer(string: "1")]) == .integer(8), "NOSCRIPT: loaded again")
            await #expect(throws: RedisError.self) {
                _ = try await RedisScript("return redis.call('NOPE')").run(on: client, keys: [], arguments: [])
            }
        }
    }
}
