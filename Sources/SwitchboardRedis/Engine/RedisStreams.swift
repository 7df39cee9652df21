public import NIOCore
public import Switchboard

/// Channel streams in one Redis (a shard): offsets, epochs and history, with Centrifugo's design.
///
/// One Lua script per publication increments the channel's offset, keeps (or starts) its epoch,
/// appends the publication to the channel's history (a Redis stream whose entry ids are `0-<offset>`,
/// trimmed to the history size, expiring a history TTL after the last publication) and PUBLISHes it
/// with its offset and epoch, in one atomic step: what subscribers hear is in offset order, and a
/// node that notices a gap reads the history.
///
/// Keys (`<prefix>` is `switchboard` by default): `<prefix>:meta:<channel>`, a hash of the top offset
/// (`s`) and the epoch (`e`), kept `metaTTL` after the last publication; `<prefix>:history:<channel>`;
/// and the pub/sub channel `<prefix>:ch:<channel>`.
public struct RedisStreams: Sendable {
    let client: RedisClient
    let prefix: String
    /// How long a channel's offset and epoch outlive its last publication.
    let metaTTL: Duration

    public init(client: RedisClient, prefix: String = "switchboard", metaTTL: Duration = .seconds(30 * 24 * 3600)) {
        self.client = client
        self.prefix = prefix
        self.metaTTL = metaTTL
    }

    func metaKey(_ channel: String) -> ByteBuffer { ByteBuffer(string: "\(self.prefix):meta:\(channel)") }
    func historyKey(_ channel: String) -> ByteBuffer { ByteBuffer(string: "\(self.prefix):history:\(channel)") }
    /// The pub/sub channel of a channel.
    public func pubSubChannel(_ channel: String) -> String { "\(self.prefix):ch:\(channel)" }
    /// The channel of a pub/sub channel, or `nil` if it is not one of these streams'.
    public func channel(ofPubSubChannel name: String) -> String? {
        let head = "\(self.prefix):ch:"
        return name.hasPrefix(head) ? String(name.dropFirst(head.count)) : nil
    }

    static let publishScript = RedisScript(
        """
        local offset = redis.call('HINCRBY', KEYS[1], 's', 1)
        local epoch = redis.call('HGET', KEYS[1], 'e')
        if not epoch then
          epoch = ARGV[3]
          redis.call('HSET', KEYS[1], 'e', epoch)
        end
        redis.call('EXPIRE', KEYS[1], ARGV[4])
        if ARGV[5] == '1' then
          redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[6], '0-' .. offset, 'p', ARGV[2])
          redis.call('EXPIRE', KEYS[2], ARGV[7])
        end
        redis.call('PUBLISH', ARGV[1], offset .. '\\t' .. epoch .. '\\t' .. ARGV[2])
        return {offset, epoch}
        """
    )

    /// Give a publication the channel's next offset, keep it in history if asked, and publish it.
    ///
    /// - Returns: The publication with its offset, and the stream's epoch.
    public func publish(
        _ publication: Publication,
        to channel: String,
        historySize: Int,
        historyTTL: Duration,
        inHistory: Bool
    ) async throws(RedisError) -> (publication: Publication, epoch: String) {
        let keep = inHistory && historySize > 0 && historyTTL > .zero
        let reply = try await Self.publishScript.run(
            on: self.client,
            keys: [self.metaKey(channel), self.historyKey(channel)],
            arguments: [
                ByteBuffer(string: self.pubSubChannel(channel)),
                ByteBuffer(string: Self.body(of: publication)),
                ByteBuffer(string: HistoryStream.makeEpoch()),
                ByteBuffer(string: String(max(self.metaTTL, historyTTL).wholeSeconds)),
                ByteBuffer(string: keep ? "1" : "0"),
                ByteBuffer(string: String(historySize)),
                ByteBuffer(string: String(historyTTL.wholeSeconds)),
            ]
        )
        guard let parts = reply.array, parts.count == 2, let offset = parts[0].integer, offset > 0, let epoch = parts[1].string else {
            throw RedisError("the publish script answered \(reply)")
        }
        var published = publication
        published.offset = UInt64(offset)
        return (published, epoch)
    }

    static let readScript = RedisScript(
        """
        local top = redis.call('HGET', KEYS[1], 's')
        local epoch = redis.call('HGET', KEYS[1], 'e')
        if not epoch then
          if ARGV[1] == '0' then return {} end
          epoch = ARGV[2]
          top = '0'
          redis.call('HSET', KEYS[1], 's', 0, 'e', epoch)
          redis.call('EXPIRE', KEYS[1], ARGV[3])
        end
        return {top or '0', epoch, redis.call('XRANGE', KEYS[2], '-', '+')}
        """
    )

