import Synchronization

/// The channels of one node: who is subscribed to what, each channel's stream and history, and
/// fan-out of publications, joins and leaves into subscribers' outboxes.
///
/// Every call returns without waiting on a client: fan-out only enqueues. Each channel has its own
/// lock, and everything a channel sends is enqueued under it, so every subscriber sees a channel's
/// events in one order, offsets increasing. A message for one channel is framed once per
/// ``Subscriber/Format`` and the bytes are shared by every recipient.
///
/// The hub checks no permissions: the client protocol (``ClientSession``) does that before calling
/// it, and the server API is trusted.
public final class Hub: Sendable {
    /// What ``subscribe(_:options:subscriber:recoverFrom:reply:)`` found.
    public struct SubscribeOutcome: Sendable, Equatable {
        /// The stream's position after subscribing; `nil` when the channel keeps no history.
        public var position: StreamPosition?
        /// The publications missed since `recoverFrom` (empty unless recovered).
        public var publications: [Publication] = []
        /// Whether the subscriber asked to recover.
        public var wasRecovering = false
        /// Whether every publication after `recoverFrom` was still in history and is in ``publications``.
        public var recovered = false

        /// An outcome; every parameter is the field of the same name.
        public init(position: StreamPosition? = nil, publications: [Publication] = [], wasRecovering: Bool = false, recovered: Bool = false) {
            self.position = position
            self.publications = publications
            self.wasRecovering = wasRecovering
            self.recovered = recovered
        }
    }

    /// What a subscriber between ``beginSubscribe(_:options:subscriber:)`` and
    /// ``completeSubscribe(_:client:outcome:reply:)`` is sent meanwhile, held back.
    struct Held {
        /// The publication's offset, or `nil` for a join or leave.
        var offset: UInt64?
        var message: OutboundMessage
    }

    /// A channel's live state.
    struct ChannelState: ~Copyable {
        var options: ChannelOptions
        /// Every subscriber, by client id. Changed only by ``add(_:)`` and ``drop(_:)``, which keep
        /// ``targets`` in step.
        var subscribers: [String: Subscriber] = [:]
        /// What fan-out needs of each subscriber, in one array (Hub+FanOut.swift).
        var targets: [FanOutTarget] = []
        /// Each subscriber's place in ``targets``.
        var targetSlots: [String: Int] = [:]
        /// Subscribers whose subscribe is not complete, and what the channel sent them meanwhile.
        var held: [String: [Held]] = [:]
        /// Subscribers completed at a position this node may not have delivered up to yet: they skip
        /// publications at or below it (until the first one above it).
        var floors: [String: UInt64] = [:]
        /// Subscribers that negotiated delta compression, and whether each must get the next
        /// publication whole (Hub+Delta.swift).
        var deltaSubscribers: [String: Bool] = [:]
        /// The last publication's data, the next one's delta base, while there are delta subscribers.
        var previousData: String?
        var stream: HistoryStream?
        /// The channel was removed from the hub's table; whoever holds it must look it up again.
        var removed = false

        init(options: ChannelOptions) {
            self.options = options
        }

        var isIdle: Bool { self.subscribers.isEmpty && (self.stream?.count ?? 0) == 0 }

        /// Run `body` on the channel's stream, in place, starting the stream on first use.
        mutating func withStream<R>(_ body: (inout HistoryStream) -> R) -> R {
            if self.stream == nil { self.stream = HistoryStream() }
            return body(&self.stream!)
        }
    }

    private final class Channel: Sendable {
        let state: Mutex<ChannelState>

        init(options: ChannelOptions) {
            self.state = Mutex(ChannelState(options: options))
        }
    }

    private let channels = Mutex<[String: Channel]>([:])
    /// Publications, joins and leaves fanned out so far (read by the server's `/metrics`).
    public let counters = HubCounters()
    private let now: @Sendable () -> ContinuousClock.Instant

    /// Create a hub.
    ///
    /// - Parameter now: The clock history expiry uses (tests pass their own).
    public init(now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
    }

    // MARK: Subscriptions

