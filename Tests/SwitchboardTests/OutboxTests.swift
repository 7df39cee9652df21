import NIOCore
import Synchronization
import Testing

@testable import Switchboard

@Suite struct OutboxTests {
    @Test func deliversMessagesInOrder() async {
        let outbox = Outbox(limit: 1000)
        for i in 0..<10 { #expect(outbox.enqueue(.text("m\(i)")) == .enqueued) }
        for i in 0..<10 { #expect(await outbox.next() == .message(.text("m\(i)"))) }
        #expect(outbox.queuedBytes == 0)
    }

    @Test func waitingConsumerGetsMessageDirectly() async {
        let outbox = Outbox(limit: 100)
        async let received = outbox.next()
        try? await Task.sleep(for: .milliseconds(20))
        outbox.enqueue(.text("hello"))
        #expect(await received == .message(.text("hello")))
    }

    @Test func overflowDropsQueueAndEndsWithSlowConsumer() async {
        let closings = Mutex<[CloseReason]>([])
        let outbox = Outbox(limit: 10) { reason in closings.withLock { $0.append(reason) } }
        #expect(outbox.enqueue(.text("12345")) == .enqueued)
        #expect(outbox.enqueue(.text("12345")) == .enqueued)
        #expect(outbox.peakBytes == 10)
        #expect(outbox.enqueue(.text("1")) == .overflowed)
        #expect(outbox.queuedBytes == 0)
        #expect(outbox.enqueue(.text("1")) == .closed)
        #expect(closings.withLock { $0 } == [.slowConsumer])
        // What was queued is dropped: the writer gets the close at once.
        #expect(await outbox.next() == .close(.slowConsumer))
        #expect(await outbox.next() == nil)
        #expect(outbox.peakBytes <= outbox.limit)
    }

    @Test func overflowWakesWaitingConsumerWithClose() async {
        let outbox = Outbox(limit: 4)
        async let received = outbox.next()
        try? await Task.sleep(for: .milliseconds(20))
        #expect(outbox.enqueue(.text("too long")) == .overflowed)
        #expect(await received == .close(.slowConsumer))
    }

    @Test func finishDeliversQueuedMessagesThenClose() async {
        let closings = Mutex<[CloseReason]>([])
        let outbox = Outbox(limit: 100) { reason in closings.withLock { $0.append(reason) } }
        outbox.enqueue(.text("a"))
        outbox.enqueue(.text("b"))
        outbox.finish(closing: .serverShuttingDown)
        outbox.finish(closing: .slowConsumer)  // ignored: already ended
        #expect(outbox.enqueue(.text("c")) == .closed)
        #expect(await outbox.next() == .message(.text("a")))
        #expect(await outbox.next() == .message(.text("b")))
        #expect(await outbox.next() == .close(.serverShuttingDown))
        #expect(await outbox.next() == nil)
        #expect(closings.withLock { $0 } == [.serverShuttingDown])
    }

    @Test func finishWithoutReasonEndsQuietly() async {
        let outbox = Outbox(limit: 100)
        async let received = outbox.next()
        try? await Task.sleep(for: .milliseconds(20))
        outbox.finish()
        #expect(await received == nil)
        #expect(outbox.isFinished)
    }

    @Test func sendWaitsForRoomInsteadOfOverflowing() async {
        let outbox = Outbox(limit: 10)
        #expect(await outbox.send(.text("0123456789")))
        let sent = Mutex(false)
        let sender = Task {
            let ok = await outbox.send(.text("abc"))
            sent.withLock { $0 = true }
            return ok
        }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(sent.withLock { $0 } == false, "send must wait while the outbox is full")
        #expect(outbox.queuedBytes == 10)
        #expect(await outbox.next() == .message(.text("0123456789")))
        #expect(await sender.value == true)
        #expect(await outbox.next() == .message(.text("abc")))
    }

    @Test func sendAdmitsOneOversizedMessageIntoAnEmptyOutbox() async {
        let outbox = Outbox(limit: 4)
        #expect(await outbox.send(.text("longer than four")))
        #expect(await outbox.next() == .message(.text("longer than four")))
    }

    @Test func sendReturnsFalseWhenOutboxEndsWhileWaiting() async {
        let outbox = Outbox(limit: 4)
        outbox.enqueue(.text("full"))
        let sender = Task { await outbox.send(.text("more")) }
        try? await Task.sleep(for: .milliseconds(30))
        outbox.finish()
        #expect(await sender.value == false)
    }

    @Test func cancelledConsumerReturnsNil() async {
        let outbox = Outbox(limit: 4)
        let consumer = Task { await outbox.next() }
        try? await Task.sleep(for: .milliseconds(30))
        consumer.cancel()
        #expect(await consumer.value == nil)
    }

    @Test func concurrentProducersLoseNothing() async {
        let outbox = Outbox(limit: 1 << 20)
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<4 {
                group.addTask {
                    for i in 0..<500 { outbox.enqueue(.text("\(producer):\(i)")) }
                }
            }
        }
        var next = [0, 0, 0, 0]
        for _ in 0..<2000 {
            guard case .message(let message) = await outbox.next() else {
                Issue.record("expected a message")
                return
            }
            let parts = String(buffer: message.bytes).split(separator: ":").map { Int($0)! }
            #expect(parts[1] == next[parts[0]], "each producer's messages stay in order")
            next[parts[0]] += 1
        }
        #expect(next == [500, 500, 500, 500])
    }
}
