import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Switchboard

/// Runs one WebSocket connection: registers it, puts an ``OutboxWriter`` in its pipeline, feeds
/// inbound messages to the endpoint in order, and cleans up.
///
/// Data flows one way: inbound frames go to the endpoint, which sends by enqueueing into outboxes
/// (its own or a room's members'); only the connection's writer, on its event loop, writes them.
struct WebSocketSession: Sendable {
    let registry: ConnectionRegistry
    let configuration: SwitchboardConfiguration

    /// Serve one connection.
    ///
    /// - Parameters:
    ///   - makeEndpoint: Makes the connection's endpoint from the upgrade request, or refuses it.
    func run<Endpoint: WebSocketEndpoint>(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        context: WebSocketRouterContext<SwitchboardRequestContext>,
        makeEndpoint: () throws(EndpointRefusal) -> Endpoint
    ) async throws {
        let channel = context.requestContext.channel
        let logger = context.logger
        let closeTimeout = self.configuration.closeTimeout

        let endpoint: Endpoint
        do {
            endpoint = try makeEndpoint()
        } catch {
            logger.info("Refused WebSocket request", metadata: ["close.code": "\(error.reason.code)", "close.reason": "\(error.reason.reason)"])
            return try await Self.refuse(error.reason, channel: channel, closeTimeout: closeTimeout, inbound: inbound, outbound: outbound)
        }

        // The outbox wakes the writer, which lives in the channel's pipeline; the writer needs the
        // outbox. Tie the knot through a box set before anything can be enqueued.
        let writerBox = WriterBox()
        let outbox = Outbox(limit: self.configuration.outboxLimit) {
            if let writer = writerBox.writer { OutboxWriter.wake(writer, on: channel.eventLoop) }
        } onClosing: { reason in
            // A client that does not read may never take the close frame, and a peer may never
            // answer it: either way, drop the TCP connection after the grace period.
            logger.debug("Closing WebSocket", metadata: ["close.code": "\(reason.code)", "close.reason": "\(reason.reason)"])
            channel.eventLoop.scheduleTask(in: .init(closeTimeout)) { channel.close(promise: nil) }
        }

        let id: ConnectionID
        switch self.registry.register(outbox) {
        case .registered(let registered):
            id = registered
        case .atLimit(let limit):
            logger.notice("Refused WebSocket connection: at connection limit", metadata: ["limit": "\(limit)"])
            return try await Self.refuse(.connectionLimit(limit), channel: channel, closeTimeout: closeTimeout, inbound: inbound, outbound: outbound)
        case .shuttingDown:
            return try await Self.refuse(.serverShuttingDown, channel: channel, closeTimeout: closeTimeout, inbound: inbound, outbound: outbound)
        }
        defer { self.registry.unregister(id) }

        let writer = OutboxWriter(outbox: outbox) { reason in
            Task { try? await outbound.close(WebSocketErrorCode(codeNumber: Int(reason.code)), reason: reason.reason) }
        }
        writerBox.writer = writer
        // At the head: its frames are ready for the socket and must not pass through the encoder.
        try await channel.pipeline.addHandler(writer, position: .first)

        let connection = Connection(id: id, outbox: outbox)
        // When the inbound side ends the peer has closed or is gone: nothing more can be delivered.
        defer { outbox.finish() }
        await endpoint.opened(connection)
        do {
            for try await message in inbound.messages(maxSize: self.configuration.maxMessageSize) {
                // Once the outbox has ended a close is under way: only the peer's close frame
                // matters now, and the inbound stream must still be read to get it.
                if outbox.isFinished { continue }
                await endpoint.receive(message, on: connection)
            }
        } catch {
            await endpoint.closed(connection)
            throw error
        }
        await endpoint.closed(connection)
    }

    /// Close a connection that will not be served, then read until the peer answers the close (the
    /// close handshake needs the inbound side read); a peer that never answers is dropped after
    /// `closeTimeout`.
    static func refuse(
        _ reason: CloseReason,
        channel: any Channel,
        closeTimeout: Duration,
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter
    ) async throws {
        channel.eventLoop.scheduleTask(in: .init(closeTimeout)) { channel.close(promise: nil) }
        try await outbound.close(WebSocketErrorCode(codeNumber: Int(reason.code)), reason: reason.reason)
        for try await _ in inbound {}
    }
}

/// Holds a connection's writer for the outbox's wake-up callback, which is created first.
private final class WriterBox: Sendable {
    private let box = NIOLockedValueBox<OutboxWriter?>(nil)

    var writer: OutboxWriter? {
        get { self.box.withLockedValue { $0 } }
        set { self.box.withLockedValue { $0 = newValue } }
    }
}
