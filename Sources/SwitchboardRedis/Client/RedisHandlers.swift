import NIOCore

/// Bytes in, RESP values out (``RESPParser``): split and merged reads alike.
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    let parser: RESPParser

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try self.parser.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// A command on its way out with the promise of its reply.
struct RedisRequest: Sendable {
    let commands: [RESPCommand]
    /// Replies that answer the commands: one each, unless a command gets several (`SUBSCRIBE a b`
    /// is confirmed once per channel).
    let replies: Int
    let promise: EventLoopPromise<[RESPValue]>
    /// When the request fails (closing the connection) if Redis has not answered it.
    let deadline: NIODeadline
}

/// Pipelining on one connection: commands go out in order and replies come back in the same order,
/// so each reply completes the oldest waiting request. Commands written in one event-loop tick leave
/// in one flush. When the connection ends, every waiting request fails with the reason. One timer
/// per connection (not one per command) checks the oldest request's deadline: a request not answered
/// in time closes the connection, since later replies could no longer be matched to their commands.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        let promise: EventLoopPromise<[RESPValue]>
        var remaining: Int
        var replies: [RESPValue]
        let deadline: NIODeadline
        let name: String
    }

    /// How often the oldest request's deadline is checked.
    static let deadlineCheck = TimeAmount.milliseconds(50)
    private var deadlineTimer: Scheduled<Void>?

    private var waiting = CircularBuffer<Waiting>()
    private var outgoing: ByteBuffer?
    private var flushScheduled = false
    private var closedReason: String?
    /// On a subscribed connection: takes the messages out of the stream of replies (answers `true`
    /// for a message it took).
    var takeMessages: ((RESPValue) -> Bool)?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        if let reason = self.closedReason {
            request.promise.fail(RedisError("the connection to Redis is closed: \(reason)"))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard !request.commands.isEmpty else {
            request.promise.succeed([])
            promise?.succeed()
            return
        }
        var buffer = self.outgoing ?? context.channel.allocator.buffer(capacity: 256)
        for command in request.commands { command.write(into: &buffer) }
        self.outgoing = buffer
        self.waiting.append(
            Waiting(promise: request.promise, remaining: request.replies, replies: [], deadline: request.deadline, name: request.commands[0].name)
        )
        promise?.succeed()
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        // Everything written during this tick leaves in one write.
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            guard let outgoing = self.outgoing else { return }
            self.outgoing = nil
            context.writeAndFlush(Self.wrapOutboundOut(outgoing), promise: nil)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.checkDeadlines(context: context)
    }

    /// Fail (closing the connection) when the oldest request is past its deadline; again in a moment.
    private func checkDeadlines(context: ChannelHandlerContext) {
        if let oldest = self.waiting.first, oldest.deadline < .now() {
            self.fail(context: context, reason: "Redis did not answer \(oldest.name) in time")
            return
        }
        guard self.closedReason == nil else { return }
        self.deadlineTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.deadlineCheck) {
            self.checkDeadlines(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.deadlineTimer?.cancel()
        self.deadlineTimer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = Self.unwrapInboundIn(data)
        if let takeMessages = self.takeMessages, takeMessages(value) { return }
        if case .push = value { return }  // RESP3 out-of-band data nobody asked for
        guard !self.waiting.isEmpty else {
            // A reply nobody asked for: the stream is out of step; nothing after it can be trusted.
            self.fail(context: context, reason: "Redis sent a reply to no command")
            return
        }
        self.waiting[self.waiting.startIndex].replies.append(value)
        self.waiting[self.waiting.startIndex].remaining -= 1
        if self.waiting[self.waiting.startIndex].remaining == 0 {
            let done = self.waiting.removeFirst()
            done.promise.succeed(done.replies)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(context: context, reason: "\(error)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.deadlineTimer?.cancel()
        self.deadlineTimer = nil
        self.failWaiting(reason: self.closedReason ?? "Redis closed the connection")
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, reason: String) {
        self.failWaiting(reason: reason)
        context.close(promise: nil)
    }

    private func failWaiting(reason: String) {
        if self.closedReason == nil { self.closedReason = reason }
        self.outgoing = nil
        while let waiting = self.waiting.popFirst() {
            waiting.promise.fail(RedisError("the connection to Redis is closed: \(reason)"))
        }
    }
}