    /// Subscribe a connection to a channel, recovering what it missed if asked.
    ///
    /// Under the channel's lock, `reply` builds the subscriber's answer from the outcome, which goes
    /// into its outbox before anything the channel publishes afterwards; then the others get a join
    /// if the channel pushes them. A subscriber already subscribed under the same client id is replaced.
    ///
    /// - Parameters:
    ///   - recoverFrom: The last position the subscriber saw, to get the publications after it.
    ///   - reply: The message to queue for the subscriber first, or `nil` for none.
    @discardableResult
    public func subscribe(
        _ channel: String,
        options: ChannelOptions,
        subscriber: Subscriber,
        recoverFrom: StreamPosition? = nil,
        reply: (SubscribeOutcome) -> OutboundMessage? = { _ in nil }
    ) -> SubscribeOutcome {
        let now = self.now()
        return self.withChannel(channel, creatingWith: options) { state in
            state.options = options
            var outcome = SubscribeOutcome()
            if options.keepsHistory {
                state.withStream { stream in
                    if let recoverFrom {
                        outcome.wasRecovering = true
                        if let missed = stream.publications(after: recoverFrom, now: now, size: options.historySize) {
                            outcome.publications = missed
                            outcome.recovered = true
                        }
                    }
                    outcome.position = stream.position
                }
            } else if recoverFrom != nil {
                outcome.wasRecovering = true
            }
            if let message = reply(outcome) { _ = subscriber.outbox.reply(message) }
            if Self.refuses(subscriber, outcome) { return outcome }
            state.add(subscriber)
            state.held[subscriber.client] = nil
            state.floors[subscriber.client] = nil
            if options.joinLeave {
                self.counters.recordLocal(.join)
                Self.fanOut(to: state.targets, held: &state.held, floors: &state.floors, except: subscriber.client, push: .join(subscriber.info), channel: channel, joinLeave: state.options)
            }
            return outcome
        }!
    }

    /// First half of a subscribe whose outcome comes from elsewhere, for engines that keep streams
    /// outside the hub and read them asynchronously (see docs/SCALE-OUT.md).
    ///
    /// The subscriber is in the channel (and its presence) from now on, but whatever the channel
    /// sends it is held back until ``completeSubscribe(_:client:outcome:reply:)``. Read the stream's
    /// position and the publications to recover only after this returns: then everything delivered
    /// before it is at or below that position, and everything after it is held.
    public func beginSubscribe(_ channel: String, options: ChannelOptions, subscriber: Subscriber) {
        self.withChannel(channel, creatingWith: options) { state in
            state.options = options
            state.add(subscriber)
            state.held[subscriber.client] = []
        }
    }

    /// Second half of ``beginSubscribe(_:options:subscriber:)``: queue `reply(outcome)` for the
    /// subscriber, then the held-back publications above the outcome's position (those at or below
    /// it are in the outcome or came before the subscriber's position) and the held joins and leaves;
    /// from then on it gets the channel's events directly, and the others get its join.
    ///
    /// - Returns: `false` if the subscriber left in between (nothing is queued then).
    @discardableResult
    public func completeSubscribe(
        _ channel: String,
        client: String,
        outcome: SubscribeOutcome,
        reply: (SubscribeOutcome) -> OutboundMessage?
    ) -> Bool {
        self.withChannel(channel) { state -> Bool in
            guard let subscriber = state.subscribers[client], let held = state.held.removeValue(forKey: client) else { return false }
            if let message = reply(outcome) { _ = subscriber.outbox.reply(message) }
            if Self.refuses(subscriber, outcome) {
                // Nobody was told of it: gone without a leave.
                _ = state.drop(client)
                return true
            }
            let top = outcome.position?.offset ?? 0
            var passedTop = false
            for entry in held where entry.offset.map({ $0 > top }) ?? true {
                if entry.offset != nil { passedTop = true }
                _ = subscriber.outbox.enqueue(entry.message)
            }
            // A node catching up may still deliver offsets the outcome covers.
            if top > 0, !passedTop { state.floors[client] = top }
            if state.options.joinLeave {
                self.counters.recordLocal(.join)
                Self.fanOut(to: state.targets, held: &state.held, floors: &state.floors, except: client, push: .join(subscriber.info), channel: channel, joinLeave: state.options)
            }
            return true
        } ?? false
    }

    /// Whether a subscriber that asked to be refused rather than subscribed without what it missed
    /// (``Subscriber/refuseUnrecovered``) is refused by this outcome.
    public static func refuses(_ subscriber: Subscriber, _ outcome: SubscribeOutcome) -> Bool {
        subscriber.refuseUnrecovered && outcome.wasRecovering && !outcome.recovered
    }

    /// Remove a connection from a channel; the others get a leave if the channel pushes them.
    ///
    /// - Returns: Whether it was subscribed.
    @discardableResult
    public func unsubscribe(_ channel: String, client: String) -> Bool {
        self.leave(channel, client: client) != nil
    }

