public import NIOCore
import NIOPosix
import NIOSSL

/// A connection in Redis's subscribed mode: it receives the messages of the channels (and patterns)
/// it subscribed to, each handed to `onMessage` on the connection's event loop as it is read (no
/// task per message); `SUBSCRIBE`, `UNSUBSCRIBE` and `PING` (a probe that the connection still
/// delivers) wait for Redis's confirmation.
public final class RedisPubSubConnection: Sendable {
    /// A message of a subscribed channel.
    public struct Message: Sendable {
        /// The channel it was published to.
        public var channel: ByteBuffer
        /// The pattern that matched, for `PSUBSCRIBE`.
        public var pattern: ByteBuffer?
        public var payload: ByteBuffer
    }

    let connection: RedisConnection

    init(connection: RedisConnection) {
        self.connection = connection
    }

    /// Connect and log in as ``RedisConnection/connect(to:on:timeout:parserLimits:)`` does;
    /// `onMessage` runs on the connection's event loop for every message.
    public static func connect(
        to url: RedisURL,
        on eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: Duration = .seconds(5),
        onMessage: @escaping @Sendable (Message) -> Void
    ) async throws(RedisError) -> RedisPubSubConnection {
        let connection = try await RedisConnection.connect(to: url, on: eventLoopGroup, timeout: timeout)
        // From here on, messages come between replies: the handler takes them out of the stream.
        do {
            try await connection.channel.eventLoop.submit {
                let handler = try connection.channel.pipeline.syncOperations.handler(type: RedisCommandHandler.self)
                handler.takeMessages = { value in
                    guard let message = Self.message(value) else { return false }
                    onMessage(message)
                    return true
                }
            }.get()
        } catch {
            connection.close()
            throw RedisError("cannot set up the subscriber connection: \(error)")
        }
        return RedisPubSubConnection(connection: connection)
    }

    /// `message` and `pmessage` pushes (RESP2 arrays or RESP3 pushes); `nil` for anything else.
    static func message(_ value: RESPValue) -> Message? {
        guard let parts = value.array, let kind = parts.first?.string else { return nil }
        switch kind {
        case "message" where parts.count == 3:
            guard let channel = parts[1].bytes, let payload = parts[2].bytes else { return nil }
            return Message(channel: channel, pattern: nil, payload: payload)
        case "pmessage" where parts.count == 4:
            guard let pattern = parts[1].bytes, let channel = parts[2].bytes, let payload = parts[3].bytes else { return nil }
            return Message(channel: channel, pattern: pattern, payload: payload)
        default:
            return nil
        }
    }

    /// Subscribe to channels; returns once Redis confirmed each one.
    public func subscribe(_ channels: [String], timeout: Duration = .seconds(5)) async throws(RedisError) {
        try await self.confirm("SUBSCRIBE", channels, timeout: timeout)
    }

    /// Subscribe to patterns (`PSUBSCRIBE`).
    public func subscribe(patterns: [String], timeout: Duration = .seconds(5)) async throws(RedisError) {
        try await self.confirm("PSUBSCRIBE", patterns, timeout: timeout)
    }

    /// Unsubscribe from channels.
    public func unsubscribe(_ channels: [String], timeout: Duration = .seconds(5)) async throws(RedisError) {
        try await self.confirm("UNSUBSCRIBE", channels, timeout: timeout)
    }

    /// A round trip through the subscribed connection: proof that it still delivers what Redis
    /// sends it (a connection can stay open and silent after a failover).
    public func ping(timeout: Duration = .seconds(5)) async throws(RedisError) {
        let reply = try await self.connection.send([RESPCommand("PING")], timeout: timeout)
        guard reply.first?.array?.first?.string == "pong" || reply.first == .simpleString("PONG") else {
            throw RedisError("unexpected reply to PING in subscribed mode: \(String(describing: reply.first))")
        }
    }

    /// Redis confirms a (un)subscribe of N channels with N replies, one per channel.
    private func confirm(_ command: String, _ names: [String], timeout: Duration) async throws(RedisError) {
        do {
            try await self.request(command, names, timeout: timeout).get()
        } catch {
            throw error as? RedisError ?? RedisError("\(error)")
        }
    }

    /// Send `SUBSCRIBE` (or `UNSUBSCRIBE`, `PSUBSCRIBE`) now, so that requests made one after another
    /// reach Redis in that order; the future completes once Redis confirmed every name, or fails
    /// with a ``RedisError``.
    public func request(_ command: String, _ names: [String], timeout: Duration = .seconds(5)) -> EventLoopFuture<Void> {
        guard !names.isEmpty else { return self.connection.channel.eventLoop.makeSucceededVoidFuture() }
        return self.connection.request(
            expectingReplies: names.count,
            [RESPCommand([ByteBuffer(string: command)] + names.map { ByteBuffer(string: $0) })],
            timeout: timeout
        ).flatMapThrowing { replies in
            for reply in replies {
                if case .error(let error) = reply { throw error }
                guard reply.array?.first?.string?.lowercased() == command.lowercased() else {
                    throw RedisError("unexpected reply to \(command): \(reply)")
                }
            }
        }
    }

    public var isActive: Bool { self.connection.isActive }
    public var closeFuture: EventLoopFuture<Void> { self.connection.closeFuture }
    public func close() { self.connection.close() }
}
