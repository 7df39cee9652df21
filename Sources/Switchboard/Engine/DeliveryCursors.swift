public import Logging
import Synchronization

/// How an engine that keeps streams outside the node (PostgreSQL, Redis) delivers the cluster's
/// publications to this node's hub: per channel in offset order, once each, whatever order and
/// shape the announcements come in.
///
/// The engine tells it of every publication it hears of (``heard(_:epoch:in:carrying:)``), with
/// the publication when the announcement carries it. The next one in order goes to the hub at once;
/// when this node is further behind, or the announcement did not carry the publication, it reads
/// what it has not delivered from the stream (the `fetch` given at init), one read per channel at a
/// time, merged with what it heard meanwhile. Publications that are in neither (gone from the stream
/// before this node read them) are a loss the hub is told of (``Hub/insufficientState(_:)``), so
/// subscribers that track positions recover.
///
/// A subscribe calls ``prepare(_:)`` before reading the stream's position, then ``start(_:at:epoch:)``
/// with what it read: what is heard in between is kept, not dropped. ``release(_:)`` forgets a
/// channel whose last local subscriber left.
public final class DeliveryCursors: Sendable {
    /// Read a channel's publications after an offset, oldest first (at most `limit`).
    public typealias Fetch = @Sendable (_ channel: String, _ after: UInt64, _ limit: Int) async throws(EngineError) -> [Publication]

    struct Cursor {
        /// The last offset delivered to the hub; `nil` while the first subscriber reads the position.
        var delivered: UInt64?
        /// The stream's epoch, when the engine tells it: a new one means the stream restarted.
        var epoch: String?
        /// Nothing was delivered since the cursor started (its start may still move back).
        var fresh = true
        /// A fetch is running for the channel.
        var fetching = false
        /// Something new was announced while it ran: fetch again when it ends.
        var again = false
        /// Publications heard while behind, by offset, for the fetch to merge.
        var pending: [UInt64: Publication] = [:]
    }

    /// The most publications kept per channel while its fetch runs; beyond it, the stream has them.
    public static let pendingLimit = 10_000

    let hub: Hub
    let logger: Logger
    let pageSize: Int
    let fetchPublications: Fetch
    let cursors = Mutex<[String: Cursor]>([:])
    let fetches: (stream: AsyncStream<String>, continuation: AsyncStream<String>.Continuation)

    /// - Parameters:
    ///   - pageSize: Most publications one fetch reads; a full page is followed by another.
    ///   - fetch: Reads a channel's publications after an offset.
    public init(hub: Hub, logger: Logger, pageSize: Int = 1000, fetch: @escaping Fetch) {
        self.hub = hub
        self.logger = logger
        self.pageSize = pageSize
        self.fetchPublications = fetch
        self.fetches = AsyncStream.makeStream(of: String.self)
    }

    /// The channels this node follows.
    public var channels: [String] { self.cursors.withLock { Array($0.keys) } }

    /// A subscriber is about to read the channel's position: from now on keep what is heard of it.
    public func prepare(_ channel: String) {
        self.cursors.withLock { cursors in
            if cursors[channel] == nil { cursors[channel] = Cursor() }
        }
    }

    /// A subscriber read the channel's position (`top`, the last offset its outcome covers): a
    /// channel new to this node delivers what comes after it. One already followed keeps its own
    /// place, or moves back to `top` if it has delivered nothing yet (the hub holds back, for every
    /// subscriber that read further, what it has already). Then catch up what was heard meanwhile.
    public func start(_ channel: String, at top: UInt64, epoch: String? = nil) {
        self.cursors.withLock { cursors in
            var cursor = cursors[channel] ?? Cursor()
            if cursor.epoch == nil { cursor.epoch = epoch }
            if let delivered = cursor.delivered {
                if cursor.fresh, top < delivered, epoch == nil || epoch == cursor.epoch { cursor.delivered = top }
            } else {
                cursor.delivered = top
            }
            cursors[channel] = cursor
        }
        self.fetch(channel)
    }

