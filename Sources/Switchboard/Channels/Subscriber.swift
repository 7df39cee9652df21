/// A connection subscribed to a channel, as the hub sees it: who it is and where its messages go.
public struct Subscriber: Sendable {
    /// How a subscriber wants a channel's events framed.
    public enum Format: Sendable, Equatable {
        /// Centrifugo protocol pushes (JSON): publications, joins and leaves.
        case protocolPush
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

    public init(info: ClientInfo, outbox: Outbox, format: Format = .protocolPush) {
        self.info = info
        self.outbox = outbox
        self.format = format
    }

    /// The client id.
    public var client: String { self.info.client }
}
