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

    /// The data (JSON text) of a publication the engine makes into the channel when this subscriber
    /// leaves it, however it leaves: unsubscribed, its connection closed, its node shut down or (on
    /// an engine that spans nodes) dead. Once, and after everything the subscriber published. The
    /// tutorial chat's "Client #N left the chat" is one. ``Hub`` itself never publishes it; engines
    /// do (``Engine/unsubscribe(_:client:)``).
    public var farewell: String?

    public init(info: ClientInfo, outbox: Outbox, format: Format = .protocolPush, farewell: String? = nil) {
        self.info = info
        self.outbox = outbox
        self.format = format
        self.farewell = farewell
    }

    /// The client id.
    public var client: String { self.info.client }
}
