import NIOCore
import NIOHTTP1

/// Time limits of an HTTP connection until it upgrades to a WebSocket (then the two handlers leave its
/// pipeline), and the answer to a request that cannot be parsed.
///
/// * Request head: a new connection must have sent a whole request head within `requestHead`; on a
///   kept-alive connection, the clock starts with the next request's first byte. A connection that
///   sends nothing, or dribbles a head byte by byte (slowloris), is closed, with `408 Request Timeout`
///   if part of a head had arrived.
/// * Idle: a kept-alive connection with no request in progress is closed after `idle`; so is a
///   request whose body stops arriving for that long.
/// * A request that cannot be parsed (a garbage request line, `Content-Length` with
///   `Transfer-Encoding`, a head over the size limits) is answered `400 Bad Request` and the connection
///   is closed, unless the error comes while a response is owed, which the application then answers.
/// * On graceful shutdown, a connection with no request in progress is closed.
///
/// Two handlers share the work: ``HTTPDeadlineHandler`` at the head of the pipeline sees the bytes
/// and owns the timer; ``HTTPRequestWatcher``, right after NIO's request decoder, sees where requests
/// and responses begin and end. Both run on the channel's event loop only.
final class HTTPDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    struct Settings: Sendable {
        var requestHead: TimeAmount
        var idle: TimeAmount
    }

    private let settings: Settings
    private var context: ChannelHandlerContext?
    /// When the request head in progress (or the first one) must be complete; `nil` between requests.
    private var headDeadline: NIODeadline?
    /// Bytes of the head in progress have arrived.
    private var headStarted = false
    /// A request's head has arrived but not its end.
    private var requestOpen = false
    /// Requests whose response has not been written to its end.
    private(set) var responsesOwed = 0
    /// When the connection last made progress: a read during a body, or the end of the last response.
    private var lastProgress = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var done = false

    init(settings: Settings) {
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.headDeadline = .now() + self.settings.requestHead
        self.armTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The decoder runs (and tells the watcher about heads and ends) while the bytes pass on.
        context.fireChannelRead(data)
        guard !self.done else { return }
        if self.requestOpen {
            self.lastProgress = .now()
        } else if self.responsesOwed == 0, !self.headStarted {
            // Bytes that did not complete a head: the next request's head has begun.
            self.headStarted = true
            if self.headDeadline == nil { self.headDeadline = .now() + self.settings.requestHead }
            self.armTimer()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !self.requestOpen, self.responsesOwed == 0 {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: From the watcher

    func requestHeadArrived() {
        self.headDeadline = nil
        self.headStarted = false
        self.requestOpen = true
        self.responsesOwed += 1
        self.lastProgress = .now()
        self.armTimer()
    }

    func requestEnded() {
        self.requestOpen = false
    }

    func responseEnded() {
        self.responsesOwed = max(0, self.responsesOwed - 1)
        self.lastProgress = .now()
        self.armTimer()
    }

    /// Answer a request that cannot be parsed with 400 and close.
    func refuseMalformedRequest() {
        self.respondAndClose("400 Bad Request")
    }

    // MARK: Timer

    /// When the connection times out as things stand, or `nil` while the application owes a response.
    private var deadline: NIODeadline? {
        if self.requestOpen { return self.lastProgress + self.settings.idle }
        if self.responsesOwed > 0 { return nil }
        return self.headDeadline ?? self.lastProgress + self.settings.idle
    }

    /// Make sure a timer fires no later than the deadline. A timer set for later is replaced; one set
    /// for earlier is kept (it looks again when it fires), so progress costs no timer of its own.
    private func armTimer() {
        guard !self.done, let context = self.context, let deadline = self.deadline else { return }
        if let current = self.timerDeadline, current <= deadline { return }
        self.timer?.cancel()
        self.timerDeadline = deadline
        self.timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { self.timerFired() }
    }

    private func timerFired() {
        self.timer = nil
        self.timerDeadline = nil
        guard !self.done else { return }
        guard let deadline = self.deadline else { return }
        guard deadline <= .now() else { return self.armTimer() }
        if self.headDeadline != nil, self.headStarted {
            self.respondAndClose("408 Request Timeout")
        } else {
            self.stop()
            self.context?.close(promise: nil)
        }
    }

    private func respondAndClose(_ status: String) {
        guard !self.done, let context = self.context else { return }
        self.stop()
        let response = "HTTP/1.1 \(status)\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(.byteBuffer(ByteBuffer(string: response)))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func stop() {
        self.done = true
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
    }
}

/// Sits right after NIO's HTTP request decoder and tells the connection's ``HTTPDeadlineHandler``
/// where requests and responses begin and end, and about requests that cannot be parsed.
final class HTTPRequestWatcher: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart

    private let deadlines: HTTPDeadlineHandler

    init(deadlines: HTTPDeadlineHandler) {
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head: self.deadlines.requestHeadArrived()
        case .body: break
        case .end: self.deadlines.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.deadlines.responseEnded() }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // While a response is owed, the application answers (Hummingbird sends 400 after it).
        guard error is HTTPParserError, self.deadlines.responsesOwed == 0 else {
            return context.fireErrorCaught(error)
        }
        self.deadlines.refuseMalformedRequest()
    }
}