    /// Subscribe a local connection, as every engine with streams outside the node does: the hub
    /// holds what the channel sends the subscriber from now on, `read` reads the stream (and writes
    /// its presence entry), delivery starts after what it read, and the reply is queued before
    /// anything published after it.
    ///
    /// - Parameters:
    ///   - read: The stream's position and the subscriber's outcome.
    ///   - abandoned: After the hub forgot the subscriber: `read` failed (`false`), or it left
    ///     meanwhile (`true`: its entry may have been written and must be removed).
    /// - Returns: The outcome, or `nil` if the subscriber left before it was complete.
    public func subscribe(
        _ channel: String,
        options: ChannelOptions,
        subscriber: Subscriber,
        reply: (Hub.SubscribeOutcome) -> OutboundMessage?,
        read: () async throws(EngineError) -> (position: StreamPosition?, outcome: Hub.SubscribeOutcome),
        abandoned: (_ afterRead: Bool) -> Void
    ) async throws(EngineError) -> Hub.SubscribeOutcome? {
        self.hub.beginSubscribe(channel, options: options, subscriber: subscriber)
        // What is heard from now on is kept until the read says where delivery starts.
        self.prepare(channel)
        let position: StreamPosition?
        let outcome: Hub.SubscribeOutcome
        do throws(EngineError) {
            (position, outcome) = try await read()
        } catch {
            self.hub.abandonSubscribe(channel, client: subscriber.client)
            abandoned(false)
            throw error
        }
        self.start(channel, at: position?.offset ?? 0, epoch: position?.epoch)
        guard self.hub.completeSubscribe(channel, client: subscriber.client, outcome: outcome, reply: reply) else {
            abandoned(true)
            return nil
        }
        return outcome
    }

    /// Forget a channel that has no local subscriber left (a running fetch forgets it when it ends).
    ///
    /// - Returns: Whether the channel is no longer followed.
    @discardableResult
    public func release(_ channel: String) -> Bool {
        self.cursors.withLock { cursors in
            guard let cursor = cursors[channel] else { return true }
            guard !cursor.fetching, !self.hub.hasSubscribers(channel) else { return false }
            cursors[channel] = nil
            return true
        }
    }

    /// Where delivery of a channel is, for tests: the last offset delivered (`nil` before the first
    /// subscriber's read) and whether a fetch runs; `nil` when the channel is not followed.
    package func state(of channel: String) -> (delivered: UInt64?, fetching: Bool)? {
        self.cursors.withLock { $0[channel].map { ($0.delivered, $0.fetching) } }
    }

    /// Whether the channel is followed.
    public func follows(_ channel: String) -> Bool { self.cursors.withLock { $0[channel] != nil } }

    /// A publication was announced: deliver it from the announcement when it is the next one and no
    /// fetch is running for the channel; otherwise keep it for the fetch, and fetch.
    ///
    /// - Parameter epoch: The stream's epoch, if the announcement says: a different one than before
    ///   means the stream restarted (its store lost it), which subscribers that track positions are
    ///   told of, and the cursor follows the new stream.
    public func heard(_ offset: UInt64, epoch: String? = nil, in channel: String, carrying publication: Publication?) {
        var restarted = false
        let behind = self.cursors.withLock { cursors -> Bool in
            guard var cursor = cursors[channel] else { return false }
            defer { cursors[channel] = cursor }
            if let epoch {
                if let known = cursor.epoch, known != epoch, cursor.delivered != nil {
                    restarted = true
                    cursor.delivered = offset - 1
                    cursor.pending = [:]
                }
                cursor.epoch = epoch
            }
            guard let delivered = cursor.delivered else {
                if let publication, cursor.pending.count < Self.pendingLimit { cursor.pending[offset] = publication }
                return false
            }
            guard offset > delivered else { return false }
            if let publication, !cursor.fetching, offset == delivered + 1 {
                // Under the lock, so that no fetch starts (and delivers it again) in between.
                self.hub.deliver(publication, to: channel)
                cursor.delivered = offset
                cursor.fresh = false
                return false
            }
            if let publication, cursor.pending.count < Self.pendingLimit { cursor.pending[offset] = publication }
            return true
        }
        if restarted {
            self.logger.error("A channel's stream restarted with a new epoch: its publications before are lost", metadata: ["channel": "\(channel)"])
            self.hub.insufficientState(channel)
        }
        if behind { self.fetch(channel) }
    }

