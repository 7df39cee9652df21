import NIOCore
import NIOHTTP1
import NIOWebSocket

/// NIO's WebSocket upgrader without NIO's frame decoder: the handshake (`Sec-WebSocket-Accept`, the
/// version check, `shouldUpgrade`) is NIO's, but the upgraded pipeline gets only NIO's frame encoder,
/// because the connection handler parses the client's bytes itself (``WebSocketFrameParser``), so a
/// bad frame or bad UTF-8 fails the connection as soon as its bytes arrive rather than when the frame
/// is complete. (Removing NIO's decoder after the fact does not work: its removal is deferred, and the
/// bytes the client sent right behind its handshake would reach it first.)
struct WebSocketUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    private let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    private let upgradePipelineHandler: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>

    var supportedProtocol: String { self.handshake.supportedProtocol }
    var requiredUpgradeHeaders: [String] { self.handshake.requiredUpgradeHeaders }

    /// - Parameters:
    ///   - shouldUpgrade: Extra response headers to accept the handshake, `nil` to refuse it.
    ///   - upgradePipelineHandler: Adds the connection's handlers after the frame encoder.
    init(
        shouldUpgrade: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
        upgradePipelineHandler: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>
    ) {
        // Its frame size and error handling concern only the decoder, which is not used.
        self.handshake = NIOTypedWebSocketServerUpgrader(
            enableAutomaticErrorHandling: false,
            shouldUpgrade: shouldUpgrade,
            upgradePipelineHandler: upgradePipelineHandler
        )
        self.upgradePipelineHandler = upgradePipelineHandler
    }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        self.handshake.buildUpgradeResponse(channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
        }.flatMap {
            self.upgradePipelineHandler(channel, upgradeRequest)
        }
    }
}
