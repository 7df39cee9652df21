import Foundation
import Switchboard

/// The HTTP server API in Centrifugo's shape: `POST /api/<method>` with a JSON object body, answered
/// with `{"result":{…}}` or `{"error":{"code":…,"message":…}}` (HTTP 200 either way, as Centrifugo
/// does; `batch` answers `{"replies":[…]}`). A thin JSON layer over the typed ``ServerAPI``, which is
/// what an embedding application calls; the routes and the key check are in ``ServerAPIRoutes``.
struct HTTPServerAPI: Sendable {
    let api: ServerAPI

    /// The methods, in the order the documentation lists them.
    static let methods = [
        "publish", "broadcast", "subscribe", "unsubscribe", "disconnect", "presence", "presence_stats", "history",
        "history_remove", "channels", "info", "batch",
    ]

    /// Run one method. `nil` if there is no such method.
    func call(_ method: String, _ params: JSONValue) async -> JSONValue? {
        guard let metrics = self.api.service.metrics else { return await self.perform(method, params) }
        let start = ContinuousClock.now
        let answer = await self.perform(method, params)
        if answer != nil { metrics.recordAPICommand(method, protocol: "http", since: start) }
        return answer
    }

    private func perform(_ method: String, _ params: JSONValue) async -> JSONValue? {
        if method == "batch" { return await self.batch(params) }
        guard let result = await self.result(method, params) else { return nil }
        switch result {
        case .success(let value): return .object(["result": value])
        case .failure(let error): return .object(["error": error.json])
        }
    }

    private func result(_ method: String, _ params: JSONValue) async -> Result<JSONValue, ProtocolError>? {
        guard params.members != nil else { return .failure(.badRequest("the body must be a JSON object")) }
        let call = Parameters(params)
        do throws(ProtocolError) {
            switch method {
            case "publish": return .success(try await self.publish(call))
            case "broadcast": return .success(try await self.broadcast(call))
            case "subscribe": return .success(try await self.subscribe(call))
            case "unsubscribe": return .success(try self.unsubscribe(call))
            case "disconnect": return .success(try self.disconnect(call))
            case "presence": return .success(try await self.presence(call))
            case "presence_stats": return .success(try await self.presenceStats(call))
            case "history": return .success(try await self.history(call))
            case "history_remove": return .success(try await self.historyRemove(call))
            case "channels": return .success(try self.channels(call))
            case "info": return .success(await self.info())
            default: return nil
            }
        } catch {
            return .failure(error)
        }
    }

    // MARK: Methods

    private func publish(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let channel = try call.requiredString("channel")
        let result = try await self.api.publish(try Self.publication(call), to: channel, skipHistory: try call.bool("skip_history"))
        return Self.json(result)
    }

    private static func json(_ result: PublishResult) -> JSONValue {
        .object(["offset": result.offset.map { .integer($0) }, "epoch": result.epoch.map(JSONValue.string)])
    }

    /// The publication a call describes: `data` (JSON) or `b64data` (base64 of the bytes, which
    /// Protobuf clients receive as they are, and which must hold JSON like every publication's data:
    /// docs/PROTOCOL.md, "Payloads"), `tags`, and `delta` (send it as a delta to subscribers that
    /// negotiated delta compression).
    static func publication(_ call: Parameters) throws(ProtocolError) -> Publication {
        var publication = try Self.publicationData(call)
        publication.delta = try call.bool("delta")
        return publication
    }

    private static func publicationData(_ call: Parameters) throws(ProtocolError) -> Publication {
        let tags = try call.tags()
        switch (call["data"], try call.string("b64data")) {
        case (.some, .some):
            throw .badRequest("give 'data' or 'b64data', not both")
        case (let data?, nil):
            return Publication(data, tags: tags)
        case (nil, let encoded?):
            guard let bytes = Data(base64Encoded: encoded) else { throw .badRequest("'b64data' is not valid base64") }
            guard let text = String(data: bytes, encoding: .utf8), let publication = try? Publication(json: text, tags: tags) else {
                throw .badRequest("'b64data' does not hold JSON: publication data is JSON on every format (see docs/PROTOCOL.md)")
            }
            return publication
        case (nil, nil):
            throw .badRequest("'data' or 'b64data' is required")
        }
    }