    /// Fetch and deliver what this node has not delivered yet; one fetch per channel at a time.
    public func fetch(_ channel: String) {
        let start = self.cursors.withLock { cursors -> Bool in
            guard let cursor = cursors[channel], cursor.delivered != nil else { return false }
            if cursor.fetching {
                cursors[channel]!.again = true
                return false
            }
            cursors[channel]!.fetching = true
            return true
        }
        if start { self.fetches.continuation.yield(channel) }
    }

    /// Fetch every followed channel (after announcements may have been lost).
    public func catchUpAll() {
        for channel in self.channels { self.fetch(channel) }
    }

    /// Run the fetches until ``finish()``.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await channel in self.fetches.stream {
                group.addTask { await self.fetchLoop(channel) }
            }
        }
    }

    /// End ``run()``.
    public func finish() {
        self.fetches.continuation.finish()
    }

    func fetchLoop(_ channel: String) async {
        while !Task.isCancelled {
            // Only this loop moves the channel's cursor forward (one loop per channel); an epoch
            // change may move it, which the delivery below checks.
            guard let delivered = self.cursors.withLock({ $0[channel]?.delivered }) else { return }
            let fetched: [Publication]
            do throws(EngineError) {
                fetched = try await self.fetchPublications(channel, delivered, self.pageSize)
            } catch {
                // The store is unreachable: try again (the engine reconnects meanwhile).
                self.logger.warning("Could not fetch publications", metadata: ["channel": "\(channel)", "error": "\(error.message)"])
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            let fullPage = fetched.count == self.pageSize
            self.cursors.withLock { cursors in
                guard var cursor = cursors[channel], cursor.delivered == delivered else { return }
                defer { cursors[channel] = cursor }
                // Fetched, then heard, in offset order; heard ones past a full page wait for the next.
                var merged: [UInt64: Publication] = [:]
                for publication in fetched where publication.offset > delivered { merged[publication.offset] = publication }
                let limit = fullPage ? (fetched.last?.offset ?? .max) : .max
                for (offset, publication) in cursor.pending where offset > delivered && offset <= limit { merged[offset] = merged[offset] ?? publication }
                var last = delivered
                for offset in merged.keys.sorted() {
                    if offset > last + 1 {
                        self.logger.error(
                            "Publications were gone before this node delivered them",
                            metadata: ["channel": "\(channel)", "missing": "\(last + 1)...\(offset - 1)"]
                        )
                        // Subscribers that track positions reconnect and recover (or learn they cannot).
                        self.hub.insufficientState(channel)
                    }
                    self.hub.deliver(merged[offset]!, to: channel)
                    last = offset
                    cursor.fresh = false
                }
                cursor.delivered = last
                cursor.pending = cursor.pending.filter { $0.key > last }
            }
            if fullPage { continue }
            // Done unless more was announced meanwhile; forget channels with no local subscribers.
            let more = self.cursors.withLock { cursors -> Bool in
                guard let cursor = cursors[channel] else { return false }
                if cursor.again {
                    cursors[channel]!.again = false
                    return true
                }
                if !self.hub.hasSubscribers(channel) {
                    cursors[channel] = nil
                } else {
                    cursors[channel]!.fetching = false
                }
                return false
            }
            if !more { return }
        }
    }
}
