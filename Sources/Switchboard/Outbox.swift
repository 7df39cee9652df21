import Synchronization

/// A bounded queue of messages for one connection, drained by that connection's writer.
///
/// Producers never wait on a slow client: ``enqueue(_:)`` either queues the message or, when the
/// queued bytes would exceed ``limit``, marks the outbox as overflowed, drops what it holds and
/// ends it with its overflow reason (``CloseReason/slowConsumer``, or the endpoint's own). The
/// connection's own replies use ``reply(_:)``: the connection stops reading its client while
/// ``isOverLimit`` holds, and replies to what it had already read may take the outbox past
/// ``limit``, up to ``replyLimit``; a reply that finds the outbox past that overflows it too. So one
/// connection never makes the server queue more than ``replyLimit`` plus one reply.
///
/// The writer is woken, not polled: when an idle outbox gets a message (or its ending), it calls
/// `onReady` once; the writer then calls ``drain()`` when it can write, which takes everything
/// queued at once so that many messages go out with one flush. Until the writer drains, further
/// messages do not call `onReady` again, with one exception: ending with a close reason always
/// calls it, because a writer that held back (its client not reading) must still take the close.
public final class Outbox: Sendable {
    /// The result of ``enqueue(_:)``.
    public enum EnqueueResult: Sendable, Equatable {
        /// The message is queued.
        case enqueued
        /// The message did not fit; the outbox is now overflowed and ends with ``CloseReason/slowConsumer``.
        case overflowed
        /// The outbox had already ended; the message was not queued.
        case closed
    }

    /// What ``drain()`` takes out of the outbox.
    public struct Batch: Sendable, Equatable {
        /// Messages to write, in order.
        public var messages: [OutboundMessage] = []
        /// Set once, in the batch that empties an outbox ended with a close reason: write these
        /// messages, then close the connection with this reason.
        public var close: CloseReason?
        /// Whether the outbox has ended and this batch holds the last of it.
        public var isLast = false
    }

    private struct State: ~Copyable {
        var queue: [OutboundMessage] = []
        var queuedBytes = 0
        var peakBytes = 0
        var ending: Ending?
        /// `onReady` was called and the writer has not drained since.
        var wakePending = false
        /// ``hold()`` was called: drains take nothing until ``release(first:)``.
        var held = false
    }

    private enum Ending {
        /// Finished without a close frame of our own (the peer closed or is gone).
        case finished
        /// Close with this reason once what is queued has been written.
        case close(CloseReason)
        /// The ending was handed to the writer.
        case delivered
    }

    /// The most bytes that may be queued at once for broadcasts; past it the connection stops reading.
    public let limit: Int
    /// The most bytes a connection's own replies may find queued: ``limit`` plus
    /// `max(limit, minimumReplyAllowance)`, room for the replies to what the server read from the
    /// client before it stopped reading (up to a few socket reads of messages).
    public let replyLimit: Int
    /// The least room past ``limit`` that replies get.
    public static let minimumReplyAllowance = 512 * 1024
    /// The close reason when a broadcast overflows the outbox.
    public let overflowReason: CloseReason
    private let state: Mutex<State>
    private let onReady: @Sendable () -> Void

    /// Create an outbox.
    ///
    /// - Parameters:
    ///   - limit: The most bytes of payload that may be queued at once.
    ///   - overflowReason: How the connection is closed when a broadcast does not fit.
    ///   - onReady: Called, outside the outbox's lock, when the outbox has something for the writer
    ///     and the writer has drained since the last call, and whenever the outbox ends with a close
    ///     reason. It must not block and must not call back into whatever is enqueueing: schedule the
    ///     drain.
    public init(limit: Int, overflowReason: CloseReason = .slowConsumer, onReady: @escaping @Sendable () -> Void = {}) {
        precondition(limit > 0, "outbox limit must be positive")
        self.limit = limit
        self.replyLimit = limit + max(limit, Self.minimumReplyAllowance)
        self.overflowReason = overflowReason
        self.state = Mutex(State())
        self.onReady = onReady
    }

    /// Bytes queued now.
    public var queuedBytes: Int { self.state.withLock { $0.queuedBytes } }

    /// The most bytes that were ever queued at once.
    public var peakBytes: Int { self.state.withLock { $0.peakBytes } }

    /// Whether the outbox has ended, so it accepts nothing more.
    public var isFinished: Bool { self.state.withLock { $0.ending != nil } }

    /// Whether the outbox holds a close that the writer has not taken yet. The writer takes it even
    /// when the client is not reading: the close frame is small and it is the last thing sent.
    public var hasPendingClose: Bool {
        self.state.withLock { state in
            if case .close = state.ending { return true }
            return false
        }
    }

