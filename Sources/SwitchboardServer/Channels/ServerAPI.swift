import Foundation
import Switchboard

/// The HTTP server API in Centrifugo's shape: `POST /api/<method>` with a JSON object body, answered
/// with `{"result":{…}}` or `{"error":{"code":…,"message":…}}` (HTTP 200 either way, as Centrifugo
/// does; `batch` answers `{"replies":[…]}`). The routes and the key check are in ``ServerAPIRoutes``.
struct ServerAPI: Sendable {
    let service: ChannelService
    let startedAt: ContinuousClock.Instant
    let nodeID: String
    let version: String

    /// The methods, in the order the documentation lists them.
    static let methods = [
        "publish", "broadcast", "subscribe", "unsubscribe", "disconnect", "presence", "presence_stats", "history",
        "history_remove", "channels", "info", "batch",
    ]

    /// Run one method. `nil` if there is no such method.
    func call(_ method: String, _ params: JSONValue) async -> JSONValue? {
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
            case "unsubscribe": return .success(try await self.unsubscribe(call))
            case "disconnect": return .success(try await self.disconnect(call))
            case "presence": return .success(try await self.presence(call))
            case "presence_stats": return .success(try await self.presenceStats(call))
            case "history": return .success(try await self.history(call))
            case "history_remove": return .success(try await self.historyRemove(call))
            case "channels": return .success(try self.channels(call))
            case "info": return .success(self.info())
            default: return nil
            }
        } catch {
            return .failure(error)
        }
    }

    // MARK: Methods

    private func publish(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        try await self.publish(call, channel: try call.requiredString("channel"))
    }

    private func publish(_ call: Parameters, channel: String) async throws(ProtocolError) -> JSONValue {
        let options = try self.service.options(for: channel).get()
        let data = try Self.publicationData(call)
        let tags = try call.tags()
        let storeInHistory = !(try call.bool("skip_history"))
        let (publication, epoch) = try await Self.engine { () async throws(EngineError) in
            try await self.service.engine.publish(Publication(data: data, tags: tags), to: channel, options: options, storeInHistory: storeInHistory)
        }
        return .object([
            "offset": epoch != nil ? .integer(publication.offset) : nil,
            "epoch": epoch.map(JSONValue.string),
        ])
    }

    /// A publication's data, as compact JSON text: `data` (JSON), or `b64data` (base64 of the bytes,
    /// which Protobuf clients receive as they are, and which must hold JSON like every
    /// publication's data: docs/PROTOCOL.md, "Payloads").
    static func publicationData(_ call: Parameters) throws(ProtocolError) -> String {
        switch (call["data"], try call.string("b64data")) {
        case (.some, .some):
            throw .badRequest("give 'data' or 'b64data', not both")
        case (let data?, nil):
            return data.jsonText
        case (nil, let encoded?):
            guard let bytes = Data(base64Encoded: encoded) else { throw .badRequest("'b64data' is not valid base64") }
            guard let text = String(data: bytes, encoding: .utf8), let value = try? JSONValue.parse(text) else {
                throw .badRequest("'b64data' does not hold JSON: publication data is JSON on every format (see docs/PROTOCOL.md)")
            }
            return value.jsonText
        case (nil, nil):
            throw .badRequest("'data' or 'b64data' is required")
        }
    }

    private func broadcast(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        guard let channels = call["channels"]?.arrayValue, !channels.isEmpty else {
            throw .badRequest("'channels' must be a non-empty array of channel names")
        }
        var responses: [JSONValue] = []
        for channel in channels {
            do throws(ProtocolError) {
                guard let name = channel.stringValue else { throw .badRequest("'channels' must hold strings") }
                responses.append(.object(["result": try await self.publish(call, channel: name)]))
            } catch {
                responses.append(.object(["error": error.json]))
            }
        }
        return .object(["responses": .array(responses)])
    }

    private func subscribe(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let user = try call.requiredString("user", allowEmpty: true)
        let channel = try call.requiredString("channel")
        let options = try self.service.options(for: channel).get()
        let recoverFrom = try call.position("recover_since")
        for session in self.service.sessions.sessions(user: user, client: try call.nonEmptyString("client")) {
            try await Self.engine { () async throws(EngineError) in try await session.serverSubscribe(channel, options: options, recoverFrom: recoverFrom) }
        }
        return .object([])
    }

    private func unsubscribe(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let user = try call.requiredString("user", allowEmpty: true)
        let channel = try call.requiredString("channel")
        for session in self.service.sessions.sessions(user: user, client: try call.nonEmptyString("client")) {
            session.serverUnsubscribe(channel)
        }
        return .object([])
    }

    private func disconnect(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let user = try call.requiredString("user", allowEmpty: true)
        var reason = Disconnect.forceDisconnect
        if let custom = call["disconnect"] {
            guard let code = custom["code"]?.integerValue(UInt16.self), (3000...4999).contains(code) else {
                throw .badRequest("'disconnect.code' must be between 3000 and 4999")
            }
            reason = CloseReason(code: code, reason: custom["reason"]?.stringValue ?? "")
        }
        let whitelist = Set((call["whitelist"]?.arrayValue ?? []).compactMap(\.stringValue))
        for session in self.service.sessions.sessions(user: user, client: try call.nonEmptyString("client")) where !whitelist.contains(session.id) {
            session.disconnect(reason)
        }
        return .object([])
    }

    private func presence(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let channel = try self.channel(call, enabled: \.presence, what: "presence")
        return ReplyResult.presence(try await Self.engine { () async throws(EngineError) in try await self.service.engine.presence(channel) }).json
    }

    private func presenceStats(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let channel = try self.channel(call, enabled: \.presence, what: "presence")
        let stats = try await Self.engine { () async throws(EngineError) in try await self.service.engine.presenceStats(channel) }
        return ReplyResult.presenceStats(clients: stats.clients, users: stats.users).json
    }

    private func history(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let channel = try self.channel(call, enabled: \.keepsHistory, what: "history")
        let options = try self.service.options(for: channel).get()
        let since = try call.position("since")
        let limit = try call.integer("limit") ?? 0
        let reverse = try call.bool("reverse")
        let answer = try await Self.engine { () async throws(EngineError) in
            try await self.service.engine.history(channel, options: options, since: since, limit: limit, reverse: reverse)
        }
        return ReplyResult.history(try ChannelService.historyResult(answer).get()).json
    }

    private func historyRemove(_ call: Parameters) async throws(ProtocolError) -> JSONValue {
        let channel = try self.channel(call, enabled: \.keepsHistory, what: "history")
        try await Self.engine { () async throws(EngineError) in try await self.service.engine.removeHistory(channel) }
        return .object([])
    }

    /// Run an engine call, its failure becoming the method's error (100, with the reason).
    private static func engine<T>(_ body: () async throws(EngineError) -> T) async throws(ProtocolError) -> T {
        do throws(EngineError) {
            return try await body()
        } catch {
            throw error.protocolError
        }
    }

    /// This node's channels, with its own subscriber counts (not the cluster's).
    private func channels(_ call: Parameters) throws(ProtocolError) -> JSONValue {
        let pattern = try call.nonEmptyString("pattern")
        let channels = self.service.hub.activeChannels()
            .filter { pattern == nil || GlobPattern(pattern!).matches($0.key) }
            .sorted { $0.key < $1.key }
            .map { JSONValue.Member(key: $0.key, value: .object(["num_clients": .integer($0.value)])) }
        return .object(["channels": .object(channels)])
    }

    private func info() -> JSONValue {
        let counts = self.service.sessions.counts
        let channels = self.service.hub.activeChannels()
        let uptime = (ContinuousClock.now - self.startedAt).components.seconds
        let node: JSONValue = .object([
            "uid": .string(self.nodeID),
            "name": .string("switchboard"),
            "version": .string(self.version),
            "num_clients": .integer(counts.clients),
            "num_users": .integer(counts.users),
            "num_channels": .integer(channels.count),
            "num_subs": .integer(channels.values.reduce(0, +)),
            "uptime": .integer(uptime),
        ])
        return .object(["nodes": .array([node])])
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

    /// A channel whose namespace offers `what`.
    private func channel(_ call: Parameters, enabled: KeyPath<ChannelOptions, Bool>, what: String) throws(ProtocolError) -> String {
        let channel = try call.requiredString("channel")
        let options = try self.service.options(for: channel).get()
        guard options[keyPath: enabled] else { throw .notAvailable("\(what) is not enabled for '\(channel)'") }
        return channel
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

/// Channel name patterns for the `channels` method: `*` matches any run of characters, `?` one.
struct GlobPattern {
    let pattern: [Character]

    init(_ pattern: String) {
        self.pattern = Array(pattern)
    }

    func matches(_ text: String) -> Bool {
        let text = Array(text)
        var p = 0
        var t = 0
        var star: Int?
        var mark = 0
        while t < text.count {
            if p < self.pattern.count, self.pattern[p] == "?" || self.pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < self.pattern.count, self.pattern[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if let starAt = star {
                p = starAt + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < self.pattern.count, self.pattern[p] == "*" { p += 1 }
        return p == self.pattern.count
    }
}
