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

    @Test func closeAllEndsEveryOutboxAndRefusesNewcomers() {
        let registry = ConnectionRegistry()
        let outboxes = (0..<3).map { _ in Outbox(limit: 10) }
        for outbox in outboxes { _ = registry.register(outbox) }
        #expect(registry.closeAll(.serverShuttingDown) == 3)
        for outbox in outboxes { #expect(outbox.drain().close == .serverShuttingDown) }
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

@Suite struct RoomTests {
    @Test func broadcastReachesEveryMemberInOneOrder() {
        let room = Room()
        let outboxes = (0..<3).map { _ in Outbox(limit: 1 << 16) }
        for (i, outbox) in outboxes.enumerated() { room.join(ConnectionID(rawValue: UInt64(i)), outbox: outbox) }
        for i in 0..<50 { #expect(room.broadcast(.text("m\(i)")) == 3) }
        for outbox in outboxes {
            #expect(outbox.drain().messages == (0..<50).map { .text("m\($0)") })
        }
    }

    @Test func slowMemberIsDroppedWithoutAffectingOthers() {
        let room = Room()
        let fast = Outbox(limit: 1 << 16)
        let slow = Outbox(limit: 8)
        room.join(ConnectionID(rawValue: 1), outbox: fast)
        room.join(ConnectionID(rawValue: 2), outbox: slow)
        #expect(room.broadcast(.text("12345")) == 2)
        #expect(room.broadcast(.text("12345")) == 1)  // slow overflows here
        #expect(room.count == 1)
        #expect(room.broadcast(.text("again")) == 1)
        #expect(slow.drain().close == .slowConsumer)
        #expect(fast.drain().messages == [.text("12345"), .text("12345"), .text("again")])
    }

    @Test func leaveStopsDelivery() {
        let room = Room()
        let outbox = Outbox(limit: 100)
        room.join(ConnectionID(rawValue: 1), outbox: outbox)
        #expect(room.leave(ConnectionID(rawValue: 1)))
        #expect(!room.leave(ConnectionID(rawValue: 1)))
        #expect(room.broadcast(.text("x")) == 0)
        #expect(outbox.queuedBytes == 0)
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
