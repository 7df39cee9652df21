import Foundation
import Switchboard

/// Centrifugo's proxy request bodies (what the backend receives) for each event.
///
/// Fields follow Centrifugo v5: `client`, `transport`, `protocol`, `encoding`, `name`, `version`,
/// `user`, `channel`, `method`, `data`. Data is JSON, so `encoding` is always `json` and
/// `b64data` is never sent.
enum ProxyRequest {
    static func connect(_ event: ConnectEvent) -> JSONValue {
        .object([
            "client": .string(event.client),
            "transport": .string(event.transport),
            "protocol": .string(Self.protocolName(event.format)),
            "encoding": .string("json"),
            "name": event.name.isEmpty ? nil : .string(event.name),
            "version": event.version.isEmpty ? nil : .string(event.version),
            "data": event.data,
        ])
    }

    static func refresh(_ event: RefreshEvent) -> JSONValue {
        .object(["client": .string(event.client), "encoding": .string("json"), "user": .string(event.user)])
    }

    static func subscribe(_ event: SubscribeEvent) -> JSONValue {
        .object([
            "client": .string(event.client), "encoding": .string("json"), "user": .string(event.user),
            "channel": .string(event.channel), "data": event.data,
        ])
    }

    static func publish(_ event: PublishEvent) -> JSONValue {
        .object([
            "client": .string(event.client), "encoding": .string("json"), "user": .string(event.user),
            "channel": .string(event.channel), "data": event.data,
        ])
    }

    static func subRefresh(_ event: SubRefreshEvent) -> JSONValue {
        .object([
            "client": .string(event.client), "encoding": .string("json"), "user": .string(event.user),
            "channel": .string(event.channel),
        ])
    }

    static func rpc(_ event: RPCEvent) -> JSONValue {
        .object([
            "client": .string(event.client), "encoding": .string("json"), "user": .string(event.user),
            "method": .string(event.method), "data": event.data,
        ])
    }

    static func protocolName(_ format: ProtocolFormat) -> String {
        switch format {
        case .json: "json"
        case .protobuf: "protobuf"
        }
    }
}

/// Centrifugo's proxy response bodies: `{"result": …}`, `{"error": {"code", "message", "temporary"}}`
/// or `{"disconnect": {"code", "reason"}}`.
struct ProxyResponse {
    /// What the backend said, before the event's own reading of `result`.
    enum Outcome {
        case result(JSONValue?)
        case error(ProtocolError)
        case disconnect(CloseReason)
    }

    /// The range of error codes a backend may return to clients (Centrifugo's rule).
    static let errorCodes = 400...1999
    /// The range of close codes a backend may close connections with (Centrifugo's rule).
    static let disconnectCodes = 4000...4999

    let json: JSONValue
    let proxy: ProxyEndpoint
    /// The time `expire_at` is counted from.
    let now: Date

    init(_ json: JSONValue, proxy: ProxyEndpoint, now: Date = Date()) {
        self.json = json
        self.proxy = proxy
        self.now = now
    }

    func failure(_ cause: String) -> ProxyFailure {
        ProxyFailure(proxy: self.proxy.name, endpoint: self.proxy.endpoint, cause: cause)
    }

    /// The error or disconnect the backend answered with, or its `result` (`nil` when absent or null).
    func outcome() throws(ProxyFailure) -> Outcome {
        if let error = self.json["error"], error != .null {
            guard let code = error["code"]?.integerValue(Int.self) else { throw self.failure("'error.code' is not an integer") }
            guard Self.errorCodes.contains(code) else {
                throw self.failure("'error.code' \(code) is outside 400–1999, the range a backend may return to clients")
            }
            let message = error["message"]?.stringValue ?? ""
            let temporary = error["temporary"]?.boolValue ?? false
            return .error(ProtocolError(code: code, message: message, temporary: temporary))
        }
        if let disconnect = self.json["disconnect"], disconnect != .null {
            guard let code = disconnect["code"]?.integerValue(Int.self) else { throw self.failure("'disconnect.code' is not an integer") }
            guard Self.disconnectCodes.contains(code) else {
                throw self.failure("'disconnect.code' \(code) is outside 4000–4999, the range a backend may close connections with")
            }
            return .disconnect(CloseReason(code: UInt16(code), reason: disconnect["reason"]?.stringValue ?? ""))
        }
        let result = self.json["result"]
        if let result, result != .null, result.members == nil { throw self.failure("'result' is not an object") }
        return .result(result == .null ? nil : result)
    }

