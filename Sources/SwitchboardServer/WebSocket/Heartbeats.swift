import NIOConcurrencyHelpers
import NIOCore

/// The heartbeat of every WebSocket connection: one repeating timer per event loop, which ticks each
/// connection on that loop, instead of a timer per connection.
///
/// A timer per connection (NIO's `RepeatedTask`) cost every idle connection about 600 bytes of heap
/// (measured with heaptrack); here a connection costs one array slot. A connection's first tick comes
/// within one interval of its opening rather than exactly one interval after it, so a silent peer is
/// still closed after between two and three intervals of silence.
final class Heartbeats: Sendable {
    let interval: Duration
    private let loops = NIOLockedValueBox<[ObjectIdentifier: LoopHeartbeat]>([:])

    init(interval: Duration) {
        self.interval = interval
    }

    /// The heartbeat of `loop` (made on first use).
    func heartbeat(on loop: any EventLoop) -> LoopHeartbeat {
        self.loops.withLockedValue { loops in
            if let heartbeat = loops[ObjectIdentifier(loop)] { return heartbeat }
            let heartbeat = LoopHeartbeat(loop: loop, interval: self.interval)
            loops[ObjectIdentifier(loop)] = heartbeat
            return heartbeat
        }
    }
}

/// The connections of one event loop and their shared timer, which runs while there are any.
/// Touched on that loop only.
final class LoopHeartbeat: @unchecked Sendable {
    private let loop: any EventLoop
    private let interval: Duration
    private var members: [WebSocketConnectionHandler] = []
    private var timer: RepeatedTask?

    fileprivate init(loop: any EventLoop, interval: Duration) {
        self.loop = loop
        self.interval = interval
    }

    /// Tick `handler` from now on. Call on the loop.
    func add(_ handler: WebSocketConnectionHandler) {
        self.loop.assertInEventLoop()
        handler.heartbeatSlot = self.members.count
        self.members.append(handler)
        if self.timer == nil {
            let delay = TimeAmount(self.interval)
            self.timer = self.loop.scheduleRepeatedTask(initialDelay: delay, delay: delay) { _ in self.tick() }
        }
    }

    /// Stop ticking `handler`. Call on the loop; removing a handler twice does nothing.
    func remove(_ handler: WebSocketConnectionHandler) {
        self.loop.assertInEventLoop()
        let slot = handler.heartbeatSlot
        guard slot >= 0, slot < self.members.count, self.members[slot] === handler else { return }
        handler.heartbeatSlot = -1
        let last = self.members.removeLast()
        if slot < self.members.count {
            self.members[slot] = last
            last.heartbeatSlot = slot
        }
        if self.members.isEmpty {
            self.timer?.cancel()
            self.timer = nil
        }
    }

    private func tick() {
        // A copy: a beat may close its connection, which removes it from `members`.
        for handler in self.members { handler.beat() }
    }
}
