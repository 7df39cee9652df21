public import Logging
public import NIOCore
import NIOPosix
public import Switchboard
import Synchronization

/// The ``Engine`` of a node that shares one or more Redis instances with other nodes
/// (docs/SCALE-OUT.md), with Centrifugo's design.
///
/// A publication is one script in its channel's shard: the next offset, the epoch, the history
/// stream and a `PUBLISH` of the whole publication, in one atomic step (``RedisStreams``). Every
/// node with subscribers to the channel is subscribed to its pub/sub channel and hands what it
/// hears to its hub through ``DeliveryCursors``: in offset order, once each, reading the stream
/// when it notices a gap. A subscribe subscribes the node first, then reads position and history,
/// so nothing published meanwhile is lost or doubled. Presence lives in the channel's shard with
/// the node of each entry (``RedisPresence``); joins and leaves go out on the channel's pub/sub
/// channel. Nodes heartbeat into the first shard; any node reaps a node not seen for the node TTL
/// (its users leave, their farewells are published).
///
/// Several shards split channels by a stable hash of the name (``shardIndex(of:shards:)``), so one
/// Redis is not the ceiling; every node must list the same shards in the same order.
public final class RedisEngine: Engine {
    /// How the engine behaves.
    public struct Settings: Sendable {
        /// A node not seen for this long is dead: its presence entries are removed and their leaves
        /// announced. Nodes heartbeat three times per TTL.
        public var nodeTTL: Duration
        /// How long a client's request (publish, subscribe, presence, history) may wait for Redis.
        public var requestTimeout: Duration
        /// How often each pub/sub connection is probed (a publication it must hear back).
        public var probeInterval: Duration
        /// The prefix of every key and pub/sub channel, so several clusters can share a Redis.
        public var prefix: String

        /// Options; every parameter is the field of the same name.
        public init(
            nodeTTL: Duration = .seconds(15),
            requestTimeout: Duration = .seconds(5),
            probeInterval: Duration = .seconds(5),
            prefix: String = "switchboard"
        ) {
            self.nodeTTL = nodeTTL
            self.requestTimeout = requestTimeout
            self.probeInterval = probeInterval
            self.prefix = prefix
        }
    }

    /// One Redis: its command connection, what lives in it, and this node's pub/sub connection to it.
    final class Shard: Sendable {
        let client: RedisClient
        let streams: RedisStreams
        let presence: RedisPresence
        let subscriber: RedisSubscriber

        init(client: RedisClient, streams: RedisStreams, presence: RedisPresence, subscriber: RedisSubscriber) {
            self.client = client
            self.streams = streams
            self.presence = presence
            self.subscriber = subscriber
        }
    }

    /// Presence work done in order, one at a time, by ``run()``.
    enum PresenceWork: Sendable {
        case remove(channel: String, info: ClientInfo)
        /// Write the entries of this node's subscribers to the channels of a shard again.
        case reregister(shard: Int)
    }

    /// This node's hub: its local subscribers, to which the engine delivers what Redis publishes.
    public let hub: Hub
    /// This node's id in the cluster.
    public let node: String
    let settings: Settings
    let logger: Logger
    let shards: [Shard]
    let nodes: RedisNodes
    let delivery: DeliveryCursors
    /// Where this node's `info` comes from, for the heartbeat (``shareNodeInfo(_:)``).
    let nodeReport = Mutex<(@Sendable () -> NodeInfo)?>(nil)
    let presenceWork: (stream: AsyncStream<PresenceWork>, continuation: AsyncStream<PresenceWork>.Continuation)

