import Testing

@testable import Switchboard

@Suite struct ConnectionRegistryTests {
    @Test func enforcesLimitAndFreesSlots() {
        let registry = ConnectionRegistry(limit: 2)
        guard case .registered(let a) = registry.register(Outbox(limit: 10)),
            case .registered(let b) = registry.register(Outbox(limit: 10))
        else {
            Issue.record("first two registrations must succeed")
            return
        }
        #expect(a != b)
        #expect(registry.register(Outbox(limit: 10)) == .atLimit(2))
        registry.unregister(a)
        registry.unregister(a)
        #expect(registry.count == 1)
        guard case .registered = registry.register(Outbox(limit: 10)) else {
            Issue.record("a freed slot must be usable")
            return
        }
    }

    @Test func closeAllEndsEveryOutboxWithItsOwnReasonAndRefusesNewcomers() {
        let registry = ConnectionRegistry()
        let outboxes = (0..<3).map { _ in Outbox(limit: 10) }
        for outbox in outboxes { _ = registry.register(outbox) }
        let protocolOutbox = Outbox(limit: 10)
        let shutdown = CloseReason(code: 3001, reason: "shutdown")
        _ = registry.register(protocolOutbox, shutdownReason: shutdown)
        #expect(registry.closeAll() == 4)
        for outbox in outboxes { #expect(outbox.drain().close == .serverShuttingDown) }
        #expect(protocolOutbox.drain().close == shutdown)
        #expect(registry.register(Outbox(limit: 10)) == .shuttingDown)
    }

    @Test func waitUntilEmptyReturnsWhenLastConnectionLeaves() async {
        let registry = ConnectionRegistry()
        guard case .registered(let id) = registry.register(Outbox(limit: 10)) else {
            Issue.record("registration must succeed")
            return
        }
        #expect(await registry.waitUntilEmpty(timeout: .milliseconds(30)) == false)
        Task {
            try? await Task.sleep(for: .milliseconds(20))
            registry.unregister(id)
        }
        #expect(await registry.waitUntilEmpty(timeout: .seconds(5)) == true)
    }
}

@Suite struct CloseReasonTests {
    @Test func longReasonsAreCutToFitACloseFrame() {
        let reason = CloseReason(code: 1008, reason: String(repeating: "é", count: 100))
        #expect(reason.reason.utf8.count <= CloseReason.maximumReasonBytes)
        #expect(reason.reason.utf8.count == 122)
        #expect(CloseReason(code: 1000, reason: "short").reason == "short")
    }
}