    /// ``unsubscribe(_:client:)``, telling what left.
    ///
    /// - Returns: The subscriber and the channel's options, or `nil` if it was not subscribed.
    public func leave(_ channel: String, client: String) -> (subscriber: Subscriber, options: ChannelOptions)? {
        self.remove(client, from: channel, announce: true)
    }

    /// Undo a ``beginSubscribe(_:options:subscriber:)`` that cannot complete, telling nobody (its
    /// join was never sent).
    public func abandonSubscribe(_ channel: String, client: String) {
        self.remove(client, from: channel, announce: false)
    }

    @discardableResult
    private func remove(_ client: String, from channel: String, announce: Bool) -> (subscriber: Subscriber, options: ChannelOptions)? {
        let left = self.withChannel(channel) { state -> (subscriber: Subscriber, options: ChannelOptions)? in
            guard let subscriber = state.drop(client) else { return nil }
            state.held[client] = nil
            state.floors[client] = nil
            if announce, state.options.joinLeave {
                self.counters.recordLocal(.leave)
                Self.fanOut(to: state.targets, held: &state.held, floors: &state.floors, except: nil, push: .leave(subscriber.info), channel: channel, joinLeave: state.options)
            }
            return (subscriber, state.options)
        } ?? nil
        self.removeIfIdle(channel)
        return left
    }

    // MARK: Publishing

    /// Publish into a channel: give the publication an offset if the channel keeps history, keep
    /// it there, and enqueue it for every subscriber.
    ///
    /// - Returns: The publication as sent (with its offset) and the stream's epoch (`nil` without history).
    /// - Parameter storeInHistory: `false` sends the publication without keeping it or giving it an offset.
    @discardableResult
    public func publish(
        _ channel: String,
        options: ChannelOptions,
        publication: Publication,
        storeInHistory: Bool = true
    ) -> (Publication, epoch: String?) {
        let now = self.now()
        return self.withChannel(channel, creatingWith: options) { state in
            state.options = options
            var publication = publication
            var epoch: String?
            if options.keepsHistory && storeInHistory {
                (publication, epoch) = state.withStream { stream in
                    (stream.append(publication, size: options.historySize, ttl: options.historyTTL, now: now), stream.epoch)
                }
            }
            self.counters.recordLocal(.publication)
            Self.fanOut(publication, channel: channel, in: &state)
            return (publication, epoch)
        }!
    }

    /// Send subscribers a publication that already has its place in the stream, for engines that
    /// keep streams outside the hub: they call this on every node, per channel in offset order and
    /// once per publication (see docs/SCALE-OUT.md). A channel with no subscribers here ignores it.
    ///
    /// In a channel that keeps no history the publication goes out without its offset, as
    /// ``publish(_:options:publication:storeInHistory:)`` sends it.
    public func deliver(_ publication: Publication, to channel: String) {
        self.counters.recordReceived(.publication)
        self.withChannel(channel) { state in
            guard state.options.keepsHistory || publication.offset == 0 else {
                var bare = publication
                bare.offset = 0
                return Self.fanOut(bare, channel: channel, in: &state)
            }
            Self.fanOut(publication, channel: channel, in: &state)
        }
    }

    /// Send subscribers a join that happened on another node (for engines that span nodes), if the
    /// channel pushes joins.
    public func deliverJoin(_ info: ClientInfo, to channel: String) {
        self.counters.recordReceived(.join)
        self.withChannel(channel) { state in
            guard state.options.joinLeave else { return }
            Self.fanOut(to: state.targets, held: &state.held, floors: &state.floors, except: info.client, push: .join(info), channel: channel, joinLeave: state.options)
        }
    }

    /// Send subscribers a leave that happened on another node (for engines that span nodes), if the
    /// channel pushes leaves.
    public func deliverLeave(_ info: ClientInfo, to channel: String) {
        self.counters.recordReceived(.leave)
        self.withChannel(channel) { state in
            guard state.options.joinLeave else { return }
            Self.fanOut(to: state.targets, held: &state.held, floors: &state.floors, except: info.client, push: .leave(info), channel: channel, joinLeave: state.options)
        }
    }