    /// Each channel is published on its own; a failure (bad data included) is that channel's error.
    private func broadcast(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        guard let channels = call["channels"]?.arrayValue, !channels.isEmpty else {
            throw .badRequest("'channels' must be a non-empty array of channel names")
        }
        let skipHistory = try call.bool("skip_history")
        let publication = Result { () throws(ProtocolError) in try Self.publication(call) }
        var responses: [JSONValue] = []
        for channel in channels {
            do throws(ProtocolError) {
                guard let name = channel.stringValue else { throw .badRequest("'channels' must hold strings") }
                let result = try await self.api.publish(try publication.get(), to: name, skipHistory: skipHistory)
                responses.append(.object(["result": Self.json(result)]))
            } catch {
                responses.append(.object(["error": error.json]))
            }
        }
        return .object(["responses": .array(responses)])
    }

    private func subscribe(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        try await self.api.subscribe(
            user: try call.requiredString("user", allowEmpty: true),
            to: try call.requiredString("channel"),
            client: try call.nonEmptyString("client"),
            recoverSince: try call.position("recover_since")
        )
        return .object([])
    }

    private func unsubscribe(_ call: Parameters) throws(ProtocolError) -> JSONValue {
        self.api.unsubscribe(
            user: try call.requiredString("user", allowEmpty: true),
            from: try call.requiredString("channel"),
            client: try call.nonEmptyString("client")
        )
        return .object([])
    }

    private func disconnect(_ call: Parameters) throws(ProtocolError) -> JSONValue {
        let user = try call.requiredString("user", allowEmpty: true)
        var reason = Disconnect.forceDisconnect
        if let custom = call["disconnect"] {
            guard let code = custom["code"]?.integerValue(UInt16.self), (3000...4999).contains(code) else {
                throw .badRequest("'disconnect.code' must be between 3000 and 4999")
            }
            reason = CloseReason(code: code, reason: custom["reason"]?.stringValue ?? "")
        }
        let sparing = Set((call["whitelist"]?.arrayValue ?? []).compactMap(\.stringValue))
        try self.api.disconnect(user: user, client: try call.nonEmptyString("client"), reason: reason, sparing: sparing)
        return .object([])
    }

    private func presence(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        ReplyResult.presence(try await self.api.presence(try call.requiredString("channel"))).json
    }

    private func presenceStats(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let stats = try await self.api.presenceStats(try call.requiredString("channel"))
        return ReplyResult.presenceStats(clients: stats.clients, users: stats.users).json
    }

    private func history(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let result = try await self.api.history(
            try call.requiredString("channel"),
            since: try call.position("since"),
            limit: try call.integer("limit") ?? 0,
            reverse: try call.bool("reverse")
        )
        return ReplyResult.history(result).json
    }

    private func historyRemove(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        try await self.api.removeHistory(try call.requiredString("channel"))
        return .object([])
    }

    /// This node's channels, with its own subscriber counts (not the cluster's).
    private func channels(_ call: Parameters) throws(ProtocolError) -> JSONValue {
        let channels = self.api.channels(matching: try call.nonEmptyString("pattern"))
            .map { JSONValue.Member(key: $0.channel, value: .object(["num_clients": .integer($0.subscribers)])) }
        return .object(["channels": .object(channels)])
    }

    /// Every live node of the cluster, this one first.
    private func info() async -> JSONValue {
        .object(["nodes": .array(await self.api.nodes().map(\.json))])
    }

    private func batch(_ params: JSONValue) async -> JSONValue {
        guard let commands = params["commands"]?.arrayValue else {
            return .object(["error": ProtocolError.badRequest("'commands' must be an array").json])
        }
        var replies: [JSONValue] = []
        for command in commands {
            guard let members = command.members, members.count == 1, let only = members.first, only.key != "batch" else {
                replies.append(.object(["error": ProtocolError.badRequest("each command must be an object with exactly one method").json]))
                continue
            }
            switch await self.result(only.key, only.value) {
            case .success(let value): replies.append(.object([only.key: value]))
            case .failure(let error): replies.append(.object(["error": error.json]))
            case nil: replies.append(.object(["error": ProtocolError.methodNotFound("unknown method '\(only.key)'").json]))
            }
        }
        return .object(["replies": .array(replies)])
    }
}

extension Parameters {
    /// A string that may be absent, `null` or empty, all meaning "not given".
    fileprivate func nonEmptyString(_ key: String) throws(ProtocolError) -> String? {
        guard let string = try self.string(key), !string.isEmpty else { return nil }
        return string
    }

    /// The `tags` object of a publication: string values only.
    fileprivate func tags() throws(ProtocolError) -> [String: String] {
        guard let value = self["tags"] else { return [:] }
        guard let members = value.members else { throw .badRequest("'tags' must be an object of strings") }
        var tags: [String: String] = [:]
        for member in members {
            guard let string = member.value.stringValue else { throw .badRequest("'tags.\(member.key)' must be a string") }
            tags[member.key] = string
        }
        return tags
    }
}
