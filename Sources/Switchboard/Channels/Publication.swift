/// One message published into a channel.
public struct Publication: Sendable, Equatable {
    /// Position in the channel's stream; 0 when the channel keeps no history.
    public var offset: UInt64
    /// The application's data, as compact JSON text.
    public var data: String
    /// The publishing client, when a client published it.
    public var info: ClientInfo?
    /// Tags the publisher attached.
    public var tags: [String: String]

    public init(offset: UInt64 = 0, data: String, info: ClientInfo? = nil, tags: [String: String] = [:]) {
        self.offset = offset
        self.data = data
        self.info = info
        self.tags = tags
    }

    /// The protocol's `Publication` object.
    public var json: JSONValue {
        .object([
            "data": .raw(self.data),
            "offset": self.offset > 0 ? .integer(self.offset) : nil,
            "info": self.info?.json,
            "tags": self.tagsJSON,
        ])
    }

    /// The tags as the protocol's JSON object (keys sorted), or `nil` when there are none.
    public var tagsJSON: JSONValue? {
        self.tags.isEmpty ? nil : .object(self.tags.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .string($0.value)) })
    }
}
