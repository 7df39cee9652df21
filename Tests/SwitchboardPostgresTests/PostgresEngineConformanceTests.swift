import EngineConformance
import Logging
import PostgresNIO
import Switchboard
import SwitchboardPostgres
import Synchronization
import Testing

/// The PostgreSQL engine passes the Engine conformance suite, with three nodes on one database.
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresEngineConformanceTests {
    /// One node: its two clients and its engine, each running in a task of its own.
    final class Node: Sendable {
        let engine: PostgresEngine
        let tasks: [Task<Void, Never>]
        let running: Task<Void, Never>

        init(url: PostgresURL) async throws {
            let logger = Logger(label: "conformance")
            let client = PostgresClient(configuration: url.configuration, backgroundLogger: logger)
            let listener = PostgresClient(configuration: url.configuration, backgroundLogger: logger)
            self.tasks = [Task { await client.run() }, Task { await listener.run() }]
            let engine = PostgresEngine(client: client, listenerClient: listener, logger: logger)
            self.engine = engine
            self.running = Task { await engine.run() }
            let deadline = ContinuousClock.now + .seconds(20)
            while engine.status != .ready {
                guard ContinuousClock.now < deadline else { throw ConformanceFailure(description: "the node never listened") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func stop() async {
            self.running.cancel()
            await self.running.value
            for task in self.tasks { task.cancel() }
            for task in self.tasks { await task.value }
        }
    }

    struct Fixture: EngineFixture {
        var persistsAcrossRestarts: Bool { true }

        func withCluster(nodes count: Int, _ body: @Sendable (EngineCluster) async throws -> Void) async throws {
            try await TestDatabase.withDatabase { client, url in
                try await PostgresSchema.migrate(client, logger: Logger(label: "conformance"))
                let nodes = Mutex<[Node]>([])
                do {
                    for _ in 0..<count {
                        let node = try await Node(url: url)
                        nodes.withLock { $0.append(node) }
                    }
                    let engines = nodes.withLock { $0.map(\.engine) }
                    try await body(EngineCluster(nodes: engines) { index in
                        let old = nodes.withLock { $0[index] }
                        await old.stop()
                        let new = try await Node(url: url)
                        nodes.withLock { $0[index] = new }
                        return new.engine
                    })
                } catch {
                    for node in nodes.withLock({ $0 }) { await node.stop() }
                    throw error
                }
                for node in nodes.withLock({ $0 }) { await node.stop() }
            }
        }
    }

    @Test(arguments: EngineConformance.cases)
    func conforms(_ requirement: EngineConformance.Case) async throws {
        try await requirement.run(with: Fixture())
    }
}
