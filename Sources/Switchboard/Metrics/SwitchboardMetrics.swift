public import CoreMetrics
import Synchronization

/// The instruments Switchboard records into, made once from a swift-metrics `MetricsFactory` (the
/// server's Prometheus registry; docs/OBSERVABILITY.md lists every metric). Each instrument is
/// created up front or once per label value, so recording never goes through the factory: a
/// counter increment is one atomic add, a duration one histogram update.
///
/// Label values are bounded: command and API methods are a fixed list (others count as
/// `unknown`), transports are the server's own names and disconnect codes are the server's.
public final class SwitchboardMetrics: Sendable {
    /// The factory every instrument comes from.
    public let factory: any MetricsFactory

    private let commandDurations: [String: CoreMetrics.Timer]
    private let unknownCommandDuration: CoreMetrics.Timer
    /// How long the engine took to take a publication (`switchboard_engine_publish_duration_seconds`).
    public let enginePublishDuration: CoreMetrics.Timer
    /// Publications the engine refused or could not take (`switchboard_engine_publish_errors_total`).
    public let enginePublishErrors: CoreMetrics.Counter
    private let lazy = Mutex<[String: AnyObject]>([:])

    /// The client protocol's methods, as `centrifugo_client_command_duration_seconds` labels them.
    public static let commandMethods = [
        "connect", "subscribe", "unsubscribe", "publish", "presence", "presence_stats", "history", "ping", "send", "rpc", "refresh",
        "sub_refresh",
    ]
    /// The server API's methods, as `centrifugo_api_command_duration_seconds` labels them.
    public static let apiMethods = [
        "publish", "broadcast", "subscribe", "unsubscribe", "disconnect", "presence", "presence_stats", "history", "history_remove",
        "channels", "info", "batch",
    ]

    /// Names of the metrics.
    public enum Name {
        public static let clientCommandDuration = "centrifugo_client_command_duration_seconds"
        public static let apiCommandDuration = "centrifugo_api_command_duration_seconds"
        public static let serverDisconnects = "centrifugo_client_num_server_disconnects"
        public static let transportMessagesSent = "centrifugo_transport_messages_sent"
        public static let transportMessagesReceived = "centrifugo_transport_messages_received"
        public static let enginePublishDuration = "switchboard_engine_publish_duration_seconds"
        public static let enginePublishErrors = "switchboard_engine_publish_errors_total"
    }

    /// Instruments made from `factory`.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        var durations: [String: CoreMetrics.Timer] = [:]
        for method in Self.commandMethods {
            durations[method] = CoreMetrics.Timer(label: Name.clientCommandDuration, dimensions: [("method", method)], factory: factory)
        }
        self.commandDurations = durations
        self.unknownCommandDuration = CoreMetrics.Timer(label: Name.clientCommandDuration, dimensions: [("method", "unknown")], factory: factory)
        self.enginePublishDuration = CoreMetrics.Timer(label: Name.enginePublishDuration, dimensions: [], factory: factory)
        self.enginePublishErrors = CoreMetrics.Counter(label: Name.enginePublishErrors, dimensions: [], factory: factory)
    }

    /// The duration of one client protocol command.
    public func recordCommand(_ method: String, since start: ContinuousClock.Instant) {
        (self.commandDurations[method] ?? self.unknownCommandDuration).recordNanoseconds(SwitchboardMetrics.nanoseconds(since: start))
    }

    /// The duration of one server API command (`protocol`: `http`, or `swift` for calls from the
    /// application's own code through ``ServerAPI``).
    public func recordAPICommand(_ method: String, protocol: String, since start: ContinuousClock.Instant) {
        self.apiCommandTimer(method, protocol: `protocol`).recordNanoseconds(SwitchboardMetrics.nanoseconds(since: start))
    }

    /// The timer of a server API method (`unknown` for a method the API does not have).
    public func apiCommandTimer(_ method: String, protocol: String) -> CoreMetrics.Timer {
        let method = Self.apiMethods.contains(method) ? method : "unknown"
        return self.instrument("api|\(`protocol`)|\(method)") {
            CoreMetrics.Timer(label: Name.apiCommandDuration, dimensions: [("method", method), ("protocol", `protocol`)], factory: self.factory)
        }
    }

    /// The server closed a connection with this code.
    public func recordServerDisconnect(code: UInt16) {
        self.serverDisconnects(code: code).increment()
    }

    /// The counter of server disconnects with this code.
    public func serverDisconnects(code: UInt16) -> CoreMetrics.Counter {
        self.instrument("disconnect|\(code)") {
            CoreMetrics.Counter(label: Name.serverDisconnects, dimensions: [("code", String(code))], factory: self.factory)
        }
    }

    /// The counters of messages sent to and received from clients over a transport (`websocket`,
    /// `uni_websocket`, `uni_sse`, `uni_http_stream`, `websocket_raw`): fetch them once per
    /// connection, then count on them.
    public func transportCounters(_ transport: String) -> (sent: CoreMetrics.Counter, received: CoreMetrics.Counter) {
        let sent: CoreMetrics.Counter = self.instrument("sent|\(transport)") {
            CoreMetrics.Counter(label: Name.transportMessagesSent, dimensions: [("transport", transport)], factory: self.factory)
        }
        let received: CoreMetrics.Counter = self.instrument("received|\(transport)") {
            CoreMetrics.Counter(label: Name.transportMessagesReceived, dimensions: [("transport", transport)], factory: self.factory)
        }
        return (sent, received)
    }

    /// Nanoseconds from `start` to now.
    @inline(__always)
    static func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    private func instrument<T: AnyObject>(_ key: String, make: () -> T) -> T {
        self.lazy.withLock { table in
            if let existing = table[key] as? T { return existing }
            let made = make()
            table[key] = made
            return made
        }
    }
}

extension ChannelService {
    /// Publish through the engine, timing it and counting failures when metrics are on.
    public func publish(
        _ publication: Publication,
        to channel: String,
        options: ChannelOptions,
        storeInHistory: Bool
    ) async throws(EngineError) -> (publication: Publication, epoch: String?) {
        guard let metrics = self.metrics else {
            return try await self.engine.publish(publication, to: channel, options: options, storeInHistory: storeInHistory)
        }
        let start = ContinuousClock.now
        do {
            let result = try await self.engine.publish(publication, to: channel, options: options, storeInHistory: storeInHistory)
            metrics.enginePublishDuration.recordNanoseconds(SwitchboardMetrics.nanoseconds(since: start))
            return result
        } catch {
            metrics.enginePublishErrors.increment()
            throw error
        }
    }

    /// Publish straight into the hub of an engine that is only a hub (``Engine/immediateHub``),
    /// timed as an engine publish when metrics are on.
    @discardableResult
    public func publish(
        in hub: Hub,
        _ channel: String,
        options: ChannelOptions,
        publication: Publication,
        storeInHistory: Bool = true
    ) -> (Publication, epoch: String?) {
        guard let metrics = self.metrics else {
            return hub.publish(channel, options: options, publication: publication, storeInHistory: storeInHistory)
        }
        let start = ContinuousClock.now
        let result = hub.publish(channel, options: options, publication: publication, storeInHistory: storeInHistory)
        metrics.enginePublishDuration.recordNanoseconds(SwitchboardMetrics.nanoseconds(since: start))
        return result
    }
}
