import EngineConformance
import Logging
import Switchboard
import SwitchboardRedis
import Testing

/// The Redis engine passes the Engine conformance suite, with three nodes on two shards (two
/// redis-servers), so channels live on both.
@Suite(.enabled(if: TestRedisServer.available, "needs redis-server: run scripts/test.sh"))
struct RedisEngineConformanceTests {
    /// One node: its engine, running in a task of its own.
    final class Node: ConformanceNode {
        let redisEngine: RedisEngine
        var engine: any Engine { self.redisEngine }
        let running: Task<Void, Never>

        init(urls: [RedisURL]) async throws {
            let engine = RedisEngine(urls: urls, settings: RedisEngine.Settings(nodeTTL: .seconds(3)), logger: Logger(label: "conformance"))
            self.redisEngine = engine
            self.running = Task { await engine.run() }
            let deadline = ContinuousClock.now + .seconds(20)
            while engine.status != .ready {
                guard ContinuousClock.now < deadline else { throw RedisTestFailure("the node never connected: \(engine.status)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func stop() async {
            self.running.cancel()
            await self.running.value
        }
    }

    struct Fixture: EngineFixture {
        var persistsAcrossRestarts: Bool { true }

        func withCluster(nodes count: Int, _ body: @Sendable (EngineCluster) async throws -> Void) async throws {
            try await TestRedisServer.withServer { first in
                try await TestRedisServer.withServer { second in
                    let urls = [first.url, second.url]
                    try await EngineCluster.run(nodes: count, start: { try await Node(urls: urls) }, body)
                }
            }
        }
    }

    @Test(arguments: EngineConformance.cases)
    func conforms(_ requirement: EngineConformance.Case) async throws {
        try await requirement.run(with: Fixture())
    }

    @Test func channelsSpreadOverShardsStably() {
        // The same channel always maps to the same shard; many channels use every shard.
        var counts = [0, 0, 0]
        for n in 0..<3000 { counts[RedisEngine.shardIndex(of: "rooms:\(n)", shards: 3)] += 1 }
        #expect(counts.allSatisfy { $0 > 800 }, "\(counts)")
        #expect(RedisEngine.shardIndex(of: "rooms:lobby", shards: 3) == RedisEngine.shardIndex(of: "rooms:lobby", shards: 3))
        #expect(RedisEngine.shardIndex(of: "anything", shards: 1) == 0)
        // Going from 2 to 3 shards moves only the channels that go to the new one.
        for n in 0..<1000 {
            let before = RedisEngine.shardIndex(of: "c\(n)", shards: 2), after = RedisEngine.shardIndex(of: "c\(n)", shards: 3)
            #expect(after == before || after == 2)
        }
    }
}
