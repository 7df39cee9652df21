#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One message published into a channel.
///
/// Its data is always compact JSON text, which every subscriber gets as it is (JSON clients as a
/// value, Protobuf clients as the bytes): an application makes one with ``init(json:tags:)`` or
/// ``init(encoding:tags:)``, which refuse anything that is not JSON, so that no subscriber and no
/// history ever holds a payload its client cannot read.
public struct Publication: Sendable, Equatable {
    /// Position in the channel's stream; 0 when the channel keeps no history.
    public var offset: UInt64
    /// The application's data, as compact JSON text.
    public package(set) var data: String
    /// The publishing client, when a client published it.
    public var info: ClientInfo?
    /// Tags the publisher attached.
    public var tags: [String: String]
    /// The publisher asks that subscribers that negotiated delta compression get this publication
    /// as a delta against the previous one in the channel (the server API's `delta`; a namespace's
    /// ``ChannelOptions/deltaPublish`` asks it for every publication). Not kept in history:
    /// history is never sent as deltas.
    public var delta = false

    /// A publication whose `data` is known to be compact JSON text already (decoded by a format,
    /// read back from an engine). Not for applications: see ``init(json:tags:)``.
    package init(offset: UInt64 = 0, data: String, info: ClientInfo? = nil, tags: [String: String] = [:]) {
        self.offset = offset
        self.data = data
        self.info = info
        self.tags = tags
    }

    /// A publication of JSON text, made compact; text that is not JSON (plain text, a truncated
    /// document) is refused.
    ///
    /// - Throws: ``ProtocolError/badRequest(_:)`` (107) saying where the text stops being JSON.
    public init(json: String, tags: [String: String] = [:]) throws(ProtocolError) {
        do throws(JSONText.SyntaxError) {
            self.init(data: try JSONText.compact(json), tags: tags)
        } catch {
            throw .badRequest("publication data is not JSON: \(error)")
        }
    }

    /// A publication of a JSON value.
    public init(_ value: JSONValue, tags: [String: String] = [:]) {
        self.init(data: value.jsonText, tags: tags)
    }

    /// A publication of an `Encodable` value, encoded as JSON (object keys sorted, so the same value
    /// always gives the same bytes).
    ///
    /// - Throws: ``ProtocolError/badRequest(_:)`` (107) when the value cannot be encoded (a
    ///   non-finite number, say).
    public init(encoding value: some Encodable, tags: [String: String] = [:]) throws(ProtocolError) {
        self.init(try JSONValue(encoding: value), tags: tags)
    }

    /// The protocol's `Publication` object.
    public var json: JSONValue { self.json(.plain) }

    /// How the JSON format carries a publication's data.
    package enum JSONData: Sendable {
        /// As the JSON value it is.
        case plain
        /// As a JSON string holding the JSON text: what a subscription with delta compression gets
        /// when the publication is whole.
        case fullAsString
        /// A delta against the previous publication's data, as a JSON string, with `delta: true`.
        case delta(String)
    }

    /// The protocol's `Publication` object, its data carried as `data` says.
    package func json(_ data: JSONData) -> JSONValue {
        let value: JSONValue
        var isDelta = false
        switch data {
        case .plain: value = .raw(self.data)
        case .fullAsString: value = .string(self.data)
        case .delta(let patch):
            value = .string(patch)
            isDelta = true
        }
        return .object([
            "data": value,
            "offset": self.offset > 0 ? .integer(self.offset) : nil,
            "info": self.info?.json,
            "tags": self.tagsJSON,
            "delta": isDelta ? .bool(true) : nil,
        ])
    }

    /// The tags as the protocol's JSON object (keys sorted), or `nil` when there are none.
    public var tagsJSON: JSONValue? {
        self.tags.isEmpty ? nil : .object(self.tags.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .string($0.value)) })
    }
}
