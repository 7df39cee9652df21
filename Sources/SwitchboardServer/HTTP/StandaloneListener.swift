#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The standalone server's listening socket (what `switchboard serve` runs), accepting connections
/// on NIO's event loops with no Swift task per connection.
///
/// Hummingbird's `Server` hands every accepted connection to a task of its own, which waits for the
/// connection's first request on a future: each handshake wakes a thread of the concurrency pool
/// and comes back to the event loop (a fifth of the CPU of a handshake, docs/BENCHMARKS.md). Here a
/// connection is set up by ``SwitchboardChildChannel`` on its event loop, exactly as when
/// Switchboard is mounted in an application, and a WebSocket upgrade stays there; only a
/// connection that stays HTTP gets a task, which serves its requests with the router's responder
/// the way Hummingbird's `Application` does (request context, `Date` and `Server` headers, 500 for
/// an error a route throws).
///
/// Graceful shutdown closes the listening socket, asks every open connection to finish (HTTP
/// connections close after their current response) and returns once all have closed. Cancelling
/// the task closes the listening socket and returns at once.
struct StandaloneListener: Service {
    let host: String
    let port: Int
    let eventLoopGroup: any EventLoopGroup
    let childChannel: SwitchboardChildChannel
    let onRunning: @Sendable (any Channel) async -> Void
    let logger: Logger

    /// Pending connections the kernel queues (`listen(2)`): bursts of thousands of clients
    /// connecting at once are what a WebSocket server sees after a restart.
    static let backlog: Int32 = 1024

    func run() async throws {
        let quiescing = ServerQuiescingHelper(group: self.eventLoopGroup)
        let childChannel = self.childChannel
        let logger = self.logger
        let serverChannel = try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: Self.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                childChannel.setup(channel: channel, logger: logger).map { value in
                    value.upgradeResult.whenSuccess { result in
                        if case .websocket = result { return }
                        Task { await childChannel.handle(value: value, logger: logger) }
                    }
                }
            }
            .bind(host: self.host, port: self.port)
            .get()
        await self.onRunning(serverChannel)

        let stopped = serverChannel.eventLoop.makePromise(of: Void.self)
        let stopping = Atomic(false)
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await stopped.futureResult.get()
            } onGracefulShutdown: {
                if !stopping.exchange(true, ordering: .relaxed) { quiescing.initiateShutdown(promise: stopped) }
            }
        } onCancel: {
            if !stopping.exchange(true, ordering: .relaxed) {
                serverChannel.close(promise: nil)
                stopped.succeed()
            }
        }
    }

    /// The router's responder as Hummingbird's `Application` runs it for each request.
    static func responder<Responder: HTTPResponder>(
        _ router: Responder,
        serverName: String,
        logger: Logger
    ) -> HTTPChannelHandler.Responder where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let dates = HTTPDateCache()
        return { request, responseWriter, channel in
            let context = Responder.Context(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await router.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error
            } catch {
                logger.debug("Unrecognised Error", metadata: ["error.type": "\(error)"])
                response = Response(status: .internalServerError, body: .init())
            }
            response.headers[.date] = dates.now
            response.headers[.server] = serverName
            do {
                try await responseWriter.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // Not an HTTPParserError: that would make the connection answer 400 after the response.
                throw ResponseWriteFailed()
            }
        }
    }
}

/// Writing a response failed on a parse error of the request (its body).
struct ResponseWriteFailed: Error {}

/// The `Date` header's value (RFC 9110 section 5.6.7, `Sun, 06 Nov 1994 08:49:37 GMT`), formatted
/// once a second.
final class HTTPDateCache: Sendable {
    private let cached = Mutex<(second: Int, text: String)>((-1, ""))

    var now: String {
        let second = time(nil)
        return self.cached.withLock { cached in
            if cached.second != second { cached = (second, Self.format(second)) }
            return cached.text
        }
    }

    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
