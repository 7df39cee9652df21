import Logging
import NIOCore
import Switchboard
import Synchronization

/// A node's pub/sub connection to one shard, kept up and checked.
///
/// It subscribes to the pub/sub channel of every channel that has subscribers on this node
/// (``ensure(_:)`` before a subscriber reads the channel's position, ``release(_:stillWanted:)`` when
/// the last one left), in the order asked. When the connection is lost it reconnects with backoff,
/// subscribes to all of them again and reports ``Event/connected`` so that the engine catches up
/// from the streams. Every probe interval it publishes a probe through the command connection and
/// expects it back here; a connection that stays open but no longer delivers (after a failover, say)
/// is closed and replaced.
final class RedisSubscriber: Sendable {
    enum Event: Sendable {
        /// Subscribed to every wanted channel (first, and again after each reconnection).
        case connected
        /// A message of a subscribed channel (on the connection's event loop).
        case message(channel: ByteBuffer, payload: ByteBuffer)
    }

    struct State {
        var connection: RedisPubSubConnection?
        /// The pub/sub channels wanted, and whether Redis confirmed each one on this connection.
        var wanted: Set<String> = []
        var status: EngineStatus
    }

    let url: RedisURL
    let client: RedisClient
    let probeChannel: String
    let probeInterval: Duration
    let timeout: Duration
    let logger: Logger
    let handle: @Sendable (Event) -> Void
    let state: Mutex<State>
    /// The last probe sent, and the last heard back (in order, so heard ≥ sent means it came).
    let probeSent = Atomic<UInt64>(0)
    let probeHeard = Atomic<UInt64>(0)

    init(
        url: RedisURL,
        client: RedisClient,
        probeChannel: String,
        probeInterval: Duration,
        timeout: Duration,
        logger: Logger,
        handle: @escaping @Sendable (Event) -> Void
    ) {
        self.url = url
        self.client = client
        self.probeChannel = probeChannel
        self.probeInterval = probeInterval
        self.timeout = timeout
        self.logger = logger
        self.handle = handle
        self.state = Mutex(State(status: .unavailable("not subscribed to Redis at \(url) yet")))
    }

    var status: EngineStatus { self.state.withLock { $0.status } }

    /// Subscribe to a pub/sub channel (if not already), returning once Redis confirmed it.
    ///
    /// - Throws: ``RedisError`` while the connection is down, or when Redis refuses.
    func ensure(_ name: String) async throws(RedisError) {
        let request = self.state.withLock { state -> Result<EventLoopFuture<Void>?, RedisError> in
            guard let connection = state.connection, case .ready = state.status else {
                if case .unavailable(let reason) = state.status { return .failure(RedisError("Redis is unavailable: \(reason)")) }
                return .failure(RedisError("Redis is unavailable"))
            }
            // Sent under the lock, so that a release sent after it also reaches Redis after it.
            let (inserted, _) = state.wanted.insert(name)
            return .success(inserted ? connection.request("SUBSCRIBE", [name], timeout: self.timeout) : nil)
        }
        // A channel already wanted may have its SUBSCRIBE in flight: a PING after it proves it done.
        let future: EventLoopFuture<Void>
        switch request {
        case .failure(let error): throw error
        case .success(let request?): future = request
        case .success(nil):
            guard let connection = self.state.withLock({ $0.connection }) else { throw RedisError("Redis is unavailable") }
            future = connection.connection.request(expectingReplies: 1, [RESPCommand("PING")], timeout: self.timeout).map { _ in }
        }
        do {
            try await future.get()
        } catch {
            self.state.withLock { _ = $0.wanted.remove(name) }
            throw error as? RedisError ?? RedisError("\(error)")
        }
    }

