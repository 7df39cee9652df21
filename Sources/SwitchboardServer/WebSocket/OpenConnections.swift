import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Every upgraded WebSocket connection of a server (served or refused) until it has closed, kept
/// per event loop, with their heartbeat: one repeating timer per event loop, which ticks each
/// connection on that loop.
///
/// A connection costs one array slot here. Before, it cost a timer of its own (NIO's
/// `RepeatedTask`: about 600 bytes of heap per idle connection, measured with heaptrack) and an
/// entry in a locked dictionary of channels with a close-future callback (about 190 bytes).
///
/// A connection's first tick comes within one interval of its opening rather than exactly one
/// interval after it, so a silent peer is still closed after between two and three intervals of
/// silence.
///
/// Shutdown needs the list: a WebSocket connection outlives the HTTP server's own bookkeeping. Once
/// upgraded, its pipeline runs without a task that the server waits for, so the server can return
/// from `run()` while a connection is still waiting out its close timeout (a refused request whose
/// client never answered the close, a connection accepted just as shutdown began). The caller then
/// shuts the event loop group down; closing such a channel there makes NIO's quiescing helper hop
/// to the server channel's event loop, which may already be gone ("Cannot schedule tasks on an
/// EventLoop that has already shut down"). So shutdown closes whatever is left (``closeAll(timeout:)``)
/// and waits (bounded) until it has closed.
final class OpenConnections: Sendable {
    /// Time between heartbeat ticks, or `nil` for no heartbeat.
    let heartbeatInterval: Duration?
    private let loops = NIOLockedValueBox<[ObjectIdentifier: LoopConnections]>([:])
    /// Connections added and not yet closed, on every loop.
    fileprivate let open = Atomic<Int>(0)

    init(heartbeatInterval: Duration?) {
        self.heartbeatInterval = heartbeatInterval
    }

    /// The connections of `loop` (made on first use).
    func on(_ loop: any EventLoop) -> LoopConnections {
        self.loops.withLockedValue { loops in
            if let made = loops[ObjectIdentifier(loop)] { return made }
            let made = LoopConnections(loop: loop, owner: self)
            loops[ObjectIdentifier(loop)] = made
            return made
        }
    }

    /// Connections open now.
    var count: Int { self.open.load(ordering: .relaxed) }

    /// Close every connection's channel now (without a close frame of its own: call after the
    /// connections were asked to close), and wait until they have closed or `timeout` has passed.
    ///
    /// - Returns: `true` if none is left.
    @discardableResult
    func closeAll(timeout: Duration) async -> Bool {
        for loop in self.loops.withLockedValue({ Array($0.values) }) { loop.closeAll() }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while self.count > 0 {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}

/// The connections of one event loop and their shared heartbeat timer, which runs while there are
/// any. Touched on that loop only.
final class LoopConnections: @unchecked Sendable {
    private let loop: any EventLoop
    private let owner: OpenConnections
    private var members: [WebSocketConnectionHandler] = []
    private var timer: RepeatedTask?

    fileprivate init(loop: any EventLoop, owner: OpenConnections) {
        self.loop = loop
        self.owner = owner
    }

    /// Track (and tick, with a heartbeat) `handler` from now on. Call on the loop, once per handler.
    func add(_ handler: WebSocketConnectionHandler) {
        self.loop.assertInEventLoop()
        self.owner.open.add(1, ordering: .relaxed)
        handler.loopSlot = self.members.count
        self.members.append(handler)
        if self.timer == nil, let interval = self.owner.heartbeatInterval {
            let delay = TimeAmount(interval)
            self.timer = self.loop.scheduleRepeatedTask(initialDelay: delay, delay: delay) { _ in self.tick() }
        }
    }

    /// Stop ticking `handler`: its connection is closing. Call on the loop; removing a handler twice
    /// does nothing.
    func remove(_ handler: WebSocketConnectionHandler) {
        self.loop.assertInEventLoop()
        let slot = handler.loopSlot
        guard slot >= 0, slot < self.members.count, self.members[slot] === handler else { return }
        handler.loopSlot = -1
        let last = self.members.removeLast()
        if slot < self.members.count {
            self.members[slot] = last
            last.loopSlot = slot
        }
        if self.members.isEmpty {
            self.timer?.cancel()
            self.timer = nil
        }
    }

    /// A handler added here was removed from its closed channel. Counted one task later: by then the
    /// channel's close future has run its callbacks (NIO completes it right after removing the
    /// handlers), so a shutdown waiting for ``OpenConnections/count`` leaves nothing behind that
    /// still needs a running event loop.
    func closed() {
        self.loop.execute { self.owner.open.subtract(1, ordering: .relaxed) }
    }

    /// Close every channel here. Call from anywhere.
    fileprivate func closeAll() {
        self.loop.execute {
            for handler in self.members { handler.closeChannel() }
        }
    }

    private func tick() {
        // A copy: a beat may close its connection, which removes it from `members`.
        for handler in self.members { handler.beat() }
    }
}
