import NIOConcurrencyHelpers
import NIOCore

/// Every upgraded WebSocket channel (served or refused) until it has closed.
///
/// A WebSocket connection outlives the HTTP server's own bookkeeping: once upgraded, its pipeline runs
/// without a task that the server waits for, so the server can return from `run()` while a connection
/// is still waiting out its close timeout (a refused request whose client never answered the close,
/// a connection accepted just as shutdown began). The caller then shuts the event loop group down;
/// closing such a channel there makes NIO's quiescing helper hop to the server channel's event loop,
/// which may already be gone ("Cannot schedule tasks on an EventLoop that has already shut down").
/// So shutdown closes whatever is left here and waits (bounded) until it has closed.
final class OpenChannels: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    /// Track `channel` until it closes.
    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        self.channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in
            self.channels.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
    }

    /// Channels open now.
    var count: Int { self.channels.withLockedValue { $0.count } }

    /// Close every channel now (without a close frame of its own: call after the connections were
    /// asked to close), and wait until they have closed or `timeout` has passed.
    ///
    /// - Returns: `true` if none is left.
    @discardableResult
    func closeAll(timeout: Duration) async -> Bool {
        for channel in self.channels.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while self.count > 0 {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}
