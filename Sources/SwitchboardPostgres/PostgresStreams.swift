public import Logging
public import PostgresNIO
public import Switchboard

/// The channels' publication streams of a cluster, in PostgreSQL.
///
/// One row per channel (`switchboard_streams`) gives out offsets: the publishing transaction
/// increments it under its row lock, so offsets increase by one per publication whichever node
/// publishes, and the epoch, made when the stream starts, survives node restarts. Publications are
/// kept in `switchboard_publications` for two uses: delivery to every node (the transaction ends
/// with `pg_notify` of the channel and offset, so the notification stays small whatever the
/// payload), and history (the last `historySize` of them, none older than the TTL).
public struct PostgresStreams: Sendable {
    /// The `LISTEN` channel of the cluster's notifications. A publication's payload is
    /// `p\t<offset>\t<data>\t<info>\t<tags>\t<channel>` when the whole publication fits in one
    /// (NOTIFY takes at most 7999 bytes), so every node delivers it without reading it back, and
    /// `<offset> <channel>` otherwise, so nodes fetch it. (Data, info and tags are compact JSON, which
    /// holds no tab; empty info or tags mean none.) Joins and leaves share the channel (``PresenceEvent``).
    public static let notificationChannel = "switchboard_publication"

    let client: PostgresClient
    let logger: Logger
    /// How long a publication stays fetchable for delivery even when history does not keep it (a
    /// channel without history, or one pushed out of a full history): longer than any node needs to
    /// catch up after a notification.
    let deliveryGrace: Duration
    /// Gathers publications that arrive together into one statement.
    let batcher: PostgresPublishBatcher

    public init(client: PostgresClient, logger: Logger, deliveryGrace: Duration = .seconds(60)) {
        self.client = client
        self.logger = logger
        self.deliveryGrace = deliveryGrace
        self.batcher = PostgresPublishBatcher { items in
            try await Self.appendBatch(items, client: client, logger: logger, deliveryGrace: deliveryGrace)
        }
    }

    /// Append a publication to a channel's stream and notify every listening node.
    ///
    /// Publications appended while another append is in the database go together in the next
    /// statement (``PostgresPublishBatcher``); each caller still gets its own offset, or its own error.
    ///
    /// - Parameters:
    ///   - historySize: How many publications the channel keeps as history (0: none).
    ///   - historyTTL: How long history keeps each publication.
    ///   - inHistory: `false` delivers the publication without showing it in history (`skip_history`);
    ///     the channel's history is trimmed as usual.
    ///   - newEpoch: The epoch of the stream if this publication starts it.
    /// - Returns: The publication with its offset, and the stream's epoch.
    public func append(
        _ publication: Publication,
        to channel: String,
        historySize: Int,
        historyTTL: Duration,
        inHistory: Bool = true,
        newEpoch: String = HistoryStream.makeEpoch()
    ) async throws -> (publication: Publication, epoch: String) {
        try await self.batcher.append(
            PostgresPublishBatcher.Item(
                publication: publication,
                channel: channel,
                historySize: historySize,
                historyTTL: historyTTL,
                inHistory: inHistory,
                newEpoch: newEpoch
            )
        )
    }

    /// The stream's position, or `nil` if nothing was ever published to the channel.
    public func position(of channel: String) async throws -> StreamPosition? {
        let rows = try await self.client.query(
            "SELECT top_offset, epoch FROM switchboard_streams WHERE channel = \(channel)",
            logger: self.logger
        )
        for try await (top, epoch) in rows.decode((Int64, String).self) {
            return StreamPosition(offset: UInt64(top), epoch: epoch)
        }
        return nil
    }

    /// The stream's position, starting the stream (offset 0, epoch `newEpoch`) if the channel has
    /// none yet, so that a subscriber to a channel never published to gets an epoch to recover in.
    public func startStream(of channel: String, newEpoch: String = HistoryStream.makeEpoch()) async throws -> StreamPosition {
        // Two statements. When another connection inserts the row at the same moment, the insert
        // waits for it and then does nothing; a read in the same statement would use the snapshot
        // from before that row existed and find nothing. A new statement has a new snapshot.
        let inserted = try await self.client.query(
            """
            INSERT INTO switchboard_streams (channel, epoch, top_offset) VALUES (\(channel), \(newEpoch), 0)
            ON CONFLICT (channel) DO NOTHING RETURNING top_offset, epoch
            """,
            logger: self.logger
        )
        for try await (top, epoch) in inserted.decode((Int64, String).self) {
            return StreamPosition(offset: UInt64(top), epoch: epoch)
        }
        guard let position = try await self.position(of: channel) else { throw PostgresStreamsError.noStream(channel) }
        return position
    }