    /// Unsubscribe from a pub/sub channel unless `stillWanted()` (checked in order with
    /// ``ensure(_:)``, so that a subscriber arriving meanwhile keeps it).
    func release(_ name: String, stillWanted: () -> Bool) {
        self.state.withLock { state in
            guard state.wanted.contains(name), !stillWanted() else { return }
            state.wanted.remove(name)
            if let connection = state.connection {
                // Redis answers later; a failure means the connection is gone, and with it the subscription.
                _ = connection.request("UNSUBSCRIBE", [name], timeout: self.timeout)
            }
        }
    }

    /// Keep the connection until cancelled.
    func run() async {
        let backoff = ReconnectBackoff()
        var failures = 0
        while !Task.isCancelled {
            do throws(RedisError) {
                let connection = try await RedisPubSubConnection.connect(to: self.url, timeout: self.timeout) { message in
                    if message.channel.readableBytesView.elementsEqual(self.probeChannel.utf8) {
                        if let nonce = UInt64(String(buffer: message.payload)) { self.probeHeard.store(nonce, ordering: .relaxed) }
                        return
                    }
                    self.handle(.message(channel: message.channel, payload: message.payload))
                }
                // Everything wanted, subscribed again in one command; what is asked meanwhile follows it.
                let subscribed = self.state.withLock { state -> EventLoopFuture<Void> in
                    state.connection = connection
                    return connection.request("SUBSCRIBE", [self.probeChannel] + state.wanted, timeout: self.timeout)
                }
                do {
                    try await subscribed.get()
                } catch {
                    connection.close()
                    throw error as? RedisError ?? RedisError("\(error)")
                }
                self.state.withLock { $0.status = .ready }
                self.logger.info("Subscribed to Redis", metadata: ["redis": "\(self.url)"])
                failures = 0
                self.handle(.connected)
                await withTaskCancellationHandler {
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask { try? await connection.closeFuture.get() }
                        group.addTask { await self.probe(connection) }
                        await group.next()
                        connection.close()
                        group.cancelAll()
                    }
                } onCancel: {
                    connection.close()
                }
                if Task.isCancelled { break }
                self.state.withLock { state in
                    state.connection = nil
                    if case .ready = state.status { state.status = .unavailable("lost the pub/sub connection to Redis at \(self.url)") }
                }
                self.logger.warning("Lost the pub/sub connection to Redis; reconnecting", metadata: ["redis": "\(self.url)"])
            } catch {
                self.state.withLock { state in
                    state.connection = nil
                    state.status = .unavailable("cannot subscribe to Redis at \(self.url): \(error.message)")
                }
                self.logger.warning("Cannot subscribe to Redis", metadata: ["redis": "\(self.url)", "error": "\(error.message)"])
                failures += 1
                try? await Task.sleep(for: backoff.delay(afterFailures: failures))
            }
        }
        self.state.withLock { state in
            state.connection?.close()
            state.connection = nil
            state.status = .unavailable("shut down")
        }
    }

    /// Publish a probe every interval and expect it back within the timeout; return (to have the
    /// connection replaced) when it does not come.
    private func probe(_ connection: RedisPubSubConnection) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: self.probeInterval)
            if Task.isCancelled || !connection.isActive { return }
            let nonce = self.probeSent.add(1, ordering: .relaxed).newValue
            do throws(RedisError) {
                try await self.client.send(RESPCommand("PUBLISH", self.probeChannel, String(nonce)), timeout: self.timeout)
            } catch {
                // The command connection is down: the client says so, and this connection may be fine.
                continue
            }
            let deadline = ContinuousClock.now + self.timeout
            while self.probeHeard.load(ordering: .relaxed) < nonce, ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(5))
            }
            if Task.isCancelled { return }
            if self.probeHeard.load(ordering: .relaxed) < nonce {
                let reason = "the pub/sub connection to Redis at \(self.url) stopped delivering (a probe did not come back within \(self.timeout))"
                self.state.withLock { $0.status = .unavailable(reason) }
                self.logger.error("Replacing a pub/sub connection that stopped delivering", metadata: ["redis": "\(self.url)"])
                return
            }
        }
    }
}
