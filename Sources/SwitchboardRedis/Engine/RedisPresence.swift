import NIOCore
public import Switchboard

/// Cluster-wide presence in one Redis (a shard): who is subscribed to each of its channels, on
/// which node, with the farewell to publish when they leave.
///
/// Keys: `<prefix>:presence:<channel>`, a hash of client id → entry (`<node>\t<farewell history
/// size or ->\t<farewell history TTL ms>\t<info JSON>\t<farewell data>`), and
/// `<prefix>:node-presence:<node>`, a set of `<client>\t<channel>` of each node's entries, so that
/// the entries of a node that died or left can be taken in one step (``takeNode(_:)``). Every change
/// is one script, so two nodes removing the same entry never both get it: whoever takes an entry
/// announces the leave and publishes the farewell.
public struct RedisPresence: Sendable {
    let client: RedisClient
    let prefix: String

    public init(client: RedisClient, prefix: String = "switchboard") {
        self.client = client
        self.prefix = prefix
    }

    func presenceKey(_ channel: String) -> ByteBuffer { ByteBuffer(string: "\(self.prefix):presence:\(channel)") }
    func nodeKey(_ node: String) -> ByteBuffer { ByteBuffer(string: "\(self.prefix):node-presence:\(node)") }

    static let addScript = RedisScript(
        """
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('SADD', KEYS[2], ARGV[3])
        if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[4]) end
        return 1
        """
    )

    /// A client of `node` entered a channel (again: its entry is replaced), with its farewell, and
    /// the join to announce on `pubSubChannel` (in the same step), if any.
    public func add(
        _ info: ClientInfo,
        to channel: String,
        node: String,
        farewell: Farewell?,
        announcing join: PresenceEvent?,
        on pubSubChannel: String
    ) async throws(RedisError) {
        _ = try await Self.addScript.run(
            on: self.client,
            keys: [self.presenceKey(channel), self.nodeKey(node)],
            arguments: [
                ByteBuffer(string: info.client),
                ByteBuffer(string: Self.entry(node: node, info: info, farewell: farewell)),
                ByteBuffer(string: "\(info.client)\t\(channel)"),
                ByteBuffer(string: join?.payload ?? ""),
                ByteBuffer(string: pubSubChannel),
            ]
        )
    }

    static let takeScript = RedisScript(
        """
        local entry = redis.call('HGET', KEYS[1], ARGV[1])
        if not entry then return false end
        redis.call('HDEL', KEYS[1], ARGV[1])
        local node = string.sub(entry, 1, string.find(entry, '\\t', 1, true) - 1)
        redis.call('SREM', ARGV[2] .. node, ARGV[1] .. '\\t' .. ARGV[3])
        return entry
        """
    )

    /// A client left a channel: remove its entry and return it (its farewell is now the caller's to
    /// publish), or `nil` if it was not present.
    public func take(client: String, from channel: String) async throws(RedisError) -> PresenceEntry? {
        let reply = try await Self.takeScript.run(
            on: self.client,
            keys: [self.presenceKey(channel)],
            arguments: [ByteBuffer(string: client), ByteBuffer(string: "\(self.prefix):node-presence:"), ByteBuffer(string: channel)]
        )
        return reply.string.flatMap { Self.presenceEntry(channel: channel, entry: $0) }
    }

    static let takeNodeScript = RedisScript(
        """
        local out = {}
        for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local tab = string.find(member, '\\t', 1, true)
          if tab then
            local client = string.sub(member, 1, tab - 1)
            local channel = string.sub(member, tab + 1)
            local key = ARGV[1] .. channel
            local entry = redis.call('HGET', key, client)
            if entry and string.sub(entry, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '\\t' then
              redis.call('HDEL', key, client)
              table.insert(out, channel)
              table.insert(out, entry)
            end
          end
        end
        redis.call('DEL', KEYS[1])
        return out
        """
    )

    /// Remove every entry of a node (one that died, or this one leaving) and return them, for the
    /// leaves to announce and the farewells to publish.
    public func takeNode(_ node: String) async throws(RedisError) -> [PresenceEntry] {
        let reply = try await Self.takeNodeScript.run(
            on: self.client,
            keys: [self.nodeKey(node)],
            arguments: [ByteBuffer(string: "\(self.prefix):presence:"), ByteBuffer(string: node)]
        )
        guard let parts = reply.array, parts.count % 2 == 0 else { throw RedisError("the presence script answered \(reply)") }
        return stride(from: 0, to: parts.count, by: 2).compactMap { index in
            guard let channel = parts[index].string, let entry = parts[index + 1].string else { return nil }
            return Self.presenceEntry(channel: channel, entry: entry)
        }
    }

    /// Who is in a channel, on every node, ordered by client id.
    public func members(of channel: String) async throws(RedisError) -> [ClientInfo] {
        try await self.entries(of: channel).map(\.info).sorted { $0.client < $1.client }
    }

