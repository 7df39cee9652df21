import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// Switchboard's HTTP/1 child channel: HTTP requests go to Hummingbird's responder as usual, and a
/// WebSocket upgrade becomes a pipeline of one plain NIO handler (``WebSocketConnectionHandler``)
/// with no Swift task behind it, which is what keeps a connection small and its frames free of
/// executor hops.
struct SwitchboardChildChannel: HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    enum UpgradeResult {
        case websocket
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    /// Receive buffers start small: a channel keeps its receive buffer between reads, so its first
    /// size is memory every idle connection holds. NIO's default starts at 2 KiB; an upgrade request
    /// fits in 512 bytes and the buffer still grows (up to 64 KiB) when reads fill it.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    /// A connection's WebSocket handshake, between its arrival and the upgrade.
    private struct Handshake {
        var attempted = false
        /// The acceptor's decision, made once when the handshake arrives and used once it has completed.
        var decision: WebSocketAcceptor.Decision?
        /// permessage-deflate as negotiated, for the connection's handler.
        var deflate: DeflateParameters?
    }

    let responder: Responder
    let acceptor: WebSocketAcceptor
    let http1: HTTP1Channel.Configuration
    /// The time limits of a connection until it upgrades (see ``HTTPDeadlineHandler``).
    let deadlines: HTTPDeadlineHandler.Settings

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.syncOptions?.setOption(.recvAllocator, value: Self.receiveBuffers)
            let deadlines = HTTPDeadlineHandler(settings: self.deadlines)
            try channel.pipeline.syncOperations.addHandler(deadlines)
            // What the handshake decided, from when it arrives until the upgrade has completed.
            let handshake = NIOLoopBoundBox(Handshake(), eventLoop: channel.eventLoop)
            let acceptor = self.acceptor
            let upgrader = WebSocketUpgrader<UpgradeResult>(
                shouldUpgrade: { channel, head in
                    handshake.value.attempted = true
                    let decision = acceptor.decide(head, remoteAddress: channel.remoteAddress?.ipAddress)
                    handshake.value.decision = decision
                    guard let decision else { return channel.eventLoop.makeSucceededFuture(nil) }
                    // The connection becomes a WebSocket, which the HTTP time limits do not concern.
                    // The watcher must go now: removing the HTTP decoder next hands it the bytes
                    // that came after the handshake.
                    do {
                        let pipeline = channel.pipeline.syncOperations
                        pipeline.removeHandler(try pipeline.handler(type: HTTPRequestWatcher.self), promise: nil)
                        pipeline.removeHandler(try pipeline.handler(type: HTTPDeadlineHandler.self), promise: nil)
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                    // The subprotocol the endpoint speaks, if the client offered one (`centrifuge-protobuf`).
                    var headers = HTTPHeaders()
                    if case .success(let endpoint) = decision, let subprotocol = endpoint.subprotocol {
                        headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol)
                    }
                    // Compression only for a connection that is served (a refused one just closes).
                    if case .success = decision, let accepted = acceptor.negotiateDeflate(head) {
                        handshake.value.deflate = accepted
                        headers.add(name: "Sec-WebSocket-Extensions", value: accepted.responseHeader)
                    }
                    return channel.eventLoop.makeSucceededFuture(headers)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard let decided = handshake.value.decision else { throw ChannelError.inappropriateOperationForState }
                        let deflate = handshake.value.deflate
                        handshake.value = Handshake(attempted: true)
                        try acceptor.setUpConnection(on: channel, decision: decided, deflate: deflate)
                        return .websocket
                    }
                }
            )
            let http1 = self.http1
            let serverUpgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandlers(http1.additionalChannelHandlers())
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: http1.idleTimeout.map { .init($0) }, logger: logger)
                        )
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return handshake.value.attempted ? .failedUpgrade(asyncChannel) : .notUpgraded(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: serverUpgradeConfiguration)
            configuration.enablePipelining = false  // HTTP is pipelined by NIOAsyncChannel
            configuration.enableErrorHandling = false  // handled by Hummingbird
            configuration.enableResponseHeaderValidation = false  // HTTP types validate already
            configuration.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let upgradeResult = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(HTTPRequestWatcher(deadlines: deadlines), position: .after(decoder))
            return Value(upgradeResult: upgradeResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .websocket:
                // The connection lives on in its pipeline; nothing waits for it here.
                return
            case .notUpgraded(let http1):
                await HTTPConnectionChannel.$current.withValue(value.channel) {
                    await self.handleHTTP(asyncChannel: http1, logger: logger)
                }
            case .failedUpgrade(let http1):
                await Self.refuseUpgrade(http1, logger: logger)
            }
        } catch {
            logger.debug("Connection ended during the upgrade", metadata: ["error": "\(error)"])
        }
    }

    /// Answer a refused WebSocket handshake with 400 and close.
    static func refuseUpgrade(_ channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, logger: Logger) async {
        do {
            try await channel.executeThenClose { _, outbound in
                let head = HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])
                try await outbound.write(contentsOf: [.head(head), .end(nil)])
            }
        } catch {
            logger.trace("Could not answer a refused upgrade: \(error)")
        }
    }
}
