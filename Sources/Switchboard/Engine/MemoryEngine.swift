/// The default engine: everything lives in this process's ``Hub`` (one node, nothing to install).
/// Every call completes at once and never fails.
public struct MemoryEngine: Engine {
    /// Where every channel's subscribers, presence and history live.
    public let hub: Hub

    /// An engine on a hub of its own, by default.
    public init(hub: Hub = Hub()) {
        self.hub = hub
    }

    public var status: EngineStatus { .ready }

    public var immediateHub: Hub? { self.hub }

    public func publish(
        _ publication: Publication,
        to channel: String,
        options: ChannelOptions,
        storeInHistory: Bool
    ) async throws(EngineError) -> (publication: Publication, epoch: String?) {
        self.hub.publish(channel, options: options, publication: publication, storeInHistory: storeInHistory)
    }

    public func subscribe(
        _ channel: String,
        options: ChannelOptions,
        subscriber: Subscriber,
        recoverFrom: StreamPosition?,
        reply: (Hub.SubscribeOutcome) -> OutboundMessage?
    ) async throws(EngineError) -> Hub.SubscribeOutcome? {
        self.hub.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom, reply: reply)
    }

    public func unsubscribe(_ channel: String, client: String) {
        guard let (subscriber, options) = self.hub.leave(channel, client: client), let farewell = subscriber.farewell else { return }
        self.hub.publish(channel, options: options, publication: Publication(data: farewell))
    }

    public func presence(_ channel: String) async throws(EngineError) -> [ClientInfo] {
        self.hub.presence(channel)
    }

    public func presenceStats(_ channel: String) async throws(EngineError) -> (clients: Int, users: Int) {
        self.hub.presenceStats(channel)
    }

    public func history(
        _ channel: String,
        options: ChannelOptions,
        since: StreamPosition?,
        limit: Int,
        reverse: Bool
    ) async throws(EngineError) -> Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError> {
        self.hub.history(channel, options: options, since: since, limit: limit, reverse: reverse)
    }

    public func removeHistory(_ channel: String) async throws(EngineError) {
        self.hub.removeHistory(channel)
    }

    /// Drops expired history and forgets idle channels every few seconds, until cancelled.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            self.hub.sweep()
        }
    }
}