    /// Number of clients and of distinct users in a channel, on every node.
    public func stats(of channel: String) async throws(RedisError) -> (clients: Int, users: Int) {
        let entries = try await self.entries(of: channel)
        return (entries.count, Set(entries.map(\.info.user)).count)
    }

    private func entries(of channel: String) async throws(RedisError) -> [PresenceEntry] {
        let reply = try await self.client.send(RESPCommand([ByteBuffer(string: "HVALS"), self.presenceKey(channel)]))
        guard let values = reply.array else { throw RedisError("HVALS answered \(reply)") }
        return values.compactMap { $0.string.flatMap { Self.presenceEntry(channel: channel, entry: $0) } }
    }

    // MARK: Encoding

    static func entry(node: String, info: ClientInfo, farewell: Farewell?) -> String {
        let size = farewell.map { String($0.historySize) } ?? "-"
        let ttl = farewell.map { String($0.historyTTL.milliseconds) } ?? "0"
        return [node, size, ttl, info.json.jsonText, farewell?.data ?? ""].joined(separator: "\t")
    }

    static func presenceEntry(channel: String, entry: String) -> PresenceEntry? {
        let parts = entry.split(separator: "\t", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, let info = ClientInfo(jsonText: String(parts[3])) else { return nil }
        var farewell: Farewell?
        if parts[1] != "-", let size = Int(parts[1]), let ttl = Int64(parts[2]) {
            farewell = Farewell(data: String(parts[4]), historySize: size, historyTTL: .milliseconds(ttl))
        }
        return PresenceEntry(channel: channel, info: info, farewell: farewell)
    }
}

/// The cluster's nodes, in the first shard: `<prefix>:nodes`, a sorted set of node → the Redis time
/// (ms) of its last heartbeat, and `<prefix>:node:<node>`, what the node last reported about itself
/// (expiring with the node TTL). Redis's clock is the only one used, so nodes' clocks may differ.
public struct RedisNodes: Sendable {
    let client: RedisClient
    let prefix: String

    public init(client: RedisClient, prefix: String = "switchboard") {
        self.client = client
        self.prefix = prefix
    }

    static let heartbeatScript = RedisScript(
        """
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
        return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3])))
        """
    )

    /// Mark `node` alive now, with its report (server API `info` as JSON) if any.
    ///
    /// - Returns: The nodes not seen for `ttl`: dead, for the caller to reap (``forget(_:)`` after
    ///   their presence is taken).
    public func heartbeat(_ node: String, info: String?, ttl: Duration) async throws(RedisError) -> [String] {
        let reply = try await Self.heartbeatScript.run(
            on: self.client,
            keys: [ByteBuffer(string: "\(self.prefix):nodes"), ByteBuffer(string: "\(self.prefix):node:\(node)")],
            arguments: [ByteBuffer(string: node), ByteBuffer(string: info ?? ""), ByteBuffer(string: String(ttl.milliseconds))]
        )
        guard let dead = reply.array else { throw RedisError("the heartbeat script answered \(reply)") }
        return dead.compactMap(\.string).filter { $0 != node }
    }

    /// Remove a node from the cluster (after its presence entries were taken).
    public func forget(_ node: String) async throws(RedisError) {
        let replies = try await self.client.send([
            RESPCommand("ZREM", "\(self.prefix):nodes", node),
            RESPCommand("DEL", "\(self.prefix):node:\(node)"),
        ])
        for case .error(let error) in replies { throw error }
    }

    static let othersScript = RedisScript(
        """
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        local out = {}
        local nodes = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf', 'WITHSCORES')
        for i = 1, #nodes, 2 do
          if nodes[i] ~= ARGV[1] then
            local info = redis.call('GET', ARGV[3] .. nodes[i])
            if info then
              table.insert(out, info)
              table.insert(out, tostring(now - tonumber(nodes[i + 1])))
            end
          end
        end
        return out
        """
    )

    /// The other nodes seen within `ttl` that reported about themselves: each one's report and how
    /// long ago it was made.
    public func others(than node: String, ttl: Duration) async throws(RedisError) -> [(info: String, age: Duration)] {
        let reply = try await Self.othersScript.run(
            on: self.client,
            keys: [ByteBuffer(string: "\(self.prefix):nodes")],
            arguments: [ByteBuffer(string: node), ByteBuffer(string: String(ttl.milliseconds)), ByteBuffer(string: "\(self.prefix):node:")]
        )
        guard let parts = reply.array, parts.count % 2 == 0 else { throw RedisError("the nodes script answered \(reply)") }
        return stride(from: 0, to: parts.count, by: 2).compactMap { index in
            guard let info = parts[index].string, let age = parts[index + 1].integer else { return nil }
            return (info, .milliseconds(max(0, age)))
        }
    }
}
