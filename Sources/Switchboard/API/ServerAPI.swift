/// The server API in Swift: what the application's own code does with channels and connections,
/// on any engine, with the semantics of Centrifugo's HTTP server API (which is a thin JSON layer
/// over this type: `POST /api/<method>`).
///
/// ```swift
/// let result = try await switchboard.api.publish(ChatMessage(text: "hi"), to: "rooms:lobby")
/// let who = try await switchboard.api.presence("rooms:lobby")
/// ```
///
/// Every method that can fail throws a ``ProtocolError`` with the code and message the HTTP API
/// would answer with: 102 for a channel whose namespace is not configured, 107 for bad input (data
/// that is not JSON), 108 for presence or history on a channel without them, 100 (temporary) when
/// the engine cannot be reached.
public struct ServerAPI: Sendable {
    /// Channels, sessions and the engine of this node.
    public let service: ChannelService
    /// This node, as ``info()`` reports it.
    public let node: NodeIdentity

    /// The API of a channel service; `SwitchboardServer` makes one (``SwitchboardServer/api``).
    public init(service: ChannelService, node: NodeIdentity) {
        self.service = service
        self.node = node
    }

    // MARK: Publishing

    /// Publish an `Encodable` value, encoded as JSON, into a channel: every subscriber on every node
    /// gets it, and the channel's history keeps it (unless `skipHistory`).
    @discardableResult
    public func publish(
        _ value: some Encodable,
        to channel: String,
        tags: [String: String] = [:],
        skipHistory: Bool = false
    ) async throws(ProtocolError) -> PublishResult {
        try await self.publish(try Publication(encoding: value, tags: tags), to: channel, skipHistory: skipHistory)
    }

    /// Publish JSON text (made compact) into a channel. Text that is not JSON is refused (107) and
    /// reaches nobody.
    @discardableResult
    public func publish(
        json: String,
        to channel: String,
        tags: [String: String] = [:],
        skipHistory: Bool = false
    ) async throws(ProtocolError) -> PublishResult {
        try await self.publish(try Publication(json: json, tags: tags), to: channel, skipHistory: skipHistory)
    }

    /// Publish a publication made with ``Publication/init(json:tags:)``,
    /// ``Publication/init(encoding:tags:)`` or ``Publication/init(_:tags:)``.
    @discardableResult
    public func publish(_ publication: Publication, to channel: String, skipHistory: Bool = false) async throws(ProtocolError) -> PublishResult {
        let options = try self.service.options(for: channel).get()
        let (published, epoch) = try await Self.engine { () async throws(EngineError) in
            try await self.service.publish(publication, to: channel, options: options, storeInHistory: !skipHistory)
        }
        return PublishResult(offset: epoch != nil ? published.offset : nil, epoch: epoch)
    }