    /// Publications after `offset`, oldest first, for delivery: everything still stored, history or
    /// not. A node that finds a gap (an offset missing) has fallen behind by more than the grace.
    public func publications(of channel: String, after offset: UInt64, limit: Int = 1000) async throws -> [Publication] {
        let rows = try await self.client.query(
            """
            SELECT "offset", data, info, tags, delta FROM switchboard_publications
            WHERE channel = \(channel) AND "offset" > \(Int64(clamping: offset))
            ORDER BY "offset" LIMIT \(limit)
            """,
            logger: self.logger
        )
        var publications: [Publication] = []
        for try await (offset, data, info, tags, delta) in rows.decode((Int64, String, String?, String?, Bool).self) {
            var publication = Self.publication(offset: offset, data: data, info: info, tags: tags)
            publication.delta = delta
            publications.append(publication)
        }
        return publications
    }

    /// The channel's history: its last `historySize` publications kept in history (`in_history`:
    /// not sent with `skip_history`, not removed) and not older than `historyTTL`, oldest first, with
    /// the stream's position (`nil` when the channel has no stream).
    ///
    /// - Parameter startingStream: Start the stream of a channel never published to
    ///   (``startStream(of:newEpoch:)``), so that the position is never `nil`.
    public func history(
        of channel: String,
        historySize: Int,
        historyTTL: Duration,
        startingStream: Bool = false
    ) async throws -> (publications: [Publication], position: StreamPosition?) {
        let read = try await self.readHistory(of: channel, historySize: historySize, historyTTL: historyTTL)
        guard read.position == nil, startingStream else { return read }
        // Read again once the stream exists: someone may have started it, and published, since the
        // first read, and the position and the publications must come from one snapshot.
        _ = try await self.startStream(of: channel)
        let again = try await self.readHistory(of: channel, historySize: historySize, historyTTL: historyTTL)
        guard again.position != nil else { throw PostgresStreamsError.noStream(channel) }
        return again
    }

    private func readHistory(
        of channel: String,
        historySize: Int,
        historyTTL: Duration
    ) async throws -> (publications: [Publication], position: StreamPosition?) {
        // One statement, so the position and the publications come from the same snapshot. History
        // counts only publications in it: those sent with `skip_history` take offsets but no place.
        let rows = try await self.client.query(
            """
            SELECT s.top_offset, s.epoch, p."offset", p.data, p.info, p.tags
            FROM switchboard_streams s
            LEFT JOIN LATERAL (
                SELECT "offset", data, info, tags FROM switchboard_publications
                WHERE channel = s.channel AND in_history
                  AND published_at > now() - \(historyTTL.milliseconds) * interval '1 millisecond'
                ORDER BY "offset" DESC LIMIT \(Int64(max(historySize, 0)))
            ) p ON true
            WHERE s.channel = \(channel)
            ORDER BY p."offset"
            """,
            logger: self.logger
        )
        var position: StreamPosition?
        var publications: [Publication] = []
        for try await (top, epoch, offset, data, info, tags) in rows.decode((Int64, String, Int64?, String?, String?, String?).self) {
            position = StreamPosition(offset: UInt64(top), epoch: epoch)
            if let offset, let data { publications.append(Self.publication(offset: offset, data: data, info: info, tags: tags)) }
        }
        return (publications, position)
    }

    /// Forget the channel's retained publications; its epoch and offsets carry on. They leave history
    /// at once, but stay for the delivery grace, for nodes that have not delivered them yet.
    public func removeHistory(of channel: String) async throws {
        _ = try await self.client.query(
            """
            UPDATE switchboard_publications
            SET in_history = false, expires_at = LEAST(expires_at, published_at + \(self.deliveryGrace.milliseconds) * interval '1 millisecond')
            WHERE channel = \(channel) AND in_history
            """,
            logger: self.logger
        ).collect()
    }

    /// Delete publications past their time. Call it now and then (a node does, every few seconds).
    ///
    /// - Returns: How many were deleted.
    @discardableResult
    public func removeExpired() async throws -> Int {
        var count = 0
        let rows = try await self.client.query(
            "WITH gone AS (DELETE FROM switchboard_publications WHERE expires_at <= now() RETURNING 1) SELECT count(*) FROM gone",
            logger: self.logger
        )
        for try await deleted in rows.decode(Int.self) { count = deleted }
        return count
    }

