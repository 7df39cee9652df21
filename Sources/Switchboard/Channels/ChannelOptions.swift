/// What a channel namespace allows and keeps. Every option is off by default: a namespace offers
/// exactly what its configuration turns on.
public struct ChannelOptions: Sendable, Equatable {
    /// Keep the list of subscribers a `presence` call returns.
    public var presence = false
    /// The channel has `join` and `leave` events: subscribers that ask for them (`join_leave` in
    /// their subscribe) get a push when someone subscribes or leaves.
    public var joinLeave = false
    /// Push `join` and `leave` to every subscriber, asked or not (with ``joinLeave``).
    public var forcePushJoinLeave = false
    /// Every subscription is recoverable (its reply carries `recoverable`, `epoch` and `offset`),
    /// not only those whose client asks (`recoverable`). Needs history.
    public var forceRecovery = false
    /// Every subscription is positioned, not only those whose client asks (`positioned`). Needs history.
    public var forcePositioning = false
    /// A channel whose name ends in `#` and user ids (`dialog#42,43`) may be subscribed, without a
    /// token, by those users only.
    public var allowUserLimitedChannels = false
    /// Most publications kept in the channel's history; 0 keeps none (no offsets, no recovery).
    public var historySize = 0
    /// How long a publication stays in history; zero keeps none.
    public var historyTTL: Duration = .zero
    /// Any connected client may publish (otherwise only the server API may).
    public var allowPublishForClient = false
    /// A client subscribed to the channel may publish into it.
    public var allowPublishForSubscriber = false
    /// Any connected client may subscribe without a subscription token.
    public var allowSubscribeForClient = false
    /// A subscriber may ask for the channel's presence.
    public var allowPresenceForSubscriber = false
    /// A subscriber may ask for the channel's history.
    public var allowHistoryForSubscriber = false
    /// Subscribing always needs a subscription token (even when ``allowSubscribeForClient`` is on).
    public var `private` = false
    /// The delta compressions a subscriber may ask for (`delta` in its subscribe). A subscription
    /// gets one only when it is also recoverable or positioned (so the channel keeps history).
    public var allowedDeltaTypes: Set<DeltaType> = []
    /// Every publication in the channel goes to subscribers that negotiated delta compression as a
    /// delta against the one before (otherwise only those published with ``Publication/delta``).
    public var deltaPublish = false

    /// Options with every feature off: no presence, no history, clients may neither subscribe nor publish.
    public init() {}

    /// Whether the channel keeps history, and so gives publications offsets and can be recovered.
    public var keepsHistory: Bool { self.historySize > 0 && self.historyTTL > .zero }
}

/// A delta compression a subscriber may negotiate: how publications are encoded against the
/// previous publication in the channel.
public enum DeltaType: String, Sendable, Hashable, CaseIterable {
    /// Fossil's delta format (``FossilDelta``), which every Centrifugo SDK applies.
    case fossil
}
