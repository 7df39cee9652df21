public import Logging
public import PostgresNIO
public import Switchboard
import Synchronization

/// The ``Engine`` of a node that shares one PostgreSQL with other nodes (docs/SCALE-OUT.md).
///
/// Publishing appends to the channel's stream in the database; nothing is delivered directly.
/// Every node, this one included, hears the notification and hands the publication to its hub, per
/// channel in offset order and once each: from the notification when it carries it and is the next
/// one, otherwise by fetching what it has not delivered yet. A subscribe registers the
/// subscriber first, then reads position and history in one snapshot, then completes, so nothing
/// published meanwhile is lost or doubled. Presence lives in the database with the node of each
/// entry; joins and leaves are announced to every node.
public final class PostgresEngine: Engine {
    /// How the engine behaves.
    public struct Settings: Sendable {
        /// A node not seen for this long is dead: its presence entries are removed and their leaves
        /// announced. Nodes heartbeat three times per TTL.
        public var nodeTTL: Duration
        /// How long a client's request (publish, subscribe, presence, history) may wait for the
        /// database before it fails.
        public var requestTimeout: Duration
        /// A name for this node in `switchboard_nodes` (the host, say).
        public var nodeName: String

        /// Options; every parameter is the field of the same name.
        public init(nodeTTL: Duration = .seconds(15), requestTimeout: Duration = .seconds(5), nodeName: String = "") {
            self.nodeTTL = nodeTTL
            self.requestTimeout = requestTimeout
            self.nodeName = nodeName
        }
    }

    /// Presence work done in order, one at a time, by ``run()``.
    private enum PresenceWork: Sendable {
        case remove(channel: String, info: ClientInfo)
    }

    /// This node's hub: its local subscribers, to which the engine delivers what the database announces.
    public let hub: Hub
    /// This node's id in the cluster.
    public let node: String
    let streams: PostgresStreams
    let listener: PostgresListener
    let presenceStore: PostgresPresence
    let settings: Settings
    let logger: Logger
    /// Delivery of the cluster's publications to the hub, per channel in offset order.
    let delivery: DeliveryCursors
    /// What the listener last reported; `nil` before its first connection.
    let listening = Mutex<EngineStatus?>(nil)
    /// Where this node's `info` comes from, for the heartbeat (``shareNodeInfo(_:)``).
    let nodeReport = Mutex<(@Sendable () -> NodeInfo)?>(nil)
    private let presenceWork: (stream: AsyncStream<PresenceWork>, continuation: AsyncStream<PresenceWork>.Continuation)

    /// - Parameters:
    ///   - client: For publishing, fetching, history and presence.
    ///   - listenerClient: Holds the one connection that listens for notifications.
    ///   Both clients must be running (`PostgresClient.run()`) while the engine is used.
    public init(
        hub: Hub = Hub(),
        client: PostgresClient,
        listenerClient: PostgresClient,
        settings: Settings = Settings(),
        node: String = ClientSession.makeClientID(),
        logger: Logger
    ) {
        self.hub = hub
        self.node = node
        self.streams = PostgresStreams(client: client, logger: logger)
        self.listener = PostgresListener(client: listenerClient, logger: logger)
        self.presenceStore = PostgresPresence(client: client, logger: logger, node: node)
        self.settings = settings
        self.logger = logger
        let streams = self.streams
        self.delivery = DeliveryCursors(hub: hub, logger: logger) { channel, offset, limit throws(EngineError) in
            do {
                return try await streams.publications(of: channel, after: offset, limit: limit)
            } catch {
                throw EngineError(error.postgresReason)
            }
        }
        self.presenceWork = AsyncStream.makeStream(of: PresenceWork.self)
    }

    /// Ready while this node listens for the cluster's notifications.
    public var status: EngineStatus { self.listening.withLock { $0 } ?? .unavailable("not listening to PostgreSQL yet") }

    // MARK: Publishing