    /// Queue a message without waiting. Used for broadcasts: it never blocks on the client.
    @discardableResult
    public func enqueue(_ message: OutboundMessage) -> EnqueueResult {
        let action = self.state.withLock { self.insert(message, into: &$0, admitOverLimit: false) }
        return self.complete(action)
    }

    /// Queue a reply of the connection to its own client. The connection's reader stops reading
    /// while ``isOverLimit`` holds, so a client that sends without reading slows down only itself;
    /// the replies to what was read before that may pass ``limit``. A reply that finds ``replyLimit``
    /// or more bytes queued (a client whose messages ask for far more than they weigh, and that does
    /// not read) overflows the outbox as ``enqueue(_:)`` does: everything queued is dropped and the
    /// connection is closed with the overflow reason.
    ///
    /// - Returns: `false` if the outbox has ended (now or before) and the message was dropped.
    @discardableResult
    public func reply(_ message: OutboundMessage) -> Bool {
        let action = self.state.withLock { self.insert(message, into: &$0, admitOverLimit: true) }
        return self.complete(action) == .enqueued
    }

    /// Whether the outbox holds at least ``limit`` bytes: the connection should stop reading its
    /// client until the writer has drained.
    public var isOverLimit: Bool { self.state.withLock { $0.queuedBytes >= self.limit } }

    /// Take everything queued, with the ending once the queue is empty. Called by the writer after
    /// `onReady`; calling it on an empty outbox returns an empty batch.
    public func drain() -> Batch {
        self.state.withLock { state in
            state.wakePending = false
            var batch = Batch()
            if state.held, state.ending == nil { return batch }
            swap(&batch.messages, &state.queue)  // hand the queue over without copying it
            state.queuedBytes = 0
            switch state.ending {
            case .none:
                break
            case .finished:
                state.ending = .delivered
                batch.isLast = true
            case .close(let reason):
                state.ending = .delivered
                batch.close = reason
                batch.isLast = true
            case .delivered:
                batch.isLast = true
            }
            return batch
        }
    }

    /// Hold back what is queued from the writer until ``release(first:)``, to put a message in
    /// front of messages queued meanwhile (a connect reply in front of the publications of the
    /// channels the connect subscribed to). Ending the outbox releases it.
    public func hold() {
        self.state.withLock { $0.held = true }
    }

    /// Put `message` at the head of the queue and let the writer take everything.
    public func release(first message: OutboundMessage) {
        let wake: Bool = self.state.withLock { state in
            state.held = false
            guard state.ending == nil else { return false }
            state.queue.insert(message, at: 0)
            state.queuedBytes += message.byteCount
            state.peakBytes = max(state.peakBytes, state.queuedBytes)
            return Self.requestWake(&state)
        }
        if wake { self.onReady() }
    }

    /// End the outbox. Messages already queued are still delivered; the batch that empties the
    /// outbox then carries `reason` (if any) and is the last. Enqueues after this are refused.
    /// Calling it on an outbox that has already ended does nothing.
    public func finish(closing reason: CloseReason? = nil) {
        let wake: Bool = self.state.withLock { state in
            guard state.ending == nil else { return false }
            state.ending = reason.map { .close($0) } ?? .finished
            return reason != nil ? Self.forceWake(&state) : Self.requestWake(&state)
        }
        if wake { self.onReady() }
    }

    private enum EnqueueAction {
        case queued(wake: Bool)
        case overflowed
        case closed
    }

    /// Ask for the writer unless a wake-up is already pending.
    private static func requestWake(_ state: inout State) -> Bool {
        if state.wakePending { return false }
        state.wakePending = true
        return true
    }

    /// Ask for the writer even if a wake-up is pending: the outbox now holds a close, which the
    /// writer takes whether or not its client reads.
    private static func forceWake(_ state: inout State) -> Bool {
        state.wakePending = true
        return true
    }

    /// Queue a message under the lock, or overflow the outbox if it does not fit.
    private func insert(_ message: OutboundMessage, into state: inout State, admitOverLimit: Bool) -> EnqueueAction {
        guard state.ending == nil else { return .closed }
        let fits = admitOverLimit ? state.queuedBytes < self.replyLimit : state.queuedBytes + message.byteCount <= self.limit
        guard fits else {
            state.queue.removeAll()
            state.queuedBytes = 0
            state.ending = .close(self.overflowReason)
            _ = Self.forceWake(&state)
            return .overflowed
        }
        state.queue.append(message)
        state.queuedBytes += message.byteCount
        state.peakBytes = max(state.peakBytes, state.queuedBytes)
        return .queued(wake: Self.requestWake(&state))
    }

    /// Wake whoever the insertion concerns, outside the lock.
    private func complete(_ action: EnqueueAction) -> EnqueueResult {
        switch action {
        case .queued(let wake):
            if wake { self.onReady() }
            return .enqueued
        case .overflowed:
            self.onReady()
            return .overflowed
        case .closed:
            return .closed
        }
    }
}
