import Foundation
import Logging
import NIOCore

/// Stops the listening socket from spinning when `accept()` fails for lack of resources (out of file
/// descriptors, `EMFILE`/`ENFILE`, or of kernel memory), and tries again after `delay`.
///
/// NIO's own `AcceptBackoffHandler` is in the server channel's pipeline, but it delays only the
/// *next* `read()` request. After a failed accept NIO keeps the read it was serving pending, so the
/// listening socket stays registered for readability; the connection waiting in the backlog keeps it
/// readable, and the event loop wakes up at once, fails `accept()` again, and so on: a core at
/// 100 %, and the connections already open starve. (With the async server channel that Hummingbird
/// uses, reads are asked for by the channel's consumer, so no new read would pass the handler
/// anyway.) This handler goes in front of NIO's: it takes the socket out of the event loop's
/// interest at once (by turning `autoRead` on and off, which unregisters it), logs once, and after
/// `delay` asks for a read again, which retries `accept()` once. Until descriptors free up it costs
/// one failed `accept()` per `delay`.
final class AcceptBackoff: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked: touched on the server channel's event loop only.
    typealias InboundIn = any Channel

    private let delay: TimeAmount
    private let logger: Logger
    private var retry: Scheduled<Void>?
    /// Accepting failed and has not succeeded since (the condition was logged).
    private var starved = false
    /// `autoRead` was on when accepting was paused, and must be turned on again to resume.
    private var resumeWithAutoRead = false

    init(delay: TimeAmount = .seconds(1), logger: Logger) {
        self.delay = delay
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.starved {
            self.starved = false
            self.logger.notice("Accepting connections again")
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, Self.isResourceShortage(error.errnoCode) else {
            return context.fireErrorCaught(error)
        }
        if self.retry == nil { self.pause(context: context, error: error) }
        // Not passed on, as NIO's AcceptBackoffHandler does not pass it on either.
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.retry?.cancel()
        self.retry = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.retry?.cancel()
        self.retry = nil
    }

    static func isResourceShortage(_ code: CInt) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }

    private func pause(context: ChannelHandlerContext, error: IOError) {
        if !self.starved {
            self.starved = true
            self.logger.warning(
                "Accepting paused: cannot accept connections, retrying every \(self.delay.nanoseconds / 1_000_000) ms. Raise the file descriptor limit (ulimit -n) or lower --max-connections.",
                metadata: ["error": "\(error.description)"]
            )
        }
        guard let options = context.channel.syncOptions else { return }
        do {
            // Setting autoRead off unregisters the socket from readability; if it is already off (an
            // async server channel), turn it on and off again: on only records a pending read.
            self.resumeWithAutoRead = try options.getOption(.autoRead)
            if !self.resumeWithAutoRead { try options.setOption(.autoRead, value: true) }
            try options.setOption(.autoRead, value: false)
        } catch {
            return
        }
        self.retry = context.eventLoop.assumeIsolated().scheduleTask(in: self.delay) {
            self.retry = nil
            if self.resumeWithAutoRead {
                try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            } else {
                // The read the consumer asked for is still pending; ask again to register the socket.
                context.read()
            }
        }
    }
}