    /// Append a publication to the channel's stream; every node (this one included) delivers it
    /// when it hears of it. Fails while the database is unreachable, after the request timeout
    /// (the publication may then still be stored), or when too many of this node's publications
    /// already wait for PostgreSQL (``PostgresPublishBatcher``).
    public func publish(
        _ publication: Publication,
        to channel: String,
        options: Switchboard.ChannelOptions,
        storeInHistory: Bool = true
    ) async throws(EngineError) -> (publication: Publication, epoch: String?) {
        let keep = storeInHistory && options.keepsHistory
        let (stored, epoch) = try await self.database("publish") {
            do {
                // Goes in one statement with whatever else this node publishes meanwhile.
                return try await self.streams.append(
                    publication,
                    to: channel,
                    historySize: options.keepsHistory ? options.historySize : 0,
                    historyTTL: options.keepsHistory ? options.historyTTL : .zero,
                    inHistory: keep
                )
            } catch let error as PostgresPublishError {
                // Not PostgreSQL's error but the node's queue for it: say so.
                throw error.engineError
            }
        }
        // Counted once sent; the hub of every node counts it again when it delivers it.
        self.hub.counters.recordSent(.publication)
        return (stored, keep ? epoch : nil)
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
    ) async throws(EngineError) -> Hub.SubscribeOutcome? {
        try await self.delivery.subscribe(channel, options: options, subscriber: subscriber, reply: reply) { () throws(EngineError) in
            try await self.database("subscribe") {
                // A channel never published to gets its stream now, so the subscriber has an epoch to recover in.
                let read = try await self.streams.history(
                    of: channel,
                    historySize: options.historySize,
                    historyTTL: options.historyTTL,
                    startingStream: options.keepsHistory
                )
                let outcome = Hub.SubscribeOutcome(read: read, options: options, recoverFrom: recoverFrom)
                // A subscriber refused for what it missed never joins.
                if subscriber.keepsPresenceEntry(in: options), !Hub.refuses(subscriber, outcome) {
                    try await self.presenceStore.add(subscriber.info, to: channel, farewell: Farewell(of: subscriber, in: options))
                    if options.joinLeave { try await self.announce(.join, subscriber.info, in: channel, from: self.node) }
                }
                return (read.position, outcome)
            }
        } abandoned: { afterRead in
            // It left while the database was read, perhaps after its entry was written: remove it.
            if afterRead, subscriber.keepsPresenceEntry(in: options) {
                self.presenceWork.continuation.yield(.remove(channel: channel, info: subscriber.info))
            }
            self.delivery.release(channel)
        }
    }

    public func unsubscribe(_ channel: String, client: String) {
        guard let (subscriber, options) = self.hub.leave(channel, client: client) else { return }
        // The farewell goes out when the entry is removed (once: whoever removes it publishes it).
        if subscriber.keepsPresenceEntry(in: options) { self.presenceWork.continuation.yield(.remove(channel: channel, info: subscriber.info)) }
        // The last local subscriber left: stop following the channel (a running fetch does it when it ends).
        self.delivery.release(channel)
    }

    // MARK: Reading

    public func presence(_ channel: String) async throws(EngineError) -> [ClientInfo] {
        try await self.database("presence") { try await self.presenceStore.members(of: channel) }
    }

    public func presenceStats(_ channel: String) async throws(EngineError) -> (clients: Int, users: Int) {
        try await self.database("presence_stats") { try await self.presenceStore.stats(of: channel) }
    }

    public func history(
        _ channel: String,
        options: Switchboard.ChannelOptions,
        since: StreamPosition?,
        limit: Int,
        reverse: Bool
    ) async throws(EngineError) -> Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError> {
        let read = try await self.database("history") {
            try await self.streams.history(of: channel, historySize: options.historySize, historyTTL: options.historyTTL, startingStream: true)
        }
        let position = read.position!
        return HistoryStream.select(from: read.publications, position: position, since: since, limit: limit, reverse: reverse)
            .map { ($0, position) }
    }

    public func removeHistory(_ channel: String) async throws(EngineError) {
        try await self.database("history_remove") { try await self.streams.removeHistory(of: channel) }
    }

    // MARK: Nodes

    public func shareNodeInfo(_ report: @escaping @Sendable () -> NodeInfo) {
        self.nodeReport.withLock { $0 = report }
    }

    /// The other nodes that heartbeat within the node TTL, as their last heartbeat reported them
    /// (their uptime counted on to now).
    public func otherNodes() async throws(EngineError) -> [NodeInfo] {
        let rows = try await self.database("info") { try await self.presenceStore.otherNodes(ttl: self.settings.nodeTTL) }
        return rows.compactMap { row in
            (try? JSONValue.parse(row.info)).flatMap { NodeInfo(json: $0, since: row.age) }
        }
    }

    // MARK: Running

