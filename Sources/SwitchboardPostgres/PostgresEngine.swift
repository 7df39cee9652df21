public import Logging
public import PostgresNIO
public import Switchboard
import Synchronization

/// One node's link between its ``Hub`` and the cluster's PostgreSQL (docs/SCALE-OUT.md).
///
/// Publishing appends to the channel's stream in the database; nothing is delivered directly.
/// Every node, this one included, hears the notification, fetches what it has not delivered yet and
/// hands it to its hub, per channel in offset order and once each. A subscribe registers the
/// subscriber first, then reads position and history in one snapshot, then completes, so nothing
/// published meanwhile is lost or doubled. Not yet wired into the server: the protocol session, the
/// server API and the tutorial chat still use the hub directly.
public final class PostgresEngine: Sendable {
    /// The per-channel delivery state of this node.
    private struct Cursor {
        /// The last offset this node delivered to its hub.
        var delivered: UInt64
        /// A fetch task is running for the channel.
        var fetching = false
        /// Something new was announced while it ran: fetch again when it ends.
        var again = false
    }

    let hub: Hub
    let streams: PostgresStreams
    let listener: PostgresListener
    let logger: Logger
    private let cursors = Mutex<[String: Cursor]>([:])

    public init(hub: Hub, client: PostgresClient, listenerClient: PostgresClient, logger: Logger) {
        self.hub = hub
        self.streams = PostgresStreams(client: client, logger: logger)
        self.listener = PostgresListener(client: listenerClient, logger: logger)
        self.logger = logger
    }

    // MARK: Publishing

    /// Append a publication to the channel's stream; every node (this one included) delivers it
    /// when it hears of it.
    ///
    /// - Returns: The publication with its offset, and the stream's epoch.
    public func publish(
        _ publication: Publication,
        to channel: String,
        options: Switchboard.ChannelOptions,
        storeInHistory: Bool = true
    ) async throws -> (publication: Publication, epoch: String) {
        let keep = storeInHistory && options.keepsHistory
        return try await self.streams.append(
            publication,
            to: channel,
            historySize: keep ? options.historySize : 0,
            historyTTL: keep ? options.historyTTL : .zero
        )
    }

    // MARK: Subscribing

    /// Subscribe a local connection, recovering from `recoverFrom` if asked: the reply is queued
    /// before anything published after the read it reports.
    @discardableResult
    public func subscribe(
        _ channel: String,
        options: Switchboard.ChannelOptions,
        subscriber: Subscriber,
        recoverFrom: StreamPosition? = nil,
        reply: (Hub.SubscribeOutcome) -> OutboundMessage? = { _ in nil }
    ) async throws -> Hub.SubscribeOutcome {
        self.hub.beginSubscribe(channel, options: options, subscriber: subscriber)
        var read: (publications: [Publication], position: StreamPosition?)
        do {
            read = try await self.streams.history(of: channel, historySize: options.historySize, historyTTL: options.historyTTL)
            if read.position == nil, options.keepsHistory {
                // Never published to: start the stream, so the subscriber has an epoch to recover in.
                read.position = try await self.streams.startStream(of: channel)
            }
        } catch {
            self.hub.unsubscribe(channel, client: subscriber.client)
            throw error
        }
        // From the read on this node delivers what comes after it (a channel new to this node
        // starts its cursor there; one it already follows keeps its own, which is at most as far).
        let top = read.position?.offset ?? 0
        self.cursors.withLock { cursors in
            if cursors[channel] == nil { cursors[channel] = Cursor(delivered: top) }
        }
        var outcome = Hub.SubscribeOutcome(position: options.keepsHistory ? read.position : nil)
        if let recoverFrom {
            outcome.wasRecovering = true
            if let position = read.position, recoverFrom.epoch == position.epoch, recoverFrom.offset <= position.offset {
                let missed = read.publications.filter { $0.offset > recoverFrom.offset }
                // Recovered only if history still holds every offset after the client's.
                if recoverFrom.offset == position.offset || missed.first?.offset == recoverFrom.offset + 1 {
                    outcome.publications = missed
                    outcome.recovered = true
                }
            }
        }
        self.hub.completeSubscribe(channel, client: subscriber.client, outcome: outcome, reply: reply)
        // Anything announced while the cursor did not exist yet: catch up now.
        self.fetch(channel)
        return outcome
    }

    // MARK: Delivering

    /// Listen for the cluster's publications and deliver them to this node's hub, until cancelled.
    public func run() async {
        await self.listener.run { event in
            switch event {
            case .publication(let offset, let channel):
                let behind = self.cursors.withLock { $0[channel].map { offset > $0.delivered } ?? false }
                if behind { self.fetch(channel) }
            case .listening:
                // Notifications sent while nobody listened are gone: catch up every channel.
                for channel in self.cursors.withLock({ Array($0.keys) }) { self.fetch(channel) }
            case .interrupted(let reason):
                self.logger.warning("Publications from other nodes are delayed until PostgreSQL is back", metadata: ["reason": "\(reason)"])
            }
        }
    }

    /// Fetch and deliver what this node has not delivered yet; one fetch per channel at a time.
    private func fetch(_ channel: String) {
        let start = self.cursors.withLock { cursors -> Bool in
            guard let cursor = cursors[channel] else { return false }
            if cursor.fetching {
                cursors[channel]!.again = true
                return false
            }
            cursors[channel]!.fetching = true
            return true
        }
        guard start else { return }
        Task { await self.fetchLoop(channel) }
    }

    private func fetchLoop(_ channel: String) async {
        while true {
            // Only this loop moves the channel's cursor (one loop per channel), so it reads it once.
            guard var delivered = self.cursors.withLock({ $0[channel]?.delivered }) else { return }
            do {
                let publications = try await self.streams.publications(of: channel, after: delivered)
                for publication in publications {
                    let expected = delivered + 1
                    if publication.offset > expected {
                        self.logger.error(
                            "Publications were gone before this node delivered them",
                            metadata: ["channel": "\(channel)", "missing": "\(expected)...\(publication.offset - 1)"]
                        )
                    }
                    self.hub.deliver(publication, to: channel)
                    delivered = publication.offset
                    self.cursors.withLock { $0[channel]?.delivered = delivered }
                }
                if publications.count == 1000 { continue }  // a full page: there may be more
            } catch {
                // PostgreSQL is unreachable: try again (the listener reconnects meanwhile).
                self.logger.warning("Could not fetch publications", metadata: ["channel": "\(channel)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            // Done unless more was announced meanwhile; forget channels with no local subscribers.
            let more = self.cursors.withLock { cursors -> Bool in
                guard let cursor = cursors[channel] else { return false }
                if cursor.again {
                    cursors[channel]!.again = false
                    return true
                }
                if self.hub.presenceStats(channel).clients == 0 {
                    cursors[channel] = nil
                } else {
                    cursors[channel]!.fetching = false
                }
                return false
            }
            if !more { return }
        }
    }
}
