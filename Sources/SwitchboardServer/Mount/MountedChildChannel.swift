import HummingbirdCore
import Logging
import NIOCore

/// Switchboard mounted beside an application's own child channel on one port: each new connection
/// waits for its first request head (``RequestSniffer``), then becomes Switchboard's (its WebSocket
/// endpoints, its unidirectional streams) or the application's, and the bytes read so far go on to
/// the chosen pipeline as if nothing had looked at them.
///
/// The choice holds for the connection's life: a kept-alive connection that began with one of the
/// application's requests stays the application's (an upgrade later on it is the application's to
/// refuse, as Hummingbird does with a redirect), and the reverse.
struct MountedChildChannel<Other: ServerChildChannel>: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        let chosen: EventLoopFuture<Chosen>
    }

    enum Chosen: Sendable {
        case switchboard(SwitchboardChildChannel.Value)
        case other(Other.Value)
    }

    let switchboard: SwitchboardChildChannel
    let other: Other
    let routes: WebSocketRoutes
    /// How long a new connection may take to send its first request head.
    let headTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let chosen = channel.eventLoop.makePromise(of: Chosen.self)
            let switchboard = self.switchboard
            let other = self.other
            let routes = self.routes
            let sniffer = RequestSniffer(timeout: self.headTimeout) { path in
                // Set up the chosen pipeline behind the sniffer; it hands the bytes on once this completes.
                if let path, routes.serves(WebSocketRequest.pathComponents(of: path)) {
                    return switchboard.setup(channel: channel, logger: logger).map { chosen.succeed(.switchboard($0)) }
                }
                return other.setup(channel: channel, logger: logger).map { chosen.succeed(.other($0)) }
            } failed: { error in
                chosen.fail(error)
            }
            try channel.pipeline.syncOperations.addHandler(sniffer)
            return Value(channel: channel, chosen: chosen.futureResult)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.chosen.get() {
            case .switchboard(let value): await self.switchboard.handle(value: value, logger: logger)
            case .other(let value): await self.other.handle(value: value, logger: logger)
            }
        } catch {
            logger.debug("Connection ended before its first request", metadata: ["error": "\(error)"])
        }
    }
}

/// Holds a new connection's bytes until its first request head is complete, then lets `choose`
/// set up the pipeline behind it (given the request's path, or `nil` for a head that does not
/// parse, which the chosen pipeline then refuses), passes everything read on, and leaves.
///
/// A head that does not complete within the timeout closes the connection; one larger than
/// ``maximumHead`` is handed on as it is (the HTTP decoder refuses it).
final class RequestSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The most bytes held while looking for the end of the head.
    static let maximumHead = 64 * 1024

    private enum State {
        case sniffing
        case choosing
        case done
    }

    private let timeout: TimeAmount
    private let choose: (String?) -> EventLoopFuture<Void>
    private let failed: (any Error) -> Void
    private var state = State.sniffing
    private var held: ByteBuffer?
    /// Where the search for the head's end resumes.
    private var scanned = 0
    private var readCompletePending = false
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, choose: @escaping (String?) -> EventLoopFuture<Void>, failed: @escaping (any Error) -> Void) {
        self.timeout = timeout
        self.choose = choose
        self.failed = failed
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(in: self.timeout) {
            let (sniffer, context) = loopBound.value
            guard case .sniffing = sniffer.state else { return }
            sniffer.state = .done
            sniffer.failed(ChannelError.inputClosed)
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        switch self.state {
        case .done:
            context.fireChannelRead(data)
        case .choosing:
            self.held!.writeBuffer(&bytes)
        case .sniffing:
            if self.held == nil {
                self.held = bytes
            } else {
                self.held!.writeBuffer(&bytes)
            }
            if case .complete(let path) = self.scanHead() {
                self.decide(path, context: context)
            } else if self.held!.readableBytes > Self.maximumHead {
                self.decide(nil, context: context)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .done = self.state {
            context.fireChannelReadComplete()
        } else {
            self.readCompletePending = true
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .sniffing = self.state {
            self.state = .done
            self.failed(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    private enum HeadScan {
        case incomplete
        /// The head is complete; the request line's target (`nil` if the line does not parse).
        case complete(path: String?)
    }

    /// Whether the held bytes hold a whole request head (up to the blank line), and its target.
    private func scanHead() -> HeadScan {
        guard let held = self.held else { return .incomplete }
        let bytes = held.readableBytesView
        var index = bytes.startIndex + max(0, self.scanned - 3)
        while index + 3 < bytes.endIndex {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                let line = bytes.prefix { $0 != 13 }
                let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
                guard parts.count == 3 else { return .complete(path: nil) }
                return .complete(path: String(decoding: parts[1], as: UTF8.self))
            }
            index += 1
        }
        self.scanned = bytes.count
        return .incomplete
    }

    private func decide(_ path: String?, context: ChannelHandlerContext) {
        self.state = .choosing
        self.timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.choose(path).whenComplete { result in
            let (sniffer, context) = loopBound.value
            sniffer.state = .done
            switch result {
            case .success:
                if let held = sniffer.held {
                    sniffer.held = nil
                    context.fireChannelRead(NIOAny(held))
                }
                if sniffer.readCompletePending { context.fireChannelReadComplete() }
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            case .failure(let error):
                sniffer.failed(error)
                context.close(promise: nil)
            }
        }
    }
}
