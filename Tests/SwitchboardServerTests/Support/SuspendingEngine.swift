import Switchboard
import Testing

/// The memory engine without its shortcut (``Engine/immediateHub`` is `nil`), each call suspending
/// first: the server then takes the paths it takes with a database behind the engine (the session
/// suspends its queue, the chat works through its connection's task), on a real hub.
struct SuspendingEngine: Engine {
    let memory = MemoryEngine()
    /// Every publish fails with this, as with the database unreachable (`nil`: publishes work).
    var publishFailure: EngineError?

    var hub: Hub { self.memory.hub }
    var status: EngineStatus { .ready }

    func publish(_ publication: Publication, to channel: String, options: ChannelOptions, storeInHistory: Bool) async throws(EngineError) -> (publication: Publication, epoch: String?) {
        await Task.yield()
        if let failure = self.publishFailure { throw failure }
        return try await self.memory.publish(publication, to: channel, options: options, storeInHistory: storeInHistory)
    }

    func subscribe(
        _ channel: String,
        options: ChannelOptions,
        subscriber: Subscriber,
        recoverFrom: StreamPosition?,
        reply: (Hub.SubscribeOutcome) -> OutboundMessage?
    ) async throws(EngineError) -> Hub.SubscribeOutcome? {
        await Task.yield()
        return try await self.memory.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom, reply: reply)
    }

    func unsubscribe(_ channel: String, client: String) {
        self.memory.unsubscribe(channel, client: client)
    }

    func presence(_ channel: String) async throws(EngineError) -> [ClientInfo] {
        await Task.yield()
        return try await self.memory.presence(channel)
    }

    func presenceStats(_ channel: String) async throws(EngineError) -> (clients: Int, users: Int) {
        await Task.yield()
        return try await self.memory.presenceStats(channel)
    }

    func history(
        _ channel: String,
        options: ChannelOptions,
        since: StreamPosition?,
        limit: Int,
        reverse: Bool
    ) async throws(EngineError) -> Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError> {
        await Task.yield()
        return try await self.memory.history(channel, options: options, since: since, limit: limit, reverse: reverse)
    }

    func removeHistory(_ channel: String) async throws(EngineError) {
        try await self.memory.removeHistory(channel)
    }

    func run() async {
        await self.memory.run()
    }
}

/// The engines the server's suites run against: the memory engine's shortcut and the waiting path.
enum EngineKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case immediate, suspending

    func make() -> any Engine {
        switch self {
        case .immediate: MemoryEngine()
        case .suspending: SuspendingEngine()
        }
    }

    var testDescription: String { self.rawValue }
}
