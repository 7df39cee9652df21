/// One command from a client: `{"id":1,"subscribe":{"channel":"news"}}`.
struct ClientCommand: Sendable {
    enum Method: String, Sendable, CaseIterable {
        case connect, subscribe, unsubscribe, publish, presence, history, ping, send, rpc, refresh
        case presenceStats = "presence_stats"
        case subRefresh = "sub_refresh"
    }

    /// The command's id, which its reply repeats; 0 for commands without a reply (`send`).
    var id: UInt32
    var method: Method
    var params: JSONValue

    /// Why a line is not a command.
    enum DecodeError: Error {
        /// Not usable at all: the connection is closed with 3501 and this reason.
        case malformed(String)
        /// A well-formed command with an id that the server cannot serve: reply with this error.
        case reply(id: UInt32, ProtocolError)
    }

    /// Decode one command, or `nil` for an empty object (a pong).
    static func decode(_ line: Substring) throws(DecodeError) -> ClientCommand? {
        let value: JSONValue
        do {
            value = try JSONValue.parse(String(line))
        } catch {
            throw .malformed("invalid JSON: \(error)")
        }
        guard let members = value.members else { throw .malformed("a command must be a JSON object") }
        if members.isEmpty { return nil }
        var id: UInt32 = 0
        if let rawID = value["id"] {
            guard let parsed = rawID.integerValue(UInt32.self) else { throw .malformed("'id' must be a positive 32-bit integer") }
            id = parsed
        }
        let methodKeys = members.map(\.key).filter { $0 != "id" }
        guard let key = methodKeys.first(where: { Method(rawValue: $0) != nil }), let method = Method(rawValue: key) else {
            let name = methodKeys.first ?? ""
            let error = ProtocolError.methodNotFound(name.isEmpty ? "the command names no method" : "unknown method '\(name)'")
            if id > 0 { throw .reply(id: id, error) }
            throw .malformed(error.message)
        }
        let params = value[key]!
        guard params.members != nil else {
            let error = ProtocolError.badRequest("'\(key)' must be an object")
            if id > 0 { throw .reply(id: id, error) }
            throw .malformed(error.message)
        }
        if id == 0, method != .send { throw .malformed("'\(key)' needs an 'id'") }
        return ClientCommand(id: id, method: method, params: params)
    }

    /// A string parameter, or `nil` if absent.
    func string(_ key: String) throws(ProtocolError) -> String? {
        guard let value = self.params[key] else { return nil }
        guard let string = value.stringValue else { throw .badRequest("'\(key)' must be a string") }
        return string
    }

    /// A required, non-empty channel name.
    func channel() throws(ProtocolError) -> String {
        guard let channel = try self.string("channel"), !channel.isEmpty else { throw .badRequest("'channel' is required") }
        return channel
    }

    /// A boolean parameter (absent is `false`).
    func bool(_ key: String) throws(ProtocolError) -> Bool {
        guard let value = self.params[key] else { return false }
        guard let bool = value.boolValue else { throw .badRequest("'\(key)' must be true or false") }
        return bool
    }

    /// An integer parameter, or `nil` if absent.
    func integer<T: FixedWidthInteger>(_ key: String, _ type: T.Type) throws(ProtocolError) -> T? {
        guard let value = self.params[key] else { return nil }
        // Protobuf's JSON mapping writes 64-bit integers as strings; accept both.
        if let text = value.stringValue, let parsed = T(text) { return parsed }
        guard let parsed = value.integerValue(T.self) else { throw .badRequest("'\(key)' must be an integer") }
        return parsed
    }
}

extension StreamPosition {
    /// A `{"offset":…,"epoch":…}` object.
    init(json value: JSONValue, field: String) throws(ProtocolError) {
        guard value.members != nil else { throw .badRequest("'\(field)' must be an object with 'offset' and 'epoch'") }
        let offset: UInt64
        if let text = value["offset"]?.stringValue, let parsed = UInt64(text) {
            offset = parsed
        } else if let raw = value["offset"] {
            guard let parsed = raw.integerValue(UInt64.self) else { throw .badRequest("'\(field).offset' must be an integer") }
            offset = parsed
        } else {
            offset = 0
        }
        guard let epoch = value["epoch"]?.stringValue ?? (value["epoch"] == nil ? "" : nil) else {
            throw .badRequest("'\(field).epoch' must be a string")
        }
        self.init(offset: offset, epoch: epoch)
    }
}
