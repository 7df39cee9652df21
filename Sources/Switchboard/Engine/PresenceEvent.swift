
/// A join or leave announced to every node (PostgreSQL: on the notification channel publications
/// use; Redis: on the channel's pub/sub channel).
///
/// Its payload is `j` or `l`, the announcing node, the client's info (compact JSON, which holds no
/// tab) and the channel, separated by tabs: `j\t<node>\t<info>\t<channel>`. A leave of a node that
/// died or left the cluster comes from node `""`, so every node delivers it.
public struct PresenceEvent: Sendable, Equatable {
    /// Join or leave.
    public enum Kind: Sendable, Equatable {
        case join, leave
    }

    /// Whether the client joined or left.
    public var kind: Kind
    /// The node that announced it, which delivered it to its own subscribers already.
    public var node: String
    /// The channel joined or left.
    public var channel: String
    /// Who joined or left.
    public var info: ClientInfo

    /// An event; every parameter is the field of the same name.
    public init(kind: Kind, node: String, channel: String, info: ClientInfo) {
        self.kind = kind
        self.node = node
        self.channel = channel
        self.info = info
    }

    /// PostgreSQL refuses notification payloads of 8000 bytes or more.
    public static let maximumPayloadBytes = 7999

    /// The notification payload. Info too large for one keeps only the user and client ids (the
    /// channel's and connection's info are dropped), so the join or leave is still announced.
    public var payload: String {
        let full = self.payload(info: self.info)
        if full.utf8.count <= Self.maximumPayloadBytes { return full }
        return self.payload(info: ClientInfo(user: self.info.user, client: self.info.client))
    }

    private func payload(info: ClientInfo) -> String {
        [self.kind == .join ? "j" : "l", self.node, info.json.jsonText, self.channel].joined(separator: "\t")
    }

    /// A payload's event, or `nil` if it is not one.
    public init?(payload: String) {
        let parts = payload.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, !parts[3].isEmpty, let info = ClientInfo(jsonText: String(parts[2])) else { return nil }
        switch parts[0] {
        case "j": self.kind = .join
        case "l": self.kind = .leave
        default: return nil
        }
        self.node = String(parts[1])
        self.info = info
        self.channel = String(parts[3])
    }
}
