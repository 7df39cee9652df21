public import Logging
public import NIOCore
import NIOPosix
import Switchboard
import Synchronization

/// A command connection to one Redis that stays up: ``run()`` connects, and when the connection
/// is lost reconnects with exponential backoff and jitter, until cancelled. While it is down,
/// ``send(_:timeout:)`` fails at once with the reason (never a command queued for a server that may
/// not come back), and ``status`` says why, for `/health`.
public final class RedisClient: Sendable {
    public struct Settings: Sendable {
        /// Connecting, and each command, may take this long.
        public var timeout: Duration = .seconds(5)
        /// The first pause before reconnecting; it doubles up to ``maximumBackoff``, with jitter.
        public var minimumBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(5)

        public init() {}
    }

    /// Whether the client can send now.
    public enum Status: Sendable, Equatable {
        case connected
        /// Not connected; why.
        case disconnected(String)
    }

    public let url: RedisURL
    let settings: Settings
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let state: Mutex<(connection: RedisConnection?, status: Status)>
    /// Runs on every new connection before it is used (loading scripts, say); a failure closes it.
    private let onConnect: @Sendable (RedisConnection) async throws(RedisError) -> Void

    public init(
        url: RedisURL,
        settings: Settings = Settings(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onConnect: @escaping @Sendable (RedisConnection) async throws(RedisError) -> Void = { _ throws(RedisError) in }
    ) {
        self.url = url
        self.settings = settings
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onConnect = onConnect
        self.state = Mutex((nil, .disconnected("not connected to \(url) yet")))
    }

    public var status: Status { self.state.withLock { $0.status } }

    /// Send commands on the current connection.
    ///
    /// - Throws: ``RedisError`` at once when not connected, or as ``RedisConnection/send(_:timeout:)``.
    public func send(_ commands: [RESPCommand], timeout: Duration? = nil) async throws(RedisError) -> [RESPValue] {
        let (connection, status) = self.state.withLock { ($0.connection, $0.status) }
        guard let connection, connection.isActive else {
            if case .disconnected(let reason) = status { throw RedisError("Redis is unavailable: \(reason)") }
            throw RedisError("Redis is unavailable: the connection closed")
        }
        return try await connection.send(commands, timeout: timeout ?? self.settings.timeout)
    }

    /// Send one command; an error reply is thrown.
    @discardableResult
    public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisError) -> RESPValue {
        let reply = try await self.send([command], timeout: timeout)[0]
        if case .error(let error) = reply { throw error }
        return reply
    }

    /// Keep a connection until the task is cancelled; then close it.
    public func run() async {
        let backoff = ReconnectBackoff(minimum: self.settings.minimumBackoff, maximum: self.settings.maximumBackoff)
        var failures = 0
        while !Task.isCancelled {
            do throws(RedisError) {
                let connection = try await RedisConnection.connect(to: self.url, on: self.eventLoopGroup, timeout: self.settings.timeout)
                do throws(RedisError) {
                    try await self.onConnect(connection)
                } catch {
                    connection.close()
                    throw error
                }
                self.state.withLock { $0 = (connection, .connected) }
                self.logger.info("Connected to Redis", metadata: ["redis": "\(self.url)"])
                failures = 0
                await withTaskCancellationHandler {
                    try? await connection.closeFuture.get()
                } onCancel: {
                    connection.close()
                }
                if Task.isCancelled { break }
                self.state.withLock { $0 = (nil, .disconnected("the connection to \(self.url) was lost")) }
                self.logger.warning("Lost the connection to Redis; reconnecting", metadata: ["redis": "\(self.url)"])
            } catch {
                self.state.withLock { $0 = (nil, .disconnected(error.message)) }
                failures += 1
                let delay = backoff.delay(afterFailures: failures)
                self.logger.warning("Cannot reach Redis", metadata: ["redis": "\(self.url)", "error": "\(error.message)", "retry_in_ms": "\(delay.milliseconds)"])
                try? await Task.sleep(for: delay)
            }
        }
        self.state.withLock { state in
            state.connection?.close()
            state = (nil, .disconnected("shut down"))
        }
    }
}