    /// What follows the offset in a publication's notification that carries it, or `nil` when the
    /// notification would be too large (see ``notificationChannel``).
    static func inlineNotice(_ data: String, info: String?, tags: String?, channel: String) -> String? {
        let notice = "\t\(data)\t\(info ?? "")\t\(tags ?? "")\t\(channel)"
        // "p", a tab and at most 20 digits come before it.
        return notice.utf8.count + 22 <= 7999 ? notice : nil
    }

    /// A publication notification's offset and channel, and the publication when it carries it; `nil`
    /// if the payload is not a publication's (see ``notificationChannel``).
    /// A notification that carries its publication starts with `p`, or `q` for one that asks for
    /// delta compression.
    public static func parseNotification(_ payload: String) -> (offset: UInt64, channel: String, publication: Publication?)? {
        if payload.hasPrefix("p\t") || payload.hasPrefix("q\t") {
            let parts = payload.split(separator: "\t", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count == 6, let offset = UInt64(parts[1]), !parts[2].isEmpty, !parts[5].isEmpty else { return nil }
            var publication = Self.publication(
                offset: Int64(clamping: offset),
                data: String(parts[2]),
                info: parts[3].isEmpty ? nil : String(parts[3]),
                tags: parts[4].isEmpty ? nil : String(parts[4])
            )
            publication.delta = payload.first == "q"
            return (offset, String(parts[5]), publication)
        }
        guard let space = payload.firstIndex(of: " "), let offset = UInt64(payload[..<space]) else { return nil }
        let channel = payload[payload.index(after: space)...]
        return channel.isEmpty ? nil : (offset, String(channel), nil)
    }

    private static func publication(offset: Int64, data: String, info: String?, tags: String?) -> Publication {
        Publication(
            offset: UInt64(offset),
            data: data,
            info: info.flatMap(ClientInfo.init(jsonText:)),
            tags: tags.flatMap { try? JSONValue.parse($0) }.map(Self.tags) ?? [:]
        )
    }

    private static func tags(_ value: JSONValue) -> [String: String] {
        var tags: [String: String] = [:]
        for member in value.members ?? [] { tags[member.key] = member.value.stringValue }
        return tags
    }
}

// Appending a batch of publications in one statement.
extension PostgresStreams {
    /// Append publications (to one channel or several) in one statement, so one round trip and one
    /// implicit transaction: each channel's stream row is taken once, under its lock (rows in channel
    /// order, so concurrent batches of several nodes cannot deadlock), and moved on by its number of
    /// publications, which take its offsets in the order given; history is trimmed per channel, and
    /// the notifications go out at commit in that order.
    ///
    /// - Returns: Each publication with its offset, and its stream's epoch, in the order given.
    static func appendBatch(
        _ items: [PostgresPublishBatcher.Item],
        client: PostgresClient,
        logger: Logger,
        deliveryGrace: Duration
    ) async throws -> [(publication: Publication, epoch: String)] {
        var statement = AppendBatch(graceMilliseconds: deliveryGrace.milliseconds)
        for item in items {
            let info = item.publication.info.map(\.json.jsonText)
            let tags = item.publication.tagsJSON?.jsonText
            statement.channels.append(item.channel)
            statement.data.append(item.publication.data)
            // JSON is never empty: '' stands for none (arrays of optionals are not encodable).
            statement.info.append(info ?? "")
            statement.tags.append(tags ?? "")
            let keep = item.inHistory ? max(item.historyTTL, deliveryGrace) : deliveryGrace
            statement.keepMilliseconds.append(keep.milliseconds)
            statement.inHistory.append(item.inHistory)
            statement.epochs.append(item.newEpoch)
            // A notice starts with a tab, so it is never empty either.
            statement.notices.append(Self.inlineNotice(item.publication.data, info: info, tags: tags, channel: item.channel) ?? "")
            statement.historySizes.append(Int64(max(item.historySize, 0)))
            statement.deltas.append(item.publication.delta)
        }
        var results = items.map { (publication: $0.publication, epoch: "") }
        var answered = 0
        for try await (n, offset, epoch) in try await client.execute(statement, logger: logger) {
            guard n >= 1, n <= results.count else { continue }
            results[n - 1].publication.offset = UInt64(offset)
            results[n - 1].epoch = epoch
            answered += 1
        }
        guard answered == items.count else { throw PostgresPublishError.unexpectedAnswer(expected: items.count, got: answered) }
        return results
    }

    /// The batch append, prepared once per connection (its plan is reused). Arrays, one element per
    /// publication, unnested with their position `n`.
    struct AppendBatch: PostgresPreparedStatement {
        typealias Row = (Int, Int64, String)

