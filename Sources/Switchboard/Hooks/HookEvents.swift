/// What the hooks (``Hooks``) see, and what they answer.

// MARK: - What the hooks see

/// The HTTP request a connection came with (the WebSocket upgrade request, or the unidirectional
/// transport's request): its headers, cookies and the peer's address.
public struct ConnectionRequest: Sendable, Equatable {
    /// The header fields, in order, names as sent.
    public var headers: [(name: String, value: String)]
    /// The request path with its query.
    public var uri: String
    /// The peer's address (`127.0.0.1`), when known.
    public var remoteAddress: String?

    /// A request with these headers (in order), target and peer address.
    public init(headers: [(name: String, value: String)] = [], uri: String = "", remoteAddress: String? = nil) {
        self.headers = headers
        self.uri = uri
        self.remoteAddress = remoteAddress
    }

    /// The values of a header (case-insensitive name), in order.
    public func values(_ name: String) -> [String] {
        let name = name.lowercased()
        return self.headers.filter { $0.name.lowercased() == name }.map(\.value)
    }

    /// The first value of a header (case-insensitive name).
    public subscript(_ name: String) -> String? { self.values(name).first }

    /// The cookies of the `Cookie` headers, by name (the first of a name wins; quotes around a value are removed).
    public var cookies: [String: String] {
        var cookies: [String: String] = [:]
        for header in self.values("Cookie") {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard let name = parts.first?.trimmingSpaces, !name.isEmpty else { continue }
                var value = parts.count > 1 ? parts[1].trimmingSpaces : ""
                // A quoted value (RFC 6265 allows DQUOTE *cookie-octet DQUOTE) is the text inside.
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                if cookies[name] == nil { cookies[name] = value }
            }
        }
        return cookies
    }

    /// Equal when the URI, peer address and headers (in order) are.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.uri == rhs.uri && lhs.remoteAddress == rhs.remoteAddress
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// A client connects without a token.
public struct ConnectEvent: Sendable {
    /// The client id the server gave the connection.
    public var client: String
    /// `websocket`, `uni_websocket`, `uni_sse` or `uni_http_stream`.
    public var transport: String
    /// The connection's format (`json` or `protobuf`).
    public var format: ProtocolFormat
    /// The HTTP request the connection came with (headers, cookies).
    public var request: ConnectionRequest
    /// The client's connect `data`, if any (JSON).
    public var data: JSONValue?
    /// The SDK's name and version, as the client reports them (may be empty).
    public var name: String
    /// The SDK's version, as the client reports it (may be empty).
    public var version: String

    /// An event for the `connect` hook (the server makes these; tests of a hook may too).
    public init(client: String, transport: String, format: ProtocolFormat, request: ConnectionRequest, data: JSONValue?, name: String = "", version: String = "") {
        self.client = client
        self.transport = transport
        self.format = format
        self.request = request
        self.data = data
        self.name = name
        self.version = version
    }
}

/// The `connect` hook's answer.
public enum ConnectDecision: Sendable {
    /// Connect the client as this user.
    case accept(ConnectGrant)
    /// Answer the connect command with this error (the SDKs retry a temporary one).
    case reject(ProtocolError)
    /// Close the connection with this code (4000–4999 for the application's own, 3000–3999 the protocol's).
    case disconnect(CloseReason)
}

/// Who a connecting client is, as the `connect` hook says.
public struct ConnectGrant: Sendable {
    /// The user id; empty for anonymous.
    public var user: String
    /// The connection's info (presence, join/leave, publications' `info`).
    public var info: JSONValue?
    /// Data the client gets in its connect result (`data`).
    public var data: JSONValue?
    /// Channels to subscribe the connection to on the server's side.
    public var channels: [String]
    /// When the connection expires (the ``Hooks/refresh`` hook extends it); `nil` for never.
    public var expiresIn: Duration?

    /// Connect as `user`, with the rest optional.
    public init(user: String, info: JSONValue? = nil, data: JSONValue? = nil, channels: [String] = [], expiresIn: Duration? = nil) {
        self.user = user
        self.info = info
        self.data = data
        self.channels = channels
        self.expiresIn = expiresIn
    }
}

/// A connection granted with an expiry reaches it.
public struct RefreshEvent: Sendable {
    /// The connection's client id.
    public var client: String
    /// The connection's user id.
    public var user: String
    /// The connection's current info.
    public var info: JSONValue?

    /// An event for the `refresh` hook.
    /// The HTTP request the connection came with (headers, cookies), as the `connect` hook saw it.
    public var request: ConnectionRequest

    public init(client: String, user: String, info: JSONValue?, request: ConnectionRequest = ConnectionRequest()) {
        self.request = request
        self.client = client
        self.user = user
        self.info = info
    }
}

/// The `refresh` and `subRefresh` hooks' answer.
public enum RefreshDecision: Sendable {
    /// Extend until `expiresIn` from now (`nil`: never expires again); `info` replaces the
    /// connection's (or subscription's) info when given.
    case extend(expiresIn: Duration?, info: JSONValue? = nil)
    /// End it: the connection closes with 3005 (or 3006 for a subscription).
    case expire
}