    /// Listen for the cluster's publications, joins and leaves and deliver them to this node's hub;
    /// heartbeat, reap dead nodes and delete expired publications; until cancelled. Then leave the
    /// cluster (this node's presence entries go, and their leaves are announced).
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.listen() }
            group.addTask { await self.keepAlive() }
            group.addTask { await self.workOnPresence() }
            group.addTask { await self.delivery.run() }
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                self.delivery.finish()
                self.presenceWork.continuation.finish()
            }
        }
        self.listening.withLock { $0 = .unavailable("shut down") }
        // The report usually refers back to the engine (through the server's API): let go of it.
        self.nodeReport.withLock { $0 = nil }
        // Not in the cancelled task, whose queries would be cancelled too.
        await Task {
            do {
                let entries = try await self.presenceStore.leaveCluster()
                for entry in entries { try? await self.farewell(entry, from: "") }
                self.logger.info("Left the cluster", metadata: ["node": "\(self.node)", "presence_entries": "\(entries.count)"])
            } catch {
                self.logger.warning("Could not leave the cluster; other nodes will after the node TTL", metadata: ["error": "\(error.postgresReason)"])
            }
        }.value
    }

    private func listen() async {
        await self.listener.run { event in
            switch event {
            case .publication(let offset, let channel, let publication):
                self.delivery.heard(offset, in: channel, carrying: publication)
            case .presence(let event):
                // This node told its own subscribers already.
                guard event.node != self.node else { return }
                switch event.kind {
                case .join: self.hub.deliverJoin(event.info, to: event.channel)
                case .leave: self.hub.deliverLeave(event.info, to: event.channel)
                }
            case .listening:
                self.listening.withLock { $0 = .ready }
                // Notifications sent while nobody listened are gone: catch up every channel.
                self.delivery.catchUpAll()
            case .interrupted(let reason):
                self.listening.withLock { $0 = .unavailable("PostgreSQL is unreachable: \(reason)") }
                self.logger.warning("Publications from other nodes are delayed until PostgreSQL is back", metadata: ["reason": "\(reason)"])
            }
        }
    }

    /// Heartbeat, reap dead nodes (announcing their leaves) and delete expired publications.
    private func keepAlive() async {
        let interval = self.settings.nodeTTL / 3
        while !Task.isCancelled {
            do {
                let report = self.nodeReport.withLock { $0 }
                try await self.presenceStore.heartbeat(name: self.settings.nodeName, info: report.map { $0().json.jsonText })
                let reaped = try await self.presenceStore.reapDeadNodes(ttl: self.settings.nodeTTL)
                if !reaped.isEmpty {
                    self.logger.notice("Removed the presence of dead nodes", metadata: ["entries": "\(reaped.count)"])
                }
                for entry in reaped { try await self.farewell(entry, from: "") }
                try await self.streams.removeExpired()
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("Node heartbeat failed", metadata: ["error": "\(error.postgresReason)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Remove presence entries in the order their subscribers left, announcing the leaves; retried
    /// while the database is unreachable.
    private func workOnPresence() async {
        for await work in self.presenceWork.stream {
            switch work {
            case .remove(let channel, let info):
                while !Task.isCancelled {
                    do {
                        // Taking the entry and what follows go together, in a task of their own: a
                        // shutdown cancelling this one after the take would lose the farewell and the
                        // leave (leaving the cluster no longer finds the entry).
                        try await Task {
                            if let entry = try await self.presenceStore.take(client: info.client, from: channel) {
                                try await self.farewell(entry, from: self.node)
                            }
                        }.value
                        break
                    } catch {
                        self.logger.warning("Could not remove a presence entry; retrying", metadata: ["channel": "\(channel)", "error": "\(error.postgresReason)"])
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        }
    }

    /// What follows the removal of a presence entry: the leave announced, and the farewell published
    /// (at most once: only whoever removed the entry gets here, and a failure is not retried).
    private func farewell(_ entry: PresenceEntry, from node: String) async throws {
        if let farewell = entry.farewell {
            do {
                _ = try await self.streams.append(
                    Publication(data: farewell.data),
                    to: entry.channel,
                    historySize: farewell.historySize,
                    historyTTL: farewell.historyTTL,
                    inHistory: farewell.inHistory
                )
            } catch {
                self.logger.warning("Could not publish a farewell", metadata: ["channel": "\(entry.channel)", "error": "\(error.postgresReason)"])
            }
        }
        try await self.announce(.leave, entry.info, in: entry.channel, from: node)
    }

    private func announce(_ kind: PresenceEvent.Kind, _ info: ClientInfo, in channel: String, from node: String) async throws {
        try await self.presenceStore.announce(PresenceEvent(kind: kind, node: node, channel: channel, info: info))
    }
}