        // History keeps the newest `history_size` publications that are in it. The statement does
        // not see the rows it inserts, so the older ones it finds are pushed out from the
        // `history_size - h`th on, where h of the batch's publications of the channel join history.
        // Pushed out means out of history at once and expiring after the delivery grace (as rows
        // never in history do; `removeExpired` deletes them): only the rows just pushed out are
        // touched, found in the index of rows in history, which holds about `history_size` per
        // channel. (Deleting them here once older than the grace, as before, scanned every row of
        // the last grace period on each publish: 5 ms a statement with 100,000 of them.)
        // Notifications are sent in `n` order: each channel's in offset order.
        static let sql = """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[], $7::text[], $8::text[], $9::bigint[], $11::boolean[])
                    WITH ORDINALITY AS i(channel, data, info, tags, keep_ms, in_history, epoch, notice, history_size, delta, n)
            ), counts AS (
                SELECT channel, count(*) AS k, count(*) FILTER (WHERE in_history) AS h,
                       (array_agg(epoch ORDER BY n))[1] AS epoch, (array_agg(history_size ORDER BY n DESC))[1] AS history_size
                FROM input GROUP BY channel
            ), stream AS (
                INSERT INTO switchboard_streams AS s (channel, epoch, top_offset)
                SELECT channel, epoch, k FROM counts ORDER BY channel
                ON CONFLICT (channel) DO UPDATE SET top_offset = s.top_offset + EXCLUDED.top_offset
                RETURNING channel, top_offset, epoch
            ), numbered AS (
                SELECT i.n, i.channel, i.data, i.info, i.tags, i.keep_ms, i.in_history, i.notice, i.delta, s.epoch,
                       s.top_offset - c.k + row_number() OVER (PARTITION BY i.channel ORDER BY i.n) AS "offset"
                FROM input i JOIN counts c USING (channel) JOIN stream s USING (channel)
            ), stored AS (
                INSERT INTO switchboard_publications (channel, "offset", data, info, tags, expires_at, in_history, delta)
                SELECT channel, "offset", data, NULLIF(info, ''), NULLIF(tags, ''), now() + keep_ms * interval '1 millisecond', in_history, delta
                FROM numbered
            ), trimmed AS (
                UPDATE switchboard_publications p
                SET in_history = false, expires_at = LEAST(p.expires_at, p.published_at + $10 * interval '1 millisecond')
                FROM (
                    SELECT c.channel, (
                        SELECT h."offset" FROM switchboard_publications h WHERE h.channel = c.channel AND h.in_history
                        ORDER BY h."offset" DESC OFFSET greatest(c.history_size - c.h, 0) LIMIT 1
                    ) AS cut
                    FROM counts c
                ) t
                WHERE p.channel = t.channel AND p.in_history AND p."offset" <= t.cut
            ), notified AS (
                SELECT pg_notify(
                    '\(PostgresStreams.notificationChannel)',
                    CASE WHEN notice = '' THEN "offset"::text || ' ' || channel
                         ELSE CASE WHEN delta THEN 'q' ELSE 'p' END || chr(9) || "offset"::text || notice END
                )
                FROM (SELECT n, "offset", notice, channel, delta FROM numbered ORDER BY n) ordered
            )
            SELECT n::integer, "offset", epoch FROM numbered, (SELECT count(*) FROM notified) sent ORDER BY n
            """

        var channels: [String] = []
        var data: [String] = []
        var info: [String] = []
        var tags: [String] = []
        var keepMilliseconds: [Int64] = []
        var inHistory: [Bool] = []
        var epochs: [String] = []
        var notices: [String] = []
        var historySizes: [Int64] = []
        var deltas: [Bool] = []
        let graceMilliseconds: Int64

        init(graceMilliseconds: Int64) {
            self.graceMilliseconds = graceMilliseconds
        }

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 11)
            bindings.append(self.channels)
            bindings.append(self.data)
            bindings.append(self.info)
            bindings.append(self.tags)
            bindings.append(self.keepMilliseconds)
            bindings.append(self.inHistory)
            bindings.append(self.epochs)
            bindings.append(self.notices)
            bindings.append(self.historySizes)
            bindings.append(self.graceMilliseconds)
            bindings.append(self.deltas)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            try row.decode(Row.self)
        }
    }
}

/// What went wrong with a stream beyond a database error.
public enum PostgresStreamsError: Error, Equatable {
    /// The channel's stream could not be found or started.
    case noStream(String)
}
