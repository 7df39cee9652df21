import NIOCore
import Synchronization
import Testing

@testable import Switchboard

/// Counts an outbox's wake-ups of its writer.
final class OutboxEvents: Sendable {
    let readyCalls = Mutex(0)

    func makeOutbox(limit: Int) -> Outbox {
        Outbox(limit: limit) { self.readyCalls.withLock { $0 += 1 } }
    }

    var ready: Int { self.readyCalls.withLock { $0 } }
}

@Suite struct OutboxTests {
    @Test func drainTakesEverythingInOrderAfterOneWakeUp() {
        let events = OutboxEvents()
        let outbox = events.makeOutbox(limit: 1000)
        for i in 0..<10 { #expect(outbox.enqueue(.text("m\(i)")) == .enqueued) }
        #expect(events.ready == 1, "one wake-up until the writer drains")
        let batch = outbox.drain()
        #expect(batch.messages == (0..<10).map { .text("m\($0)") })
        #expect(batch.close == nil)
        #expect(!batch.isLast)
        #expect(outbox.queuedBytes == 0)
        // The next message wakes the writer again.
        outbox.enqueue(.text("again"))
        #expect(events.ready == 2)
        #expect(outbox.drain().messages == [.text("again")])
        #expect(outbox.drain() == Outbox.Batch())
    }

    @Test func overflowDropsQueueAndEndsWithSlowConsumer() {
        let events = OutboxEvents()
        let outbox = events.makeOutbox(limit: 10)
        #expect(outbox.enqueue(.text("12345")) == .enqueued)
        #expect(outbox.enqueue(.text("12345")) == .enqueued)
        #expect(outbox.peakBytes == 10)
        #expect(outbox.enqueue(.text("1")) == .overflowed)
        #expect(outbox.queuedBytes == 0)
        #expect(outbox.hasPendingClose)
        #expect(outbox.enqueue(.text("1")) == .closed)
        // The close wakes the writer although a wake-up was already pending: a writer holding back
        // for a client that does not read must still take it.
        #expect(events.ready == 2)
        // What was queued is dropped: the writer gets the close at once.
        let batch = outbox.drain()
        #expect(batch.messages.isEmpty)
        #expect(batch.close == .slowConsumer)
        #expect(batch.isLast)
        #expect(!outbox.hasPendingClose)
        #expect(outbox.peakBytes <= outbox.limit)
    }

    @Test func overflowWakesAWriterThatHadNothingToDo() {
        let events = OutboxEvents()
        let outbox = events.makeOutbox(limit: 4)
        #expect(outbox.enqueue(.text("too long")) == .overflowed)
        #expect(events.ready == 1)
        #expect(outbox.drain().close == .slowConsumer)
    }

    @Test func finishDeliversQueuedMessagesThenClose() {
        let events = OutboxEvents()
        let outbox = events.makeOutbox(limit: 100)
        outbox.enqueue(.text("a"))
        outbox.enqueue(.text("b"))
        outbox.finish(closing: .serverShuttingDown)
        outbox.finish(closing: .slowConsumer)  // ignored: already ended
        #expect(outbox.enqueue(.text("c")) == .closed)
        let batch = outbox.drain()
        #expect(batch.messages == [.text("a"), .text("b")])
        #expect(batch.close == .serverShuttingDown)
        #expect(batch.isLast)
        // One wake-up for the messages, one for the close; the ignored second finish wakes nobody.
        #expect(events.ready == 2)
    }

    @Test func finishWithoutReasonEndsQuietly() {
        let events = OutboxEvents()
        let outbox = events.makeOutbox(limit: 100)
        outbox.finish()
        #expect(outbox.isFinished)
        #expect(events.ready == 1)
        let batch = outbox.drain()
        #expect(batch.isLast)
        #expect(batch.close == nil)
    }

    @Test func repliesMayPassTheLimitAndReportIt() {
        let outbox = Outbox(limit: 10)
        #expect(outbox.reply(.text("0123456789")))
        #expect(outbox.isOverLimit, "the reader should stop reading now")
        // A reply past the limit is queued (the reader is the one that holds back), and does not
        // overflow the outbox the way a broadcast would.
        #expect(outbox.reply(.text("more than ten bytes")))
        #expect(!outbox.isFinished)
        #expect(outbox.drain().messages == [.text("0123456789"), .text("more than ten bytes")])
        #expect(!outbox.isOverLimit)
    }

    /// Issue 11 (bug 6): one message of many commands, each answered at length, used to queue
    /// every reply. Replies may pass the limit only up to the reply limit: a reply that finds that
    /// much queued overflows the outbox, which drops what it holds and closes with its reason.
    @Test func aReplyPastTheReplyLimitOverflows() {
        let outbox = Outbox(limit: 100_000, overflowReason: CloseReason(code: 3008, reason: "slow"))
        #expect(outbox.replyLimit == 100_000 + Outbox.minimumReplyAllowance, "at least 512 KiB of room past the limit")
        let big = OutboundMessage.text(String(repeating: "h", count: 200_000))
        var admitted = 0
        while outbox.reply(big) { admitted += 1 }
        // Admitted while less than the reply limit was queued: the last one passed it.
        #expect(admitted == (outbox.replyLimit + big.byteCount - 1) / big.byteCount)
        #expect(outbox.isFinished)
        let batch = outbox.drain()
        #expect(batch.messages.isEmpty, "what was queued is dropped")
        #expect(batch.close == CloseReason(code: 3008, reason: "slow"))
        #expect(Outbox(limit: 4 << 20).replyLimit == 8 << 20, "twice a large limit")
    }

    @Test func broadcastStillOverflowsAnOutboxFullOfReplies() {
        let outbox = Outbox(limit: 10)
        outbox.reply(.text("0123456789"))
        #expect(outbox.enqueue(.text("x")) == .overflowed)
    }

    @Test func replyToAnEndedOutboxIsDropped() {
        let outbox = Outbox(limit: 10)
        outbox.finish()
        #expect(!outbox.reply(.text("late")))
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
        for message in outbox.drain().messages {
            let parts = String(buffer: message.bytes).split(separator: ":").map { Int($0)! }
            #expect(parts[1] == next[parts[0]], "each producer's messages stay in order")
            next[parts[0]] += 1
        }
        #expect(next == [500, 500, 500, 500])
    }
}
