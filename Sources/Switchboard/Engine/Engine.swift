/// Where a node's channels live: the link between its ``Hub`` (local subscribers and fan-out) and
/// wherever streams, history and presence are kept.
///
/// ``MemoryEngine``, the default, keeps everything in the hub: one process, nothing to install.
/// Engines that share a database between nodes (`SwitchboardPostgres`) deliver a publication through
/// every node's hub, so a subscriber on any node gets it (see docs/SCALE-OUT.md).
///
/// The client protocol, the server API and the tutorial chat use only this; the hub below it is for
/// what stays on one node (local subscribers, the channels list).
public protocol Engine: Sendable {
    /// This node's hub.
    var hub: Hub { get }

    /// The hub, when it is all there is to the engine (``MemoryEngine``): every call would complete
    /// at once, so callers on an event loop call the hub directly instead of suspending. That keeps
    /// fan-out in the loop's tick, where a burst of publications reaches each socket in one write.
    /// `nil` (the default) for engines that wait on something, such as a database.
    var immediateHub: Hub? { get }

    /// Whether the engine can serve now (for `/health`).
    var status: EngineStatus { get }

    /// Publish into a channel: every subscriber on every node gets it, in offset order.
    ///
    /// - Parameter storeInHistory: `false` sends the publication without keeping it.
    /// - Returns: The publication as sent (with its offset) and the stream's epoch (`nil` when the
    ///   channel keeps no history).
    func publish(
        _ publication: Publication,
        to channel: String,
        options: ChannelOptions,
        storeInHistory: Bool
    ) async throws(EngineError) -> (publication: Publication, epoch: String?)

    /// Subscribe a local connection, recovering from `recoverFrom` if asked. `reply` builds the
    /// message queued for the subscriber before anything published after the outcome's position.
    ///
    /// - Returns: The outcome, or `nil` if the subscriber left (``unsubscribe(_:client:)``) before it
    ///   was complete.
    func subscribe(
        _ channel: String,
        options: ChannelOptions,
        subscriber: Subscriber,
        recoverFrom: StreamPosition?,
        reply: (Hub.SubscribeOutcome) -> OutboundMessage?
    ) async throws(EngineError) -> Hub.SubscribeOutcome?

    /// Remove a local connection from a channel at once (the rest of the cluster learns of it soon
    /// after), then publish its ``Subscriber/farewell`` if it has one. An engine that spans nodes
    /// also publishes the farewells of a node's subscribers when the node shuts down or dies.
    func unsubscribe(_ channel: String, client: String)

    /// Who is subscribed to a channel, on every node.
    func presence(_ channel: String) async throws(EngineError) -> [ClientInfo]

    /// Number of subscribers to a channel and of distinct users among them, on every node.
    func presenceStats(_ channel: String) async throws(EngineError) -> (clients: Int, users: Int)

    /// The channel's history; see ``HistoryStream/query(since:limit:reverse:now:size:)``.
    func history(
        _ channel: String,
        options: ChannelOptions,
        since: StreamPosition?,
        limit: Int,
        reverse: Bool
    ) async throws(EngineError) -> Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError>

    /// Forget a channel's retained publications (its epoch and offsets carry on).
    func removeHistory(_ channel: String) async throws(EngineError)

    /// The engine's background work (listening to other nodes, heartbeats, sweeping), until the
    /// task is cancelled; then it leaves the cluster.
    func run() async

    /// Where this node's figures come from when the engine tells the rest of the cluster about it
    /// (an engine that spans nodes calls `report` at each heartbeat). Set once, before ``run()``.
    func shareNodeInfo(_ report: @escaping @Sendable () -> NodeInfo)

    /// The other live nodes of the cluster, as each last reported itself (empty on one node).
    func otherNodes() async throws(EngineError) -> [NodeInfo]
}

extension Engine {
    public var immediateHub: Hub? { nil }

    /// One node: nothing to share.
    public func shareNodeInfo(_ report: @escaping @Sendable () -> NodeInfo) {}

    /// One node: no others.
    public func otherNodes() async throws(EngineError) -> [NodeInfo] { [] }
}

/// Whether an engine can serve.
public enum EngineStatus: Sendable, Equatable {
    case ready
    /// It cannot reach what it depends on; why.
    case unavailable(String)
}

/// An engine could not do what was asked.
///
/// Either for a reason outside the request that may pass (``Kind-swift.enum/unavailable``: its
/// database is unreachable or did not answer in time; clients may retry), or because what it depends
/// on refused the request (``Kind-swift.enum/internal``: a database error with a reason; retrying
/// the same request fails the same way).
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Whether retrying may help.
    public enum Kind: Sendable, Equatable {
        /// What the engine depends on is unreachable, busy or slow: retrying later may succeed.
        case unavailable
        /// What the engine depends on refused the request; retrying will not help.
        case `internal`
    }

    /// Whether retrying may help.
    public var kind: Kind
    /// What went wrong.
    public var message: String

    /// An error; unavailable (temporary) by default.
    public init(_ message: String, kind: Kind = .unavailable) {
        self.kind = kind
        self.message = message
    }

    /// The message.
    public var description: String { self.message }

    /// Whether retrying may succeed.
    public var isTemporary: Bool { self.kind == .unavailable }

    /// The protocol error clients get: 100, internal server error, with the reason, `temporary` only
    /// for ``Kind-swift.enum/unavailable``.
    public var protocolError: ProtocolError { .internalError(self.message, temporary: self.isTemporary) }
}