    /// A JSON value given as `<key>` (JSON) or `b64<key>` (base64 of JSON text).
    func payload(_ result: JSONValue, _ key: String) throws(ProxyFailure) -> JSONValue? {
        if let value = result[key], value != .null { return value }
        guard let encoded = result["b64\(key)"], encoded != .null else { return nil }
        guard let text = encoded.stringValue, let bytes = Data(base64Encoded: text) else {
            throw self.failure("'result.b64\(key)' is not base64")
        }
        guard let string = String(data: bytes, encoding: .utf8), let value = try? JSONValue.parse(string) else {
            throw self.failure("'result.b64\(key)' is not JSON, and Switchboard carries JSON only")
        }
        return value
    }

    /// `expire_at` (Unix seconds) as the time left; `nil` when absent or 0 (never expires).
    func expiresIn(_ result: JSONValue) throws(ProxyFailure) -> Duration? {
        guard let value = result["expire_at"], value != .null else { return nil }
        guard let expireAt = value.integerValue(Int64.self), expireAt >= 0 else { throw self.failure("'result.expire_at' is not a Unix time") }
        if expireAt == 0 { return nil }
        let left = Double(expireAt) - self.now.timeIntervalSince1970
        return left <= 0 ? .zero : .milliseconds(Int64(min(left, 100 * 365 * 86_400) * 1000))
    }

    func string(_ result: JSONValue, _ key: String) throws(ProxyFailure) -> String? {
        guard let value = result[key], value != .null else { return nil }
        guard let string = value.stringValue else { throw self.failure("'result.\(key)' is not a string") }
        return string
    }

    func bool(_ result: JSONValue, _ key: String) throws(ProxyFailure) -> Bool {
        guard let value = result[key], value != .null else { return false }
        guard let bool = value.boolValue else { throw self.failure("'result.\(key)' is not true or false") }
        return bool
    }

    // MARK: Decisions

    func connect() throws(ProxyFailure) -> ConnectDecision {
        switch try self.outcome() {
        case .error(let error): return .reject(error)
        case .disconnect(let reason): return .disconnect(reason)
        case .result(nil): return .reject(.unauthorized())
        case .result(let result?):
            var channels: [String] = []
            if let list = result["channels"], list != .null {
                guard let array = list.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
                    throw self.failure("'result.channels' is not an array of strings")
                }
                channels = array.compactMap(\.stringValue)
            }
            return .accept(
                ConnectGrant(
                    user: try self.string(result, "user") ?? "",
                    info: try self.payload(result, "info"),
                    data: try self.payload(result, "data"),
                    channels: channels,
                    expiresIn: try self.expiresIn(result)
                )
            )
        }
    }

    /// refresh and sub_refresh: `{"result": {"expired": true}}` ends it; otherwise `expire_at` and `info`.
    func refresh() throws(ProxyFailure) -> RefreshDecision {
        switch try self.outcome() {
        case .error(let error): throw self.failure("answered a refresh with error \(error.code) \(error.message)")
        case .disconnect: return .expire
        case .result(nil): return .extend(expiresIn: nil)
        case .result(let result?):
            if try self.bool(result, "expired") { return .expire }
            return .extend(expiresIn: try self.expiresIn(result), info: try self.payload(result, "info"))
        }
    }

    func subscribe() throws(ProxyFailure) -> SubscribeDecision {
        switch try self.outcome() {
        case .error(let error): return .reject(error)
        case .disconnect(let reason): return .disconnect(reason)
        case .result(nil): return .allow
        case .result(let result?):
            return .allow(
                SubscribeGrant(info: try self.payload(result, "info"), data: try self.payload(result, "data"), expiresIn: try self.expiresIn(result))
            )
        }
    }

    func publish() throws(ProxyFailure) -> PublishDecision {
        switch try self.outcome() {
        case .error(let error): return .reject(error)
        case .disconnect(let reason): return .disconnect(reason)
        case .result(nil): return .allow
        case .result(let result?):
            return .allow(data: try self.payload(result, "data"), skipHistory: try self.bool(result, "skip_history"))
        }
    }

    func rpc() throws(ProxyFailure) -> RPCDecision {
        switch try self.outcome() {
        case .error(let error): return .reject(error)
        case .disconnect(let reason): return .disconnect(reason)
        case .result(nil): return .reply(nil)
        case .result(let result?): return .reply(try self.payload(result, "data"))
        }
    }
}
