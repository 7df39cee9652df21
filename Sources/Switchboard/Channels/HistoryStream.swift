/// A channel's publication stream: the epoch, the last offset given out, and the most recent
/// publications (at most `size` of them, none older than `ttl`).
///
/// A value type with no clock of its own: callers pass the time, so tests drive expiry directly.
public struct HistoryStream: Sendable {
    private struct Entry: Sendable {
        var publication: Publication
        var expiresAt: ContinuousClock.Instant
    }

    /// The stream's epoch; it never changes for the life of the stream.
    public let epoch: String
    /// The offset of the last publication appended (0 before the first).
    public private(set) var topOffset: UInt64 = 0
    /// Retained publications, oldest first, from `start`.
    private var entries: [Entry] = []
    private var start = 0

    /// An empty stream with this epoch (a fresh random one by default).
    public init(epoch: String = HistoryStream.makeEpoch()) {
        self.epoch = epoch
    }

    /// The stream's current position: its last offset and its epoch.
    public var position: StreamPosition { StreamPosition(offset: self.topOffset, epoch: self.epoch) }

    /// Number of publications retained (including expired ones not yet dropped).
    public var count: Int { self.entries.count - self.start }

    /// Append a publication, giving it the next offset, and drop what no longer fits.
    ///
    /// - Returns: The publication with its offset.
    public mutating func append(_ publication: Publication, size: Int, ttl: Duration, now: ContinuousClock.Instant) -> Publication {
        self.topOffset += 1
        var publication = publication
        publication.offset = self.topOffset
        self.entries.append(Entry(publication: publication, expiresAt: now + ttl))
        self.trim(size: size, now: now)
        return publication
    }

    /// Drop publications past `size` or past their time.
    public mutating func trim(size: Int, now: ContinuousClock.Instant) {
        while self.count > max(size, 0) { self.start += 1 }
        while self.start < self.entries.count, self.entries[self.start].expiresAt <= now { self.start += 1 }
        if self.start > 0, self.start * 2 >= self.entries.count {
            self.entries.removeFirst(self.start)
            self.start = 0
        }
    }

    /// Remove every retained publication; the epoch and offsets carry on.
    public mutating func removeAll() {
        self.entries.removeAll()
        self.start = 0
    }

    /// The publications after `position`, if the stream still holds all of them.
    ///
    /// - Returns: The publications with offsets above `position.offset` (oldest first), or `nil` when
    ///   the epoch differs, the position is ahead of the stream, or some of them are gone.
    public mutating func publications(after position: StreamPosition, now: ContinuousClock.Instant, size: Int) -> [Publication]? {
        self.trim(size: size, now: now)
        return Self.missed(after: position, in: self.entries[self.start...].map(\.publication), position: self.position)
    }

    /// What a client at `client` missed, from a stream's retained publications (oldest first) and
    /// position, wherever they are kept; see ``publications(after:now:size:)``.
    ///
    /// An empty epoch matches the stream's (as in Centrifugo: a client that loaded its state from
    /// the application knows an offset, and may not know the epoch).
    public static func missed(after client: StreamPosition, in retained: [Publication], position: StreamPosition) -> [Publication]? {
        guard client.epoch.isEmpty || client.epoch == position.epoch, client.offset <= position.offset else { return nil }
        if client.offset == position.offset { return [] }
        guard let oldest = retained.first?.offset, oldest <= client.offset + 1 else { return nil }
        return retained.filter { $0.offset > client.offset }
    }

    /// Why a history query cannot be answered.
    public enum QueryError: Error, Sendable, Equatable {
        /// `since` names another epoch or an offset ahead of the stream.
        case unrecoverablePosition
    }

    /// The publications a `history` call returns.
    ///
    /// - Parameters:
    ///   - since: Only publications after this position (which must be in this epoch); `nil` for all.
    ///   - limit: Most publications to return; 0 returns none (only the position), negative means no limit.
    ///   - reverse: Newest first (and the limit counts from the newest).
    public mutating func query(
        since: StreamPosition?,
        limit: Int,
        reverse: Bool,
        now: ContinuousClock.Instant,
        size: Int
    ) -> Result<[Publication], QueryError> {
        self.trim(size: size, now: now)
        return Self.select(from: self.entries[self.start...].map(\.publication), position: self.position, since: since, limit: limit, reverse: reverse)
    }

    /// A `history` call's answer from a stream's retained publications (oldest first) and position,
    /// wherever they are kept; see ``query(since:limit:reverse:now:size:)``.
    public static func select(
        from retained: [Publication],
        position: StreamPosition,
        since: StreamPosition?,
        limit: Int,
        reverse: Bool
    ) -> Result<[Publication], QueryError> {
        var retained = retained
        if let since {
            guard since.epoch == position.epoch, since.offset <= position.offset else { return .failure(.unrecoverablePosition) }
            retained.removeAll { $0.offset <= since.offset }
        }
        if reverse { retained.reverse() }
        if limit >= 0, retained.count > limit { retained.removeLast(retained.count - limit) }
        return .success(retained)
    }

    /// A fresh random epoch: 8 random bytes as 16 hex digits.
    public static func makeEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
