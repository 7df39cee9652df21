import NIOCore
import NIOHTTP1
import NIOWebSocket

/// NIO's WebSocket upgrader without NIO's frame decoder and encoder: the handshake
/// (`Sec-WebSocket-Accept`, the version check, `shouldUpgrade`) is NIO's, but the upgraded pipeline
/// gets only the connection's own handler. It parses the client's bytes itself
/// (``WebSocketFrameParser``), so a bad frame or bad UTF-8 fails the connection as soon as its bytes
/// arrive rather than when the frame is complete, and it writes frames that are already encoded, so an
/// encoder (an object, its buffer and its pipeline context per connection) would have nothing to do.
/// (Removing NIO's decoder after the fact does not work: its removal is deferred, and the bytes the
/// client sent right behind its handshake would reach it first.)
struct WebSocketUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    private let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    private let upgradePipelineHandler: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>

    var supportedProtocol: String { self.handshake.supportedProtocol }
    var requiredUpgradeHeaders: [String] { self.handshake.requiredUpgradeHeaders }

    /// - Parameters:
    ///   - shouldUpgrade: Extra response headers to accept the handshake, `nil` to refuse it.
    ///   - upgradePipelineHandler: Adds the connection's handler.
    init(
        shouldUpgrade: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
        upgradePipelineHandler: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>
    ) {
        // Its frame size and error handling concern only NIO's decoder, which is not used.
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
        self.upgradePipelineHandler(channel, upgradeRequest)
    }
}
