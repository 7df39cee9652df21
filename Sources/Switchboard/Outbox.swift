import DequeModule
import Synchronization

/// A bounded queue of messages for one connection, drained by that connection's own writer.
///
/// Producers never wait on a slow client: ``enqueue(_:)`` either queues the message or, when the
/// queued bytes would exceed ``limit``, marks the outbox as overflowed, drops what it holds and
/// ends it with ``CloseReason/slowConsumer``. The connection's own replies use ``send(_:)``
/// instead, which waits for room, so a client that sends without reading slows down only itself.
///
/// There is exactly one consumer, which calls ``next()`` in a loop until it returns `nil`.
public final class Outbox: Sendable {
    /// What the consumer gets from ``next()``.
    public enum Item: Sendable, Equatable {
        /// A message to write.
        case message(OutboundMessage)
        /// The last item: close the connection with this code and reason.
        case close(CloseReason)
    }

    /// The result of ``enqueue(_:)``.
    public enum EnqueueResult: Sendable, Equatable {
        /// The message is queued.
        case enqueued
        /// The message did not fit; the outbox is now overflowed and ends with ``CloseReason/slowConsumer``.
        case overflowed
        /// The outbox had already ended; the message was not queued.
        case closed
    }

    private struct State: ~Copyable {
        var queue: Deque<OutboundMessage> = []
        var queuedBytes = 0
        var peakBytes = 0
        /// Set once the outbox ends; `nil` reason means "finish without a close frame of our own".
        var ending: Ending?
        var consumer: CheckedContinuation<Item?, Never>?
        var producer: CheckedContinuation<Bool, Never>?
        var producerBytes = 0
    }

    private enum Ending {
        case finished
        case close(CloseReason, delivered: Bool)
    }

    /// The most bytes that may be queued at once.
    public let limit: Int
    private let state: Mutex<State>
    private let onClosing: @Sendable (CloseReason) -> Void

    /// Create an outbox.
    ///
    /// - Parameters:
    ///   - limit: The most bytes of payload that may be queued at once.
    ///   - onClosing: Called once, outside the outbox's lock, when the outbox ends with a close reason:
    ///     on overflow or on ``finish(closing:)``. The writer may be stuck in a write to a client that
    ///     does not read, so this is where the connection arranges to be closed regardless, after a
    ///     grace period. It must not block and must not call back into whatever is enqueueing.
    public init(limit: Int, onClosing: @escaping @Sendable (CloseReason) -> Void = { _ in }) {
        precondition(limit > 0, "outbox limit must be positive")
        self.limit = limit
        self.state = Mutex(State())
        self.onClosing = onClosing
    }

    /// Whether the outbox has ended, so it accepts nothing more.
    public var isFinished: Bool { self.state.withLock { $0.ending != nil } }

    /// Bytes queued now.
    public var queuedBytes: Int { self.state.withLock { $0.queuedBytes } }

    /// The most bytes that were ever queued at once.
    public var peakBytes: Int { self.state.withLock { $0.peakBytes } }

    /// Queue a message without waiting. Used for broadcasts: it never blocks on the client.
    @discardableResult
    public func enqueue(_ message: OutboundMessage) -> EnqueueResult {
        let action = self.state.withLock { self.insert(message, into: &$0, admitIntoEmpty: false) }
        return self.complete(action, message: message)
    }

