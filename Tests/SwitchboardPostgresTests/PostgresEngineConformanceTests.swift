import EngineConformance
import Logging
import PostgresNIO
import Switchboard
import SwitchboardPostgres
import Testing

/// The PostgreSQL engine passes the Engine conformance suite, with three nodes on one database.
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresEngineConformanceTests {
    /// One node: its two clients and its engine, each running in a task of its own.
    final class Node: ConformanceNode {
        let postgresEngine: PostgresEngine
        var engine: any Engine { self.postgresEngine }
        let tasks: [Task<Void, Never>]
        let running: Task<Void, Never>

        init(url: PostgresURL) async throws {
            let logger = Logger(label: "conformance")
            let client = PostgresClient(configuration: url.configuration, backgroundLogger: logger)
            let listener = PostgresClient(configuration: url.configuration, backgroundLogger: logger)
            self.tasks = [Task { await client.run() }, Task { await listener.run() }]
            let engine = PostgresEngine(client: client, listenerClient: listener, logger: logger)
            self.postgresEngine = engine
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
                try await EngineCluster.run(nodes: count, start: { try await Node(url: url) }, body)
            }
        }
    }

    @Test(arguments: EngineConformance.cases)
    func conforms(_ requirement: EngineConformance.Case) async throws {
        try await requirement.run(with: Fixture())
    }
}
