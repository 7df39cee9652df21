/// The protocol's JSON format: commands one per line, replies and pushes as JSON objects (the
/// protobuf JSON mapping of `client.proto`, with `data` and `info` as raw JSON).
enum JSONFormat {
    // MARK: Decoding

    /// The non-blank lines of a message.
    static func lines(_ text: String) -> [Substring] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).filter { line in
            !line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" })
        }
    }

    /// Decode one command, or `nil` for an empty object (a pong).
    static func decode(_ line: Substring) throws(ClientCommand.DecodeError) -> ClientCommand? {
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
        guard let key = methodKeys.first(where: { ClientCommand.Method(rawValue: $0) != nil }), let method = ClientCommand.Method(rawValue: key) else {
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
        let request = Result { () throws(ProtocolError) in try Self.request(method, Parameters(params)) }
        return ClientCommand(id: id, method: method, request: request)
    }

    /// A connect request on its own (a unidirectional transport's), not wrapped in a command.
    static func connectRequest(_ text: String) throws(ProtocolError) -> ConnectRequest {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw .badRequest("invalid JSON: \(error)")
        }
        guard value.members != nil else { throw .badRequest("the connect request must be a JSON object") }
        guard case .connect(let request) = try Self.request(.connect, Parameters(value)) else { fatalError("a connect request decodes as one") }
        return request
    }

    private static func request(_ method: ClientCommand.Method, _ params: Parameters) throws(ProtocolError) -> ClientRequest {
        switch method {
        case .connect:
            var request = ConnectRequest(token: try params.string("token") ?? "")
            request.data = params["data"]
            request.name = try params.string("name") ?? ""
            request.version = try params.string("version") ?? ""
            for member in params["subs"]?.members ?? [] {
                let sub = Parameters(member.value)
                guard member.value.members != nil else { throw .badRequest("'subs.\(member.key)' must be an object") }
                request.subs[member.key] = SubscriptionPosition(
                    recover: try sub.bool("recover"),
                    position: try StreamPosition(json: member.value, field: "subs.\(member.key)")
                )
            }
            return .connect(request)
        case .subscribe:
            var request = SubscribeRequest(channel: try params.requiredString("channel"), token: try params.string("token") ?? "")
            request.recovery.recover = try params.bool("recover")
            if request.recovery.recover { request.recovery.position = try StreamPosition(json: params.json, field: "subscribe") }
            request.positioned = try params.bool("positioned")
            request.recoverable = try params.bool("recoverable")
            request.joinLeave = try params.bool("join_leave")
            request.flag = try params.integer("flag", as: Int64.self) ?? 0
            request.data = params["data"]
            request.delta = try params.string("delta") ?? ""
            return .subscribe(request)
        case .unsubscribe:
            return .unsubscribe(channel: try params.requiredString("channel"))
        case .publish:
            let channel = try params.requiredString("channel")
            guard let data = params["data"] else { throw .badRequest("'data' is required") }
            return .publish(channel: channel, data: data.jsonText)
        case .presence:
            return .presence(channel: try params.requiredString("channel"))
        case .presenceStats:
            return .presenceStats(channel: try params.requiredString("channel"))
        case .history:
            return .history(HistoryRequest(
                channel: try params.requiredString("channel"),
                limit: try params.integer("limit") ?? 0,
                since: try params.position("since"),
                reverse: try params.bool("reverse")
            ))
        case .ping: return .ping
        case .send: return .send
        case .rpc: return .rpc(method: try params.string("method") ?? "", data: params["data"])
        case .refresh:
            guard let token = try params.string("token"), !token.isEmpty else { throw .badRequest("'token' is required") }
            return .refresh(token: token)
        case .subRefresh:
            let channel = try params.requiredString("channel")
            guard let token = try params.string("token"), !token.isEmpty else { throw .badRequest("'token' is required") }
            return .subRefresh(channel: channel, token: token)
        }
    }

    // MARK: Encoding

    static func reply(id: UInt32, _ result: ReplyResult) -> JSONValue {
        let (key, value) = Self.result(result)
        return .object(["id": .integer(id), key: value])
    }

    /// The reply's key for a result, and the result object.
    static func result(_ result: ReplyResult) -> (key: String, value: JSONValue) {
        switch result {
        case .connect(let connect): ("connect", Self.connectResult(connect))
        case .subscribe(let subscribe): ("subscribe", Self.subscribeResult(subscribe))
        case .unsubscribe: ("unsubscribe", .object([]))
        case .publish: ("publish", .object([]))
        case .presence(let members): ("presence", Self.presenceResult(members))
        case .presenceStats(let clients, let users): ("presence_stats", Self.presenceStatsResult(clients: clients, users: users))
        case .history(let history): ("history", Self.historyResult(history))
        case .ping: ("ping", .object([]))
        case .refresh(let refresh): ("refresh", Self.connectResult(refresh))
        case .subRefresh(let expiresIn): ("sub_refresh", Self.expiryObject(expiresIn))
        case .rpc(let data): ("rpc", .object(["data": data]))
        }
    }

    static func push(_ push: PushEvent, channel: String) -> JSONValue {
        let (key, value): (String, JSONValue) =
            switch push {
            case .publication(let publication): ("pub", publication.json)
            case .join(let info): ("join", .object(["info": info.json]))
            case .leave(let info): ("leave", .object(["info": info.json]))
            case .unsubscribe(let code, let reason): ("unsubscribe", .object(["code": .integer(code), "reason": .string(reason)]))
            case .subscribe(let result): ("subscribe", Self.subscribeResult(result))
            case .connect(let result): ("connect", Self.connectResult(result))
            case .disconnect(let reason): ("disconnect", .object(["code": .integer(reason.code), "reason": .string(reason.reason)]))
            }
        return .object(["push": .object(["channel": channel.isEmpty ? nil : .string(channel), key: value])])
    }

    /// A publication push whose data is carried as `data` says (delta compression).
    static func publicationPush(_ publication: Publication, data: Publication.JSONData, channel: String) -> JSONValue {
        .object(["push": .object(["channel": .string(channel), "pub": publication.json(data)])])
    }

    static func connectResult(_ result: ConnectResult) -> JSONValue {
        let expiry = Self.expiry(result.expiresIn)
        return .object([
            "client": .string(result.client),
            "version": .string(result.version),
            "expires": expiry.expires,
            "ttl": expiry.ttl,
            "ping": result.ping.map { .integer($0) },
            "pong": result.pong ? .bool(true) : nil,
            "subs": result.subs.isEmpty ? nil : .object(result.subs.map { .init(key: $0.channel, value: Self.subscribeResult($0.result)) }),
            "data": result.data,
        ])
    }

    static func subscribeResult(_ result: SubscribeResult) -> JSONValue {
        let expiry = Self.expiry(result.expiresIn)
        return .object([
            "expires": expiry.expires,
            "ttl": expiry.ttl,
            "recoverable": result.recoverable ? .bool(true) : nil,
            "positioned": result.positioned ? .bool(true) : nil,
            "epoch": result.position.map { .string($0.epoch) },
            "offset": result.position.map { .integer($0.offset) },
            "publications": result.publications.isEmpty ? nil : .array(result.publications.map { $0.json(result.delta ? .fullAsString : .plain) }),
            "was_recovering": result.wasRecovering ? .bool(true) : nil,
            "recovered": result.recovered ? .bool(true) : nil,
            "data": result.data,
            "delta": result.delta ? .bool(true) : nil,
        ])
    }

    /// The `history` result (client protocol and server API).
    static func historyResult(_ result: HistoryResult) -> JSONValue {
        .object([
            "publications": .array(result.publications.map(\.json)),
            "epoch": .string(result.position.epoch),
            "offset": .integer(result.position.offset),
        ])
    }

    /// The `presence` result (client protocol and server API).
    static func presenceResult(_ members: [ClientInfo]) -> JSONValue {
        .object(["presence": .object(members.map { JSONValue.Member(key: $0.client, value: $0.json) })])
    }

    /// The `presence_stats` result (client protocol and server API).
    static func presenceStatsResult(clients: Int, users: Int) -> JSONValue {
        .object(["num_clients": .integer(clients), "num_users": .integer(users)])
    }

    private static func expiryObject(_ expiresIn: Duration?) -> JSONValue {
        let expiry = Self.expiry(expiresIn)
        return .object(["expires": expiry.expires, "ttl": expiry.ttl])
    }

    /// A result's `expires` and `ttl` (whole seconds, at least 1) for a token that expires in
    /// `expiresIn`; both `nil` for one that does not expire.
    private static func expiry(_ expiresIn: Duration?) -> (expires: JSONValue?, ttl: JSONValue?) {
        guard let expiresIn else { return (nil, nil) }
        return (.bool(true), .integer(Self.ttlSeconds(expiresIn)))
    }

    /// Whole seconds, at least 1.
    static func ttlSeconds(_ duration: Duration) -> Int64 { max(1, duration.components.seconds) }
}

extension ReplyResult {
    /// The result object in JSON, as the client protocol's reply and the server API's `result` carry it.
    public var json: JSONValue { JSONFormat.result(self).value }
}