    /// Publish one publication into several channels, each on its own: the result (or error) of each,
    /// in the order of `channels`.
    public func broadcast(_ publication: Publication, to channels: [String], skipHistory: Bool = false) async -> [Result<PublishResult, ProtocolError>] {
        var results: [Result<PublishResult, ProtocolError>] = []
        for channel in channels {
            do throws(ProtocolError) {
                results.append(.success(try await self.publish(publication, to: channel, skipHistory: skipHistory)))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }

    // MARK: Presence and history

    /// Who is subscribed to a channel, on every node. The namespace must keep presence.
    public func presence(_ channel: String) async throws(ProtocolError) -> [ClientInfo] {
        _ = try self.options(channel, offering: \.presence, "presence")
        return try await Self.engine { () async throws(EngineError) in try await self.service.engine.presence(channel) }
    }

    /// How many clients, and distinct users, are subscribed to a channel, on every node.
    public func presenceStats(_ channel: String) async throws(ProtocolError) -> PresenceStats {
        _ = try self.options(channel, offering: \.presence, "presence")
        let stats = try await Self.engine { () async throws(EngineError) in try await self.service.engine.presenceStats(channel) }
        return PresenceStats(clients: stats.clients, users: stats.users)
    }

    /// A channel's history: the publications after `since` (or the latest ones), at most `limit`
    /// (0: only the stream's position; negative: all kept), newest first when `reverse`.
    ///
    /// - Throws: 112 when `since` is not a position of the stream (another epoch, or past its end).
    public func history(
        _ channel: String,
        since: StreamPosition? = nil,
        limit: Int = 0,
        reverse: Bool = false
    ) async throws(ProtocolError) -> HistoryResult {
        let options = try self.options(channel, offering: \.keepsHistory, "history")
        let answer = try await Self.engine { () async throws(EngineError) in
            try await self.service.engine.history(channel, options: options, since: since, limit: limit, reverse: reverse)
        }
        return try ChannelService.historyResult(answer).get()
    }

    /// Forget a channel's retained publications (its epoch and offsets carry on).
    public func removeHistory(_ channel: String) async throws(ProtocolError) {
        _ = try self.options(channel, offering: \.keepsHistory, "history")
        try await Self.engine { () async throws(EngineError) in try await self.service.engine.removeHistory(channel) }
    }

    // MARK: Connections

    /// Subscribe a user's connections on this node (or only one of them, `client`) to a channel; each
    /// client learns of it by a `subscribe` push. `recoverSince` sends the publications after that
    /// position first.
    public func subscribe(user: String, to channel: String, client: String? = nil, recoverSince: StreamPosition? = nil) async throws(ProtocolError) {
        let options = try self.service.options(for: channel).get()
        for session in self.service.sessions.sessions(user: user, client: client) {
            try await Self.engine { () async throws(EngineError) in try await session.serverSubscribe(channel, options: options, recoverFrom: recoverSince) }
        }
    }

    /// End a channel's subscription of a user's connections on this node (or of one, `client`); each
    /// client learns of it by an `unsubscribe` push.
    public func unsubscribe(user: String, from channel: String, client: String? = nil) {
        for session in self.service.sessions.sessions(user: user, client: client) {
            session.serverUnsubscribe(channel)
        }
    }

    /// Close a user's connections on this node (or one of them, `client`), except the clients in
    /// `sparing`, with `reason` (3503 `force disconnect` by default).
    ///
    /// - Throws: 107 for a close code outside 3000–4999 (the codes the SDKs understand).
    public func disconnect(user: String, client: String? = nil, reason: CloseReason = Disconnect.forceDisconnect, sparing: Set<String> = []) throws(ProtocolError) {
        guard (3000...4999).contains(reason.code) else { throw .badRequest("the disconnect code must be between 3000 and 4999") }
        for session in self.service.sessions.sessions(user: user, client: client) where !sparing.contains(session.id) {
            session.disconnect(reason)
        }
    }

    /// This node's active channels and their number of local subscribers, sorted by name; with a
    /// `pattern`, only the names it matches (`*` any run of characters, `?` one).
    public func channels(matching pattern: String? = nil) -> [(channel: String, subscribers: Int)] {
        let glob = pattern.map(GlobPattern.init)
        return self.service.hub.activeChannels()
            .filter { glob?.matches($0.key) ?? true }
            .sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
    }

    /// This node: its identity, clients, users, channels, subscriptions, uptime and engine status.
    public func info() -> NodeInfo {
        let counts = self.service.sessions.counts
        let channels = self.service.hub.activeChannels()
        return NodeInfo(
            identity: self.node,
            clients: counts.clients,
            users: counts.users,
            channels: channels.count,
            subscriptions: channels.values.reduce(0, +),
            uptime: ContinuousClock.now - self.node.startedAt,
            engineStatus: self.service.engine.status
        )
    }

    /// Every live node of the cluster: this one first, then the others by name as they last
    /// reported themselves (see ``Engine/otherNodes()``). When the engine cannot say, only this
    /// node, whose engine status tells why.
    public func nodes() async -> [NodeInfo] {
        let others = (try? await self.service.engine.otherNodes()) ?? []
        return [self.info()] + others.sorted { ($0.identity.name, $0.identity.id) < ($1.identity.name, $1.identity.id) }
    }

    // MARK: Helpers

    /// The options of a channel whose namespace offers `what`, or 108.
    private func options(_ channel: String, offering enabled: KeyPath<ChannelOptions, Bool>, _ what: String) throws(ProtocolError) -> ChannelOptions {
        let options = try self.service.options(for: channel).get()
        guard options[keyPath: enabled] else { throw .notAvailable("\(what) is not enabled for '\(channel)'") }
        return options
    }

    /// Run an engine call, its failure becoming error 100 with the reason.
    private static func engine<T>(_ body: () async throws(EngineError) -> T) async throws(ProtocolError) -> T {
        do throws(EngineError) {
            return try await body()
        } catch {
            throw error.protocolError
        }
    }
}

/// Where a publication went: its offset and the stream's epoch, or `nil` for both when the channel
/// keeps no history.
public struct PublishResult: Sendable, Equatable {
    /// The publication's offset in the channel's stream.
    public var offset: UInt64?
    /// The stream's epoch (a new one when the stream starts again).
    public var epoch: String?

    /// A result with this offset and epoch.
    public init(offset: UInt64?, epoch: String?) {
        self.offset = offset
        self.epoch = epoch
    }
}

/// The number of subscribers of a channel, and of distinct users among them.
public struct PresenceStats: Sendable, Equatable {
    /// Subscribed connections.
    public var clients: Int
    /// Distinct users among them.
    public var users: Int

    /// Counts of clients and users.
    public init(clients: Int, users: Int) {
        self.clients = clients
        self.users = users
    }
}

/// Which node this is.
public struct NodeIdentity: Sendable, Equatable {
    /// A random id, new each start.
    public var id: String
    /// The node's name, as `info` reports it.
    public var name: String
    /// The server's version.
    public var version: String
    /// When the node started (for its uptime).
    public var startedAt: ContinuousClock.Instant

    /// A node identity: a fresh random id and the start time now, by default.
    public init(id: String = ClientSession.makeClientID(), name: String = "switchboard", version: String, startedAt: ContinuousClock.Instant = .now) {
        self.id = id
        self.name = name
        self.version = version
        self.startedAt = startedAt
    }
}

/// What ``ServerAPI/info()`` reports about a node.
public struct NodeInfo: Sendable, Equatable {
    /// Which node.
    public var identity: NodeIdentity
    /// Open protocol connections (after `connect`).
    public var clients: Int
    /// Distinct users among them.
    public var users: Int
    /// Channels with a subscriber on this node.
    public var channels: Int
    /// Subscriptions on this node.
    public var subscriptions: Int
    /// How long the node has run.
    public var uptime: Duration
    /// Whether the node's engine could serve (at the node's last report, for another node).
    public var engineStatus: EngineStatus

    /// A node's figures; every parameter is the field of the same name.
    public init(identity: NodeIdentity, clients: Int, users: Int, channels: Int, subscriptions: Int, uptime: Duration, engineStatus: EngineStatus = .ready) {
        self.identity = identity
        self.clients = clients
        self.users = users
        self.channels = channels
        self.subscriptions = subscriptions
        self.uptime = uptime
        self.engineStatus = engineStatus
    }
}