/// A client subscribes without a token to a channel the hook covers.
public struct SubscribeEvent: Sendable {
    /// The subscribing connection's client id.
    public var client: String
    /// The subscribing connection's user id (empty for anonymous).
    public var user: String
    /// The channel it subscribes to.
    public var channel: String
    /// The client's subscribe `data`, if any.
    public var data: JSONValue?
    /// The connection's info.
    public var connectionInfo: JSONValue?

    /// An event for the `subscribe` hook.
    /// The HTTP request the connection came with (headers, cookies), as the `connect` hook saw it.
    public var request: ConnectionRequest

    public init(client: String, user: String, channel: String, data: JSONValue?, connectionInfo: JSONValue?, request: ConnectionRequest = ConnectionRequest()) {
        self.request = request
        self.client = client
        self.user = user
        self.channel = channel
        self.data = data
        self.connectionInfo = connectionInfo
    }
}

/// The `subscribe` hook's answer.
public enum SubscribeDecision: Sendable {
    case allow(SubscribeGrant)
    /// Answer the subscribe command with this error (103 permission denied, typically).
    case reject(ProtocolError)
    case disconnect(CloseReason)

    /// Allow with nothing more.
    public static var allow: SubscribeDecision { .allow(SubscribeGrant()) }
}

/// What a granted subscription carries.
public struct SubscribeGrant: Sendable {
    /// The subscription's channel info (presence, join/leave, publications' `info`).
    public var info: JSONValue?
    /// Data the client gets in its subscribe result (`data`).
    public var data: JSONValue?
    /// When the subscription expires (the ``Hooks/subRefresh`` hook extends it); `nil` for never.
    public var expiresIn: Duration?

    /// A grant with the given info, data and expiry (none by default).
    public init(info: JSONValue? = nil, data: JSONValue? = nil, expiresIn: Duration? = nil) {
        self.info = info
        self.data = data
        self.expiresIn = expiresIn
    }
}

/// A client publishes into a channel the hook covers.
public struct PublishEvent: Sendable {
    /// The publishing connection's client id.
    public var client: String
    /// The publishing connection's user id (empty for anonymous).
    public var user: String
    /// The channel it publishes into.
    public var channel: String
    /// What the client publishes.
    public var data: JSONValue
    /// The connection's info.
    public var connectionInfo: JSONValue?

    /// An event for the `publish` hook.
    /// The HTTP request the connection came with (headers, cookies), as the `connect` hook saw it.
    public var request: ConnectionRequest

    public init(client: String, user: String, channel: String, data: JSONValue, connectionInfo: JSONValue?, request: ConnectionRequest = ConnectionRequest()) {
        self.request = request
        self.client = client
        self.user = user
        self.channel = channel
        self.data = data
        self.connectionInfo = connectionInfo
    }
}

/// The `publish` hook's answer.
public enum PublishDecision: Sendable {
    /// Publish: `data` replaces the client's when given; `skipHistory` keeps it out of history.
    case allow(data: JSONValue? = nil, skipHistory: Bool = false)
    case reject(ProtocolError)
    case disconnect(CloseReason)

    /// Publish the client's data as it is.
    public static var allow: PublishDecision { .allow() }
}

/// A subscription granted with an expiry reaches it.
public struct SubRefreshEvent: Sendable {
    /// The subscribed connection's client id.
    public var client: String
    /// The subscribed connection's user id.
    public var user: String
    /// The subscription's channel.
    public var channel: String
    /// The subscription's current channel info.
    public var info: JSONValue?

    /// An event for the `subRefresh` hook.
    /// The HTTP request the connection came with (headers, cookies), as the `connect` hook saw it.
    public var request: ConnectionRequest

    public init(client: String, user: String, channel: String, info: JSONValue?, request: ConnectionRequest = ConnectionRequest()) {
        self.request = request
        self.client = client
        self.user = user
        self.channel = channel
        self.info = info
    }
}

/// A client calls `rpc`.
public struct RPCEvent: Sendable {
    /// The calling connection's client id.
    public var client: String
    /// The calling connection's user id (empty for anonymous).
    public var user: String
    /// The method the client calls.
    public var method: String
    /// The call's `data`, if any.
    public var data: JSONValue?
    /// The connection's info.
    public var connectionInfo: JSONValue?

    /// An event for the `rpc` hook.
    /// The HTTP request the connection came with (headers, cookies), as the `connect` hook saw it.
    public var request: ConnectionRequest

    public init(client: String, user: String, method: String, data: JSONValue?, connectionInfo: JSONValue?, request: ConnectionRequest = ConnectionRequest()) {
        self.request = request
        self.client = client
        self.user = user
        self.method = method
        self.data = data
        self.connectionInfo = connectionInfo
    }
}

/// The `rpc` hook's answer.
public enum RPCDecision: Sendable {
    /// The result's `data` (`nil`: none).
    case reply(JSONValue?)
    case reject(ProtocolError)
    case disconnect(CloseReason)
}
