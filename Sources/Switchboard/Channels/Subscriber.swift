/// A connection subscribed to a channel, as the hub sees it: who it is and where its messages go.
public struct Subscriber: Sendable {
    /// How a subscriber wants a channel's events framed.
    public enum Format: Sendable, Equatable {
        /// Centrifugo protocol pushes in this format: publications, joins and leaves.
        case protocolPush(ProtocolFormat)
        /// The publication's data alone as a text message (a JSON string's content, any other value
        /// as JSON text); no joins or leaves. The tutorial chat's members are such subscribers.
        case plainText
    }

    /// The subscriber's identity in presence and join/leave.
    public var info: ClientInfo
    /// The subscriber's connection's outbox.
    public var outbox: Outbox
    /// How to frame what the channel sends it.
    public var format: Format

    /// The data (JSON text) of a publication the engine makes into the channel when this subscriber
    /// leaves it, however it leaves: unsubscribed, its connection closed, its node shut down or (on
    /// an engine that spans nodes) dead. Once, and after everything the subscriber published. The
    /// tutorial chat's "Client #N left the chat" is one. ``Hub`` itself never publishes it; engines
    /// do (``Engine/unsubscribe(_:client:)``).
    public var farewell: String?

    /// The subscriber asked for join and leave pushes (`join_leave`); it gets them where the channel
    /// has them (``ChannelOptions/joinLeave``). With ``ChannelOptions/forcePushJoinLeave`` every
    /// subscriber gets them.
    public var pushJoinLeave = false

    /// The subscriber tracks the stream's position (positioned or recoverable): if this node finds
    /// that publications were lost before it delivered them, the connection is closed with 3010
    /// (insufficient state), and the client recovers on reconnect.
    public var tracksPosition = false

    /// The subscriber asked to recover and would rather be refused than subscribed without the
    /// publications it missed (the SDKs' `get_state`): when the outcome is not recovered, the hub
    /// queues the reply but does not subscribe it.
    public var refuseUnrecovered = false

    /// The subscriber negotiated delta compression (Hub+Delta.swift): it gets publications that ask
    /// for it as deltas against the previous one, and (in JSON) every publication's data as a JSON
    /// string. Only for a subscriber that ``tracksPosition``, in a channel that keeps history.
    public var delta = false

    /// A subscriber who is `info`, receiving into `outbox` in `format`, leaving `farewell` (JSON text) behind if given.
    public init(info: ClientInfo, outbox: Outbox, format: Format = .protocolPush(.json), farewell: String? = nil) {
        self.info = info
        self.outbox = outbox
        self.format = format
        self.farewell = farewell
    }

    /// The client id.
    public var client: String { self.info.client }
}
