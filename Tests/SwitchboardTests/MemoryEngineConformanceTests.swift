import EngineConformance
import Switchboard
import Testing

/// The memory engine passes the Engine conformance suite (on its one node).
@Suite struct MemoryEngineConformanceTests {
    struct Fixture: EngineFixture {
        var persistsAcrossRestarts: Bool { false }

        func withCluster(nodes: Int, _ body: @Sendable (EngineCluster) async throws -> Void) async throws {
            let engine = MemoryEngine()
            try await body(EngineCluster(nodes: [engine], restart: { _ in MemoryEngine() }))
        }
    }

    @Test(arguments: EngineConformance.cases)
    func conforms(_ requirement: EngineConformance.Case) async throws {
        try await requirement.run(with: Fixture())
    }
}
