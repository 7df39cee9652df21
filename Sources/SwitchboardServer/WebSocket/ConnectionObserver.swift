import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Switchboard

/// What WebSocket connections report about themselves: their opening and closing in the log (at
/// debug, with the close code and reason and which side closed), the messages they receive
/// (`centrifugo_transport_messages_received`, one add per message) and write
/// (`centrifugo_transport_messages_sent`, one add per batch), and the server's closes
/// (`centrifugo_client_num_server_disconnects`).
///
/// One observer serves every connection of a transport (``Cache``), so it holds nothing of a
/// connection's own: the connection passes its channel and its close. That keeps an idle
/// connection smaller by an object.
final class ConnectionObserver: Sendable {
    let transport: String
    let logger: Logger
    let metrics: SwitchboardMetrics?
    let sent: CoreMetrics.Counter?
    let received: CoreMetrics.Counter?
    private let logs: Bool
    /// How a connection is closed when its outbox overflows (logged at notice).
    let overflowReason: CloseReason

    init(transport: String, logger: Logger, metrics: SwitchboardMetrics?, overflowReason: CloseReason = .slowConsumer) {
        self.transport = transport
        self.overflowReason = overflowReason
        self.logger = logger
        self.metrics = metrics
        let counters = metrics?.transportCounters(transport)
        self.sent = counters?.sent
        self.received = counters?.received
        self.logs = logger.logLevel <= .debug
    }

    /// The observers of one acceptor, one per transport and overflow reason, made on first use.
    final class Cache: Sendable {
        private let logger: Logger
        private let metrics: SwitchboardMetrics?
        private let observers = NIOLockedValueBox<[Key: ConnectionObserver]>([:])

        private struct Key: Hashable {
            let transport: String
            let overflowReason: CloseReason
        }

        init(logger: Logger, metrics: SwitchboardMetrics?) {
            self.logger = logger
            self.metrics = metrics
        }

        func observer(transport: String, overflowReason: CloseReason = .slowConsumer) -> ConnectionObserver {
            let key = Key(transport: transport, overflowReason: overflowReason)
            return self.observers.withLockedValue { observers in
                if let made = observers[key] { return made }
                let made = ConnectionObserver(transport: transport, logger: self.logger, metrics: self.metrics, overflowReason: overflowReason)
                observers[key] = made
                return made
            }
        }
    }

    private static func remote(_ channel: any Channel) -> String {
        channel.remoteAddress?.description ?? "unknown"
    }

    func opened(_ channel: any Channel) {
        guard self.logs else { return }
        self.logger.debug("WebSocket connection opened", metadata: ["transport": "\(self.transport)", "remote": "\(Self.remote(channel))"])
    }

    /// The server sent a close frame (once per connection): first, or answering the client's.
    func serverClosed(_ reason: CloseReason, answering: Bool, on channel: any Channel) {
        if !answering { self.metrics?.recordServerDisconnect(code: reason.code) }
        if reason == self.overflowReason {
            self.logger.notice(
                "Closed a slow consumer",
                metadata: [
                    "transport": "\(self.transport)", "remote": "\(Self.remote(channel))",
                    "close.code": "\(reason.code)", "close.reason": "\(reason.reason)",
                ]
            )
        }
    }

    /// The TCP connection is gone; `close` is the close frame the server sent, if it sent one, and
    /// whether it answered the client's.
    func closed(_ channel: any Channel, close: (reason: CloseReason, answering: Bool)?) {
        guard self.logs else { return }
        var metadata: Logger.Metadata = ["transport": "\(self.transport)", "remote": "\(Self.remote(channel))"]
        if let close {
            metadata["close.code"] = "\(close.reason.code)"
            metadata["close.reason"] = "\(close.reason.reason)"
            metadata["closed_by"] = "\(close.answering ? "client" : "server")"
        } else {
            metadata["closed_by"] = "dropped"
        }
        self.logger.debug("WebSocket connection closed", metadata: metadata)
    }
}
