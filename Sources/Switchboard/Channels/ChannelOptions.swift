/// What a channel namespace allows and keeps. Every option is off by default: a namespace offers
/// exactly what its configuration turns on.
public struct ChannelOptions: Sendable, Equatable {
    /// Keep the list of subscribers a `presence` call returns.
    public var presence = false
    /// Push `join` and `leave` to the channel's subscribers when someone subscribes or leaves.
    public var joinLeave = false
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

    public init() {}

    /// Whether the channel keeps history, and so gives publications offsets and can be recovered.
    public var keepsHistory: Bool { self.historySize > 0 && self.historyTTL > .zero }
}
