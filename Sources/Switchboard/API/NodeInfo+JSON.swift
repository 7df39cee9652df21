/// A node as the server API's `info` shows it (Centrifugo's names), which is also how a node tells
/// the rest of its cluster about itself (``Engine/shareNodeInfo(_:)``).
extension NodeInfo {
    /// `uid`, `name`, `version`, `num_clients`, `num_users`, `num_channels`, `num_subs`, `uptime`
    /// (whole seconds) and `engine` (`ready`, and the `reason` when it is not).
    public var json: JSONValue {
        let engine: JSONValue =
            switch self.engineStatus {
            case .ready: .object(["ready": .bool(true)])
            case .unavailable(let reason): .object(["ready": .bool(false), "reason": .string(reason)])
            }
        return .object([
            "uid": .string(self.identity.id),
            "name": .string(self.identity.name),
            "version": .string(self.identity.version),
            "num_clients": .integer(self.clients),
            "num_users": .integer(self.users),
            "num_channels": .integer(self.channels),
            "num_subs": .integer(self.subscriptions),
            "uptime": .integer(self.uptime.components.seconds),
            "engine": engine,
        ])
    }

    /// A node from its ``json``, `since` after it was made (added to its uptime), or `nil` when the
    /// text is not such a node.
    public init?(json: JSONValue, since: Duration = .zero) {
        guard let id = json["uid"]?.stringValue, let name = json["name"]?.stringValue, let version = json["version"]?.stringValue,
            let clients = json["num_clients"]?.integerValue(), let users = json["num_users"]?.integerValue(),
            let channels = json["num_channels"]?.integerValue(), let subscriptions = json["num_subs"]?.integerValue(),
            let uptimeSeconds = json["uptime"]?.integerValue(Int64.self)
        else { return nil }
        let uptime = Duration.seconds(uptimeSeconds) + since
        let status: EngineStatus =
            json["engine"]?["ready"]?.boolValue == false
            ? .unavailable(json["engine"]?["reason"]?.stringValue ?? "unknown") : .ready
        self.init(
            identity: NodeIdentity(id: id, name: name, version: version, startedAt: .now - uptime),
            clients: clients,
            users: users,
            channels: channels,
            subscriptions: subscriptions,
            uptime: uptime,
            engineStatus: status
        )
    }
}