    /// The channel's position and every publication its history keeps, read together.
    ///
    /// - Parameter startingStream: Start a stream (offset 0, a new epoch) for a channel that has
    ///   none, so a first subscriber has an epoch to recover in; otherwise such a channel has no
    ///   position.
    public func history(of channel: String, startingStream: Bool) async throws(RedisError) -> (publications: [Publication], position: StreamPosition?) {
        let reply = try await Self.readScript.run(
            on: self.client,
            keys: [self.metaKey(channel), self.historyKey(channel)],
            arguments: [
                ByteBuffer(string: startingStream ? "1" : "0"),
                ByteBuffer(string: HistoryStream.makeEpoch()),
                ByteBuffer(string: String(self.metaTTL.wholeSeconds)),
            ]
        )
        guard let parts = reply.array else { throw RedisError("the history script answered \(reply)") }
        if parts.isEmpty { return ([], nil) }
        guard parts.count == 3, let top = parts[0].integer, let epoch = parts[1].string, let entries = parts[2].array else {
            throw RedisError("the history script answered \(reply)")
        }
        return (try Self.publications(entries), StreamPosition(offset: UInt64(top), epoch: epoch))
    }

    /// The publications kept after `offset`, oldest first (at most `limit`).
    public func publications(of channel: String, after offset: UInt64, limit: Int = 1000) async throws(RedisError) -> [Publication] {
        let reply = try await self.client.send(
            RESPCommand([ByteBuffer(string: "XRANGE"), self.historyKey(channel), ByteBuffer(string: "(0-\(offset)"), ByteBuffer(string: "+"),
                         ByteBuffer(string: "COUNT"), ByteBuffer(string: String(limit))])
        )
        guard let entries = reply.array else { throw RedisError("XRANGE answered \(reply)") }
        return try Self.publications(entries)
    }

    /// Forget the channel's history; its offset and epoch carry on.
    public func removeHistory(of channel: String) async throws(RedisError) {
        try await self.client.send(RESPCommand([ByteBuffer(string: "DEL"), self.historyKey(channel)]))
    }

    // MARK: Encoding

    /// A publication without its offset: `<info JSON>\t<tags JSON>\t<data>` (either JSON may be
    /// empty), preceded by `d` when the publication asks for delta compression (info, when there
    /// is one, starts with `{`). Compact JSON holds no tab outside its strings, where tabs are escaped.
    static func body(of publication: Publication) -> String {
        (publication.delta ? "d" : "") + [publication.info?.json.jsonText ?? "", publication.tagsJSON?.jsonText ?? "", publication.data].joined(separator: "\t")
    }

    static func publication(offset: UInt64, body: Substring) -> Publication? {
        let delta = body.first == "d"
        let body = delta ? body.dropFirst() : body
        let parts = body.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var tags: [String: String] = [:]
        if !parts[1].isEmpty, let members = (try? JSONValue.parse(String(parts[1])))?.members {
            for member in members { tags[member.key] = member.value.stringValue }
        }
        var publication = Publication(
            offset: offset,
            data: String(parts[2]),
            info: parts[0].isEmpty ? nil : ClientInfo(jsonText: String(parts[0])),
            tags: tags
        )
        publication.delta = delta
        return publication
    }

    /// A pub/sub message of a channel: `<offset>\t<epoch>\t<body>`.
    public static func parseMessage(_ payload: ByteBuffer) -> (offset: UInt64, epoch: String, publication: Publication)? {
        let text = String(buffer: payload)
        let parts = text.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let offset = UInt64(parts[0]), let publication = Self.publication(offset: offset, body: parts[2]) else { return nil }
        return (offset, String(parts[1]), publication)
    }

    /// Entries of XRANGE: `[[id, [field, value, …]], …]`, ids `0-<offset>`.
    static func publications(_ entries: [RESPValue]) throws(RedisError) -> [Publication] {
        var publications: [Publication] = []
        publications.reserveCapacity(entries.count)
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].array,
                let offset = id.split(separator: "-").last.flatMap({ UInt64($0) }), fields.count >= 2, let body = fields[1].string,
                let publication = Self.publication(offset: offset, body: Substring(body))
            else { throw RedisError("a history entry that is not a publication: \(entry)") }
            publications.append(publication)
        }
        return publications
    }
}

extension Duration {
    /// Whole seconds, at least 1 (Redis's EXPIRE takes whole seconds; 0 would delete the key).
    var wholeSeconds: Int64 { max(1, self.components.seconds + (self.components.attoseconds > 0 ? 1 : 0)) }
}
