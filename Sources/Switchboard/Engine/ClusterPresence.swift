/// What engines that span nodes share about presence: entries with their farewells, and the joins
/// and leaves they announce (``PresenceEvent``).

/// A client's presence in a channel, as an engine that spans nodes removes it from where it keeps presence.
public struct PresenceEntry: Sendable, Equatable {
    /// The channel the client was in.
    public var channel: String
    /// Who the client was.
    public var info: ClientInfo
    /// What to publish into the channel now that the client has left, if anything.
    public var farewell: Farewell?

    /// An entry; every parameter is the field of the same name.
    public init(channel: String, info: ClientInfo, farewell: Farewell? = nil) {
        self.channel = channel
        self.info = info
        self.farewell = farewell
    }
}

/// The publication a subscriber leaves behind (``Subscriber/farewell``), with what publishing it
/// needs from the channel's options, so that any node can publish it when the subscriber's node dies.
public struct Farewell: Sendable, Equatable {
    /// The publication's data (JSON text).
    public var data: String
    /// The channel's history size (its namespace's `history_size`).
    public var historySize: Int
    /// How long the channel keeps history (its namespace's `history_ttl`).
    public var historyTTL: Duration

    /// A farewell; every parameter is the field of the same name.
    public init(data: String, historySize: Int, historyTTL: Duration) {
        self.data = data
        self.historySize = historySize
        self.historyTTL = historyTTL
    }
}

extension Farewell {
    /// The farewell a subscriber leaves in a channel with these options, if it has one.
    public init?(of subscriber: Subscriber, in options: ChannelOptions) {
        guard let data = subscriber.farewell else { return nil }
        self.init(
            data: data,
            historySize: options.keepsHistory ? options.historySize : 0,
            historyTTL: options.keepsHistory ? options.historyTTL : .zero
        )
    }

    /// Whether publishing it keeps it in history.
    public var inHistory: Bool { self.historySize > 0 && self.historyTTL > .zero }
}

extension ChannelOptions {
    /// Whether an engine that spans nodes keeps the channel's presence where every node reads it:
    /// for channels that show presence or announce joins and leaves.
    public var sharesPresence: Bool { self.presence || self.joinLeave }
}

extension Subscriber {
    /// Whether an engine that spans nodes keeps an entry for this subscriber: when the channel
    /// shares presence, or when it has a farewell, which the entry carries until whoever removes it
    /// (its node, or any node when that one dies) publishes it.
    public func keepsPresenceEntry(in options: ChannelOptions) -> Bool {
        options.sharesPresence || self.farewell != nil
    }
}

extension Hub.SubscribeOutcome {
    /// What a subscriber gets from a read of the channel's stream (its publications and position;
    /// no position when the stream does not exist).
    public init(read: (publications: [Publication], position: StreamPosition?), options: ChannelOptions, recoverFrom: StreamPosition?) {
        self.init(position: options.keepsHistory ? read.position : nil)
        if let recoverFrom {
            self.wasRecovering = true
            if let position = read.position, let missed = HistoryStream.missed(after: recoverFrom, in: read.publications, position: position) {
                self.publications = missed
                self.recovered = true
            }
        }
    }
}