    /// - Parameter urls: The shards, in the same order on every node (at least one).
    public init(
        hub: Hub = Hub(),
        urls: [RedisURL],
        settings: Settings = Settings(),
        node: String = ClientSession.makeClientID(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        precondition(!urls.isEmpty, "RedisEngine needs at least one Redis URL")
        self.hub = hub
        self.node = node
        self.settings = settings
        self.logger = logger
        let presenceWork = AsyncStream.makeStream(of: PresenceWork.self)
        var clientSettings = RedisClient.Settings()
        clientSettings.timeout = settings.requestTimeout
        let deliveryBox = Mutex<DeliveryCursors?>(nil)
        let shards = urls.enumerated().map { index, url in
            let client = RedisClient(url: url, settings: clientSettings, eventLoopGroup: eventLoopGroup, logger: logger)
            let streams = RedisStreams(client: client, prefix: settings.prefix)
            let subscriber = RedisSubscriber(
                url: url,
                client: client,
                probeChannel: "\(settings.prefix):probe:\(node):\(index)",
                probeInterval: settings.probeInterval,
                timeout: settings.requestTimeout,
                logger: logger
            ) { [hub] event in
                RedisEngine.handle(event, streams: streams, node: node, hub: hub, delivery: deliveryBox.withLock { $0 }) {
                    presenceWork.continuation.yield(.reregister(shard: index))
                }
            }
            return Shard(client: client, streams: streams, presence: RedisPresence(client: client, prefix: settings.prefix), subscriber: subscriber)
        }
        self.shards = shards
        self.nodes = RedisNodes(client: shards[0].client, prefix: settings.prefix)
        self.delivery = DeliveryCursors(hub: hub, logger: logger) { channel, offset, limit throws(EngineError) in
            let shard = shards[RedisEngine.shardIndex(of: channel, shards: shards.count)]
            do throws(RedisError) {
                return try await shard.streams.publications(of: channel, after: offset, limit: limit)
            } catch {
                throw RedisEngine.engineError(error)
            }
        }
        self.presenceWork = presenceWork
        deliveryBox.withLock { [delivery] in $0 = delivery }
    }

    /// What a shard's pub/sub connection reports, on its event loop.
    private static func handle(
        _ event: RedisSubscriber.Event,
        streams: RedisStreams,
        node: String,
        hub: Hub,
        delivery: DeliveryCursors?,
        reregister: () -> Void
    ) {
        guard let delivery else { return }
        switch event {
        case .connected:
            // What was published while this node did not listen: catch up from the streams.
            delivery.catchUpAll()
            // Redis may have come back without its data: write this node's presence again.
            reregister()
        case .message(let name, let payload):
            guard let channel = streams.channel(ofPubSubChannel: String(buffer: name)) else { return }
            if let first = payload.getInteger(at: payload.readerIndex, as: UInt8.self), first == UInt8(ascii: "j") || first == UInt8(ascii: "l") {
                guard let event = PresenceEvent(payload: String(buffer: payload)), event.node != node else { return }
                switch event.kind {
                case .join: hub.deliverJoin(event.info, to: channel)
                case .leave: hub.deliverLeave(event.info, to: channel)
                }
            } else if let (offset, epoch, publication) = RedisStreams.parseMessage(payload) {
                delivery.heard(offset, epoch: epoch, in: channel, carrying: publication)
            }
        }
    }

    /// The shard of a channel: FNV-1a (64 bits) of its name, mapped to a shard by Lamping and
    /// Veach's jump consistent hash, so that adding a shard moves only a share of the channels.
    public static func shardIndex(of channel: String, shards: Int) -> Int {
        guard shards > 1 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in channel.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        var bucket: Int64 = -1
        var next: Int64 = 0
        while next < Int64(shards) {
            bucket = next
            hash = hash &* 2_862_933_555_777_941_757 &+ 1
            next = Int64(Double(bucket + 1) * (Double(Int64(1) << 31) / Double((hash >> 33) + 1)))
        }
        return Int(bucket)
    }

    func shard(_ channel: String) -> Shard { self.shards[Self.shardIndex(of: channel, shards: self.shards.count)] }

    /// Ready while every shard takes commands and this node's pub/sub connection to it delivers.
    public var status: EngineStatus {
        for shard in self.shards {
            if case .disconnected(let reason) = shard.client.status { return .unavailable("Redis is unreachable: \(reason)") }
            if case .unavailable(let reason) = shard.subscriber.status { return .unavailable(reason) }
        }
        return .ready
    }

    // MARK: Publishing

    /// Publish through the channel's shard; every node subscribed to it (this one included)
    /// delivers it when Redis sends it. Fails at once while the shard is unreachable, and after the
    /// request timeout otherwise (the publication may then still be published).
    public func publish(
        _ publication: Publication,
        to channel: String,
        options: Switchboard.ChannelOptions,
        storeInHistory: Bool = true
    ) async throws(EngineError) -> (publication: Publication, epoch: String?) {
        let keep = storeInHistory && options.keepsHistory
        let (published, epoch) = try await self.redis("publish") { () throws(RedisError) in
            try await self.shard(channel).streams.publish(
                publication,
                to: channel,
                historySize: options.keepsHistory ? options.historySize : 0,
                historyTTL: options.keepsHistory ? options.historyTTL : .zero,
                inHistory: keep
            )
        }
        self.hub.counters.recordSent(.publication)
        return (published, keep ? epoch : nil)
    }

    /// Run a Redis call for a client's request, turning its failure into the engine's error (and logging it).
    func redis<T>(_ what: String, _ body: () async throws(RedisError) -> T) async throws(EngineError) -> T {
        do throws(RedisError) {
            return try await body()
        } catch {
            let failure = Self.engineError(error)
            let metadata: Logger.Metadata = ["call": "\(what)", "error": "\(error.message)"]
            if failure.isTemporary {
                self.logger.warning("Redis call failed", metadata: metadata)
            } else {
                self.logger.error("Redis call refused", metadata: metadata)
            }
            throw EngineError("\(what) failed: \(failure.message)", kind: failure.kind)
        }
    }

    /// Unreachable, slow, loading or read-only (a replica during failover) is temporary; any other
    /// error reply of Redis is a refusal.
    static func engineError(_ error: RedisError) -> EngineError {
        let temporary: Set<String> = ["LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"]
        if let code = error.code, !temporary.contains(code) { return EngineError(error.message, kind: .internal) }
        return EngineError(error.message, kind: .unavailable)
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
        let shard = self.shard(channel)
        return try await self.delivery.subscribe(channel, options: options, subscriber: subscriber, reply: reply) { () throws(EngineError) in
            try await self.redis("subscribe") { () throws(RedisError) in
                // Subscribed before reading, so whatever the read misses is heard.
                try await shard.subscriber.ensure(shard.streams.pubSubChannel(channel))
                let read = try await shard.streams.history(of: channel, startingStream: options.keepsHistory)
                let outcome = Hub.SubscribeOutcome(read: read, options: options, recoverFrom: recoverFrom)
                // A subscriber refused for what it missed never joins.
                if subscriber.keepsPresenceEntry(in: options), !Hub.refuses(subscriber, outcome) {
                    try await shard.presence.add(
                        subscriber.info,
                        to: channel,
                        node: self.node,
                        farewell: Farewell(of: subscriber, in: options),
                        announcing: options.joinLeave ? PresenceEvent(kind: .join, node: self.node, channel: channel, info: subscriber.info) : nil,
                        on: shard.streams.pubSubChannel(channel)
                    )
                }
                return (read.position, outcome)
            }
        } abandoned: { afterRead in
            // It left while Redis was read, perhaps after its entry was written: remove it.
            if afterRead, subscriber.keepsPresenceEntry(in: options) {
                self.presenceWork.continuation.yield(.remove(channel: channel, info: subscriber.info))
            }
            self.forget(channel)
        }
    }

    public func unsubscribe(_ channel: String, client: String) {
        guard let (subscriber, options) = self.hub.leave(channel, client: client) else { return }
        // The farewell goes out when the entry is removed (once: whoever removes it publishes it).
        if subscriber.keepsPresenceEntry(in: options) { self.presenceWork.continuation.yield(.remove(channel: channel, info: subscriber.info)) }
        self.forget(channel)
    }

    /// The last local subscriber left: stop following the channel and its pub/sub channel (unless
    /// a subscriber arrived meanwhile).
    private func forget(_ channel: String) {
        guard !self.hub.hasSubscribers(channel) else { return }
        self.delivery.release(channel)
        let shard = self.shard(channel)
        shard.subscriber.release(shard.streams.pubSubChannel(channel)) { self.hub.hasSubscribers(channel) }
    }

    // MARK: Reading

    public func presence(_ channel: String) async throws(EngineError) -> [ClientInfo] {
        try await self.redis("presence") { () throws(RedisError) in try await self.shard(channel).presence.members(of: channel) }
    }

    public func presenceStats(_ channel: String) async throws(EngineError) -> (clients: Int, users: Int) {
        try await self.redis("presence_stats") { () throws(RedisError) in try await self.shard(channel).presence.stats(of: channel) }
    }

    public func history(
        _ channel: String,
        options: Switchboard.ChannelOptions,
        since: StreamPosition?,
        limit: Int,
        reverse: Bool
    ) async throws(EngineError) -> Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError> {
        let read = try await self.redis("history") { () throws(RedisError) in
            try await self.shard(channel).streams.history(of: channel, startingStream: true)
        }
        guard let position = read.position else { throw EngineError("history failed: the channel's stream did not start", kind: .internal) }
        return HistoryStream.select(from: read.publications, position: position, since: since, limit: limit, reverse: reverse)
            .map { ($0, position) }
    }

    public func removeHistory(_ channel: String) async throws(EngineError) {
        try await self.redis("history_remove") { () throws(RedisError) in try await self.shard(channel).streams.removeHistory(of: channel) }
    }

    // MARK: Nodes

    public func shareNodeInfo(_ report: @escaping @Sendable () -> NodeInfo) {
        self.nodeReport.withLock { $0 = report }
    }

    /// The other nodes that heartbeat within the node TTL, as their last heartbeat reported them.
    public func otherNodes() async throws(EngineError) -> [NodeInfo] {
        let rows = try await self.redis("info") { () throws(RedisError) in try await self.nodes.others(than: self.node, ttl: self.settings.nodeTTL) }
        return rows.compactMap { row in
            (try? JSONValue.parse(row.info)).flatMap { NodeInfo(json: $0, since: row.age) }
        }
    }
}
