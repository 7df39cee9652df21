public import NIOCore

/// A wire format of the Centrifugo client protocol: how commands are read from a connection's
/// messages and how replies and pushes are written.
///
/// - JSON (the default): one command per line of a text message; replies and pushes are text
///   messages of JSON.
/// - Protobuf: a binary message holds commands of the protocol's `client.proto`, each prefixed by
///   its length as an unsigned varint; replies and pushes are written the same way.
///
/// A connection picks its format at the handshake (``negotiate(subprotocols:query:)``) and keeps it.
public enum ProtocolFormat: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case json
    case protobuf

    /// The WebSocket subprotocol that names the format.
    public var subprotocol: String {
        switch self {
        case .json: "centrifuge-json"
        case .protobuf: "centrifuge-protobuf"
        }
    }

    public var description: String {
        switch self {
        case .json: "JSON"
        case .protobuf: "Protobuf"
        }
    }

    /// The format a WebSocket handshake asks for, and the subprotocol to answer it with (`nil` when
    /// the client offered none of the protocol's subprotocols).
    ///
    /// The subprotocols `centrifuge-protobuf` and `centrifuge-json` (in the client's order of
    /// preference) decide; without them the query parameter `format=protobuf` or
    /// `cf_protocol=protobuf` (older SDKs) selects Protobuf; otherwise JSON.
    public static func negotiate(subprotocols: [String], query: [String: String]) -> (format: ProtocolFormat, subprotocol: String?) {
        for offered in subprotocols {
            if let format = Self.allCases.first(where: { $0.subprotocol == offered }) { return (format, offered) }
        }
        if query["format"] == "protobuf" || query["cf_protocol"] == "protobuf" { return (.protobuf, nil) }
        return (.json, nil)
    }

    // MARK: Encoding

    /// The reply to command `id`.
    public func reply(id: UInt32, _ result: ReplyResult) -> OutboundMessage {
        switch self {
        case .json: .text(JSONFormat.reply(id: id, result).jsonText)
        case .protobuf: .binary(ProtobufFormat.reply(id: id, result))
        }
    }

    /// The error reply to command `id`.
    public func error(id: UInt32, _ error: ProtocolError) -> OutboundMessage {
        switch self {
        case .json: .text(JSONValue.object(["id": .integer(id), "error": error.json]).jsonText)
        case .protobuf: .binary(ProtobufFormat.error(id: id, error))
        }
    }

    /// A push in `channel` (empty for pushes about the connection).
    public func push(_ push: PushEvent, channel: String) -> OutboundMessage {
        switch self {
        case .json: .text(JSONFormat.push(push, channel: channel).jsonText)
        case .protobuf: .binary(ProtobufFormat.push(push, channel: channel))
        }
    }

    /// The server's application-level ping (and the client's pong): an empty message.
    public var ping: OutboundMessage {
        switch self {
        case .json: Self.jsonPing
        case .protobuf: Self.protobufPing
        }
    }

    private static let jsonPing = OutboundMessage.text("{}")
    private static let protobufPing = OutboundMessage.binary(ByteBuffer(bytes: [0]))

    // MARK: Decoding

    /// The commands of one message, undecoded, in order; a message in the wrong kind (text for
    /// Protobuf, binary for JSON) or with broken framing is malformed.
    func split(_ message: InboundMessage) throws(ClientCommand.DecodeError) -> [EncodedCommand] {
        switch (self, message) {
        case (.json, .text(let text)):
            return JSONFormat.lines(text).map(EncodedCommand.json)
        case (.json, .binary):
            throw .malformed("binary frames are not supported: this connection speaks the JSON format (use the centrifuge-protobuf subprotocol for Protobuf)")
        case (.protobuf, .binary(let bytes)):
            return try ProtobufFormat.split(bytes).map(EncodedCommand.protobuf)
        case (.protobuf, .text):
            throw .malformed("text frames are not supported: this connection speaks the Protobuf format")
        }
    }

    /// Decode one command, or `nil` for an empty one (a pong).
    func decode(_ command: EncodedCommand) throws(ClientCommand.DecodeError) -> ClientCommand? {
        switch command {
        case .json(let line): try JSONFormat.decode(line)
        case .protobuf(let bytes): try ProtobufFormat.decode(bytes)
        }
    }
}

/// One command as it came, not yet decoded.
enum EncodedCommand: Sendable {
    case json(Substring)
    case protobuf(ByteBuffer)
}
