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
    var params: Parameters

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
        return ClientCommand(id: id, method: method, params: Parameters(params))
    }
}
