public import Logging
public import PostgresNIO
public import Switchboard

/// Listens for the cluster's notifications (publications, joins and leaves) on a connection of its own, and keeps
/// listening: when the connection drops or PostgreSQL restarts it reconnects with exponential
/// backoff (with jitter), logging each attempt.
///
/// Notifications sent while no connection was listening are lost, as PostgreSQL does not keep them;
/// a ``Event/listening`` event after a ``Event/interrupted(_:)`` one tells the consumer to catch up
/// from the offsets it has delivered (``PostgresStreams/publications(of:after:limit:)``).
public struct PostgresListener: Sendable {
    /// What the listener reports, in order.
    public enum Event: Sendable, Equatable {
        /// Listening (first, and again after each reconnection).
        case listening
        /// A publication was appended to a channel's stream; the notification carried it if it fit.
        case publication(offset: UInt64, channel: String, publication: Publication?)
        /// A client joined or left a channel.
        case presence(PresenceEvent)
        /// The listening connection was lost; the description of why. Reconnection follows.
        case interrupted(String)
    }

    let client: PostgresClient
    let logger: Logger
    let minimumBackoff: Duration
    let maximumBackoff: Duration

    public init(client: PostgresClient, logger: Logger, minimumBackoff: Duration = .milliseconds(100), maximumBackoff: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Listen until the task is cancelled, handing every event to `handle` (one at a time).
    public func run(_ handle: @Sendable (Event) async -> Void) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await self.client.withConnection { connection in
                    try await connection.listen(on: PostgresStreams.notificationChannel) { notifications in
                        if failures > 0 { self.logger.notice("Listening for publications again", metadata: ["after_failures": "\(failures)"]) }
                        failures = 0
                        await handle(.listening)
                        for try await notification in notifications {
                            if let (offset, channel, publication) = PostgresStreams.parseNotification(notification.payload) {
                                await handle(.publication(offset: offset, channel: channel, publication: publication))
                            } else if let event = PresenceEvent(payload: notification.payload) {
                                await handle(.presence(event))
                            } else {
                                self.logger.warning("Ignored a notification that is neither a publication nor a join or leave", metadata: ["payload": "\(notification.payload)"])
                            }
                        }
                    }
                }
                // The sequence ended without an error: the connection was closed under us.
                if Task.isCancelled { return }
                await handle(.interrupted("the listening connection was closed"))
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("Lost the connection listening for publications", metadata: ["error": "\(error.postgresReason)"])
                await handle(.interrupted(error.postgresReason))
            }
            failures += 1
            let delay = self.backoff(afterFailures: failures)
            self.logger.info("Reconnecting to listen for publications", metadata: ["in_ms": "\(delay.milliseconds)"])
            try? await Task.sleep(for: delay)
        }
    }

    /// How long to wait after `failures` failures in a row: exponential from the minimum, capped, with the upper half jittered so nodes do not reconnect in step.
    public func backoff(afterFailures failures: Int) -> Duration {
        ReconnectBackoff(minimum: self.minimumBackoff, maximum: self.maximumBackoff).delay(afterFailures: failures)
    }
}
