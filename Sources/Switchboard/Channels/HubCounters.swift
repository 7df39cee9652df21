import Synchronization

/// What a node's ``Hub`` has fanned out since it started, by kind of event: counted once per
/// event (a publication, a join, a leave), never per recipient, with one relaxed atomic add each,
/// so counting costs the fan-out path nothing measurable. Always on; the server's `/metrics`
/// reads them when scraped (`centrifugo_node_messages_sent_count` and `_received_count`).
///
/// *Sent* counts what this node put into its engine (a publication, the join or leave of one of
/// its subscribers); *received* counts what this node's hub got from the engine and fanned out to
/// its local subscribers. With the memory engine both sides are this hub, so every event counts
/// once in each, as in Centrifugo with its memory broker; with an engine that spans nodes the
/// engine counts its sends (``recordSent(_:)``) and each node counts what it delivers.
public final class HubCounters: Sendable {
    /// A kind of channel event, the `type` label of the metrics.
    public enum Kind: Int, Sendable, CaseIterable {
        case publication, join, leave

        /// The label value (`publication`, `join`, `leave`), as Centrifugo names them.
        public var label: String {
            switch self {
            case .publication: "publication"
            case .join: "join"
            case .leave: "leave"
            }
        }
    }

    private let sentPublications = Atomic<Int>(0)
    private let sentJoins = Atomic<Int>(0)
    private let sentLeaves = Atomic<Int>(0)
    private let receivedPublications = Atomic<Int>(0)
    private let receivedJoins = Atomic<Int>(0)
    private let receivedLeaves = Atomic<Int>(0)

    /// Counters at zero.
    public init() {}

    /// This node sent an event of this kind into its engine.
    @inline(__always)
    public func recordSent(_ kind: Kind) {
        switch kind {
        case .publication: self.sentPublications.add(1, ordering: .relaxed)
        case .join: self.sentJoins.add(1, ordering: .relaxed)
        case .leave: self.sentLeaves.add(1, ordering: .relaxed)
        }
    }

    /// This node's hub got an event of this kind from the engine.
    @inline(__always)
    public func recordReceived(_ kind: Kind) {
        switch kind {
        case .publication: self.receivedPublications.add(1, ordering: .relaxed)
        case .join: self.receivedJoins.add(1, ordering: .relaxed)
        case .leave: self.receivedLeaves.add(1, ordering: .relaxed)
        }
    }

    /// An event that starts and ends in this hub (the memory engine): sent and received.
    @inline(__always)
    func recordLocal(_ kind: Kind) {
        self.recordSent(kind)
        self.recordReceived(kind)
    }

    /// Events of this kind sent so far.
    public func sentCount(_ kind: Kind) -> Int {
        switch kind {
        case .publication: self.sentPublications.load(ordering: .relaxed)
        case .join: self.sentJoins.load(ordering: .relaxed)
        case .leave: self.sentLeaves.load(ordering: .relaxed)
        }
    }

    /// Events of this kind received so far.
    public func receivedCount(_ kind: Kind) -> Int {
        switch kind {
        case .publication: self.receivedPublications.load(ordering: .relaxed)
        case .join: self.receivedJoins.load(ordering: .relaxed)
        case .leave: self.receivedLeaves.load(ordering: .relaxed)
        }
    }
}