    /// Queue a message, waiting while the outbox is full.
    ///
    /// A message is admitted when it fits under ``limit``, or when the outbox is empty (so one message
    /// larger than the limit still goes through). Only one task may wait in `send` at a time: the
    /// connection's own reader.
    ///
    /// - Returns: `false` if the outbox ended (closed, overflowed or cancelled) and the message was dropped.
    public func send(_ message: OutboundMessage) async -> Bool {
        while true {
            let action: EnqueueAction? = self.state.withLock { state in
                guard state.ending == nil else { return .closed }
                guard Self.fits(message, in: state, limit: self.limit) else { return nil }
                return self.insert(message, into: &state, admitIntoEmpty: true)
            }
            if let action { return self.complete(action, message: message) == .enqueued }
            let proceed = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                    let resumeNow: Bool? = self.state.withLock { state in
                        if state.ending != nil || Task.isCancelled { return false }
                        if Self.fits(message, in: state, limit: self.limit) { return true }
                        precondition(state.producer == nil, "only one task may wait in Outbox.send")
                        state.producer = continuation
                        state.producerBytes = message.byteCount
                        return nil
                    }
                    if let resumeNow { continuation.resume(returning: resumeNow) }
                }
            } onCancel: {
                self.state.withLock { $0.producer.take() }?.resume(returning: false)
            }
            if !proceed { return false }
        }
    }

    /// Whether ``send(_:)`` may queue a message of this size now.
    private static func fits(_ message: OutboundMessage, in state: borrowing State, limit: Int) -> Bool {
        state.queuedBytes == 0 || state.queuedBytes + message.byteCount <= limit
    }

    /// Queue a message under the lock, or overflow the outbox if it does not fit.
    private func insert(_ message: OutboundMessage, into state: inout State, admitIntoEmpty: Bool) -> EnqueueAction {
        guard state.ending == nil else { return .closed }
        let fits = state.queuedBytes + message.byteCount <= self.limit || (admitIntoEmpty && state.queuedBytes == 0)
        guard fits else {
            state.queue.removeAll()
            state.queuedBytes = 0
            state.ending = .close(.slowConsumer, delivered: false)
            return .overflowed(Self.takeWaiters(&state))
        }
        state.peakBytes = max(state.peakBytes, state.queuedBytes + message.byteCount)
        // A waiting consumer means the queue is empty: hand the message over directly.
        if let consumer = state.consumer.take() { return .handOff(consumer) }
        state.queue.append(message)
        state.queuedBytes += message.byteCount
        return .queued
    }

    /// Resume whoever the insertion woke, outside the lock.
    private func complete(_ action: EnqueueAction, message: OutboundMessage) -> EnqueueResult {
        switch action {
        case .queued:
            return .enqueued
        case .handOff(let consumer):
            consumer.resume(returning: .message(message))
            return .enqueued
        case .overflowed(let waiters):
            waiters.resume()
            self.onClosing(.slowConsumer)
            return .overflowed
        case .closed:
            return .closed
        }
    }

    /// The next item for the writer, waiting until there is one. `nil` once the outbox has ended
    /// (after a ``Item/close(_:)`` item, if the ending carries one) or when the task is cancelled.
    public func next() async -> Item? {
        if let ready = self.state.withLock({ Self.takeReady(&$0) }) {
            self.resumeProducerIfRoom()
            return ready.item
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Item?, Never>) in
                let ready: Ready? = self.state.withLock { state in
                    if let ready = Self.takeReady(&state) { return ready }
                    if Task.isCancelled { return Ready(item: nil) }
                    state.consumer = continuation
                    return nil
                }
                if let ready {
                    continuation.resume(returning: ready.item)
                    self.resumeProducerIfRoom()
                }
            }
        } onCancel: {
            self.state.withLock { $0.consumer.take() }?.resume(returning: nil)
        }
    }

    /// End the outbox. Messages already queued are still delivered; then ``next()`` returns
    /// `.close(reason)` if a reason is given, and `nil` after that. Enqueues after this are refused.
    /// Calling it on an outbox that has already ended does nothing.
    public func finish(closing reason: CloseReason? = nil) {
        let waiters: Waiters? = self.state.withLock { state in
            guard state.ending == nil else { return nil }
            state.ending = reason.map { .close($0, delivered: false) } ?? .finished
            return Self.takeWaiters(&state)
        }
        guard let waiters else { return }
        waiters.resume()
        if let reason { self.onClosing(reason) }
    }

    private enum EnqueueAction {
        case queued
        case handOff(CheckedContinuation<Item?, Never>)
        case overflowed(Waiters)
        case closed
    }

    /// The suspended consumer and producer to wake once the outbox has ended, with what the consumer gets.
    private struct Waiters {
        var consumer: CheckedContinuation<Item?, Never>?
        var consumerItem: Item?
        var producer: CheckedContinuation<Bool, Never>?

        func resume() {
            self.consumer?.resume(returning: self.consumerItem)
            self.producer?.resume(returning: false)
        }
    }

    /// Take the waiters of an outbox that has just ended. A waiting consumer means the queue is
    /// empty, so it gets the ending right away.
    private static func takeWaiters(_ state: inout State) -> Waiters {
        var waiters = Waiters(producer: state.producer.take())
        if let consumer = state.consumer.take() {
            waiters.consumer = consumer
            waiters.consumerItem = Self.takeReady(&state)?.item
        }
        return waiters
    }

    private struct Ready {
        let item: Item?
    }

    /// Take the next item if one is ready without waiting: a queued message, or the ending.
    private static func takeReady(_ state: inout State) -> Ready? {
        if let message = state.queue.popFirst() {
            state.queuedBytes -= message.byteCount
            return Ready(item: .message(message))
        }
        switch state.ending {
        case .none:
            return nil
        case .finished:
            return Ready(item: nil)
        case .close(let reason, let delivered):
            if delivered { return Ready(item: nil) }
            state.ending = .close(reason, delivered: true)
            return Ready(item: .close(reason))
        }
    }

    private func resumeProducerIfRoom() {
        let producer = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard state.producer != nil else { return nil }
            guard state.queuedBytes == 0 || state.queuedBytes + state.producerBytes <= self.limit else { return nil }
            return state.producer.take()
        }
        producer?.resume(returning: true)
    }
}
