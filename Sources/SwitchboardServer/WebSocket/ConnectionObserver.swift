import CoreMetrics
import Logging
import NIOCore
import Switchboard

/// What one WebSocket connection reports about itself: its opening and closing in the log (at
/// debug, with the close code and reason and which side closed), the messages it receives
/// (`centrifugo_transport_messages_received`, one add per message) and the server's closes
/// (`centrifugo_client_num_server_disconnects`). The messages written are counted by its
/// ``OutboxWriter``, once per batch. Used on the connection's event loop only.
final class ConnectionObserver {
    let transport: String
    let logger: Logger
    let metrics: SwitchboardMetrics?
    let sent: CoreMetrics.Counter?
    let received: CoreMetrics.Counter?
    let remote: String
    private let logs: Bool
    /// The close frame that ended the connection, and who sent it.
    private var close: (code: UInt16, reason: String, by: String)?

    /// How the connection is closed when its outbox overflows (logged at notice).
    let overflowReason: CloseReason

    init(transport: String, logger: Logger, metrics: SwitchboardMetrics?, channel: any Channel, overflowReason: CloseReason = .slowConsumer) {
        self.transport = transport
        self.overflowReason = overflowReason
        self.logger = logger
        self.metrics = metrics
        let counters = metrics?.transportCounters(transport)
        self.sent = counters?.sent
        self.received = counters?.received
        self.logs = logger.logLevel <= .debug
        self.remote = self.logs ? (channel.remoteAddress?.description ?? "unknown") : ""
    }

    func opened() {
        guard self.logs else { return }
        self.logger.debug("WebSocket connection opened", metadata: ["transport": "\(self.transport)", "remote": "\(self.remote)"])
    }

    /// The server sent a close frame: first or answering the client's.
    func serverClosed(_ reason: CloseReason, answering: Bool) {
        guard self.close == nil else { return }
        self.close = (reason.code, reason.reason, answering ? "client" : "server")
        if !answering { self.metrics?.recordServerDisconnect(code: reason.code) }
        if reason == self.overflowReason {
            self.logger.notice(
                "Closed a slow consumer",
                metadata: ["transport": "\(self.transport)", "remote": "\(self.remote)", "close.code": "\(reason.code)", "close.reason": "\(reason.reason)"]
            )
        }
    }

    /// The TCP connection is gone.
    func closed() {
        guard self.logs else { return }
        var metadata: Logger.Metadata = ["transport": "\(self.transport)", "remote": "\(self.remote)"]
        if let close = self.close {
            metadata["close.code"] = "\(close.code)"
            metadata["close.reason"] = "\(close.reason)"
            metadata["closed_by"] = "\(close.by)"
        } else {
            metadata["closed_by"] = "dropped"
        }
        self.logger.debug("WebSocket connection closed", metadata: metadata)
    }
}