    /// This node found that publications of a channel were lost before it delivered them: close
    /// the connections of subscribers that track the stream's position with 3010 (insufficient
    /// state), so that they reconnect and recover (or learn that they cannot).
    public func insufficientState(_ channel: String) {
        let outboxes = self.withChannel(channel) { state in
            state.subscribers.values.filter(\.tracksPosition).map(\.outbox)
        } ?? []
        for outbox in outboxes { outbox.finish(closing: Disconnect.insufficientState) }
    }

    // MARK: Reading

    /// The channel's subscribers' identities (presence).
    public func presence(_ channel: String) -> [ClientInfo] {
        self.withChannel(channel) { $0.subscribers.values.map(\.info) } ?? []
    }

    /// Number of subscribers and of distinct users among them.
    public func presenceStats(_ channel: String) -> (clients: Int, users: Int) {
        self.withChannel(channel) { state in
            (state.subscribers.count, Set(state.subscribers.values.map(\.info.user)).count)
        } ?? (0, 0)
    }

    /// The channel's history; see ``HistoryStream/query(since:limit:reverse:now:size:)``.
    ///
    /// - Returns: The publications and the stream's position (offset 0 and a new epoch for a channel
    ///   that has never been published to).
    public func history(
        _ channel: String,
        options: ChannelOptions,
        since: StreamPosition?,
        limit: Int,
        reverse: Bool
    ) -> Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError> {
        let now = self.now()
        return self.withChannel(channel, creatingWith: options) { state in
            state.withStream { stream in
                stream.query(since: since, limit: limit, reverse: reverse, now: now, size: options.historySize).map { ($0, stream.position) }
            }
        }!
    }

    /// Forget a channel's retained publications (its epoch and offsets carry on).
    public func removeHistory(_ channel: String) {
        self.withChannel(channel) { $0.stream?.removeAll() }
        self.removeIfIdle(channel)
    }

    /// Channels with at least one subscriber, with their subscriber counts.
    public func activeChannels() -> [String: Int] {
        let all = self.channels.withLock { $0 }
        var result: [String: Int] = [:]
        for (name, channel) in all {
            let count = channel.state.withLock { $0.removed ? 0 : $0.subscribers.count }
            if count > 0 { result[name] = count }
        }
        return result
    }

    /// Whether the channel has subscribers on this node (complete or not), without counting users
    /// as ``presenceStats(_:)`` does: engines ask it on every unsubscribe.
    public func hasSubscribers(_ channel: String) -> Bool {
        self.withChannel(channel) { !$0.subscribers.isEmpty } ?? false
    }

    /// A channel's options and its subscribers whose subscribe is complete, for engines that keep
    /// presence elsewhere and must write it again (after their store lost it); `nil` for a channel
    /// with no subscribers here.
    public func completedSubscribers(of channel: String) -> (options: ChannelOptions, subscribers: [Subscriber])? {
        self.withChannel(channel) { state -> (options: ChannelOptions, subscribers: [Subscriber])? in
            let completed = state.subscribers.filter { state.held[$0.key] == nil }.map(\.value)
            return completed.isEmpty ? nil : (state.options, completed)
        } ?? nil
    }

    /// Drop expired history and forget channels with neither subscribers nor history. Call it now
    /// and then (the server does every few seconds).
    public func sweep() {
        let now = self.now()
        let all = self.channels.withLock { $0 }
        for (name, channel) in all {
            channel.state.withLock { state in
                let size = state.options.historySize
                state.stream?.trim(size: size, now: now)
            }
            self.removeIfIdle(name)
        }
    }

    // MARK: Table

    /// Run `body` on a channel's state under its lock, creating the channel if `options` is given.
    ///
    /// - Returns: What `body` returned, or `nil` if the channel does not exist and was not created.
    private func withChannel<R>(_ name: String, creatingWith options: ChannelOptions? = nil, _ body: (inout ChannelState) -> R) -> R? {
        while true {
            let channel = self.channels.withLock { table -> Channel? in
                if let existing = table[name] { return existing }
                guard let options else { return nil }
                let created = Channel(options: options)
                table[name] = created
                return created
            }
            guard let channel else { return nil }
            let result: R? = channel.state.withLock { state in state.removed ? nil : body(&state) }
            if let result { return result }
            // Removed between the lookup and the lock: look it up again.
        }
    }

    /// Remove a channel that has no subscribers and no history left.
    private func removeIfIdle(_ name: String) {
        self.channels.withLock { table in
            guard let channel = table[name] else { return }
            let idle = channel.state.withLock { state in
                guard state.isIdle else { return false }
                state.removed = true
                return true
            }
            if idle { table[name] = nil }
        }
    }
}
