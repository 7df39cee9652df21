import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Switchboard

/// Runs one WebSocket connection: registers it, drains its outbox into the socket from a writer task
/// of its own, feeds inbound messages to the endpoint in order, and cleans up.
///
/// Data flows one way: inbound frames go to the endpoint, which sends by enqueueing into outboxes
/// (its own or a room's members'); only the writer task touches the outbound side of the socket.
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
        let closeTimeout = self.configuration.closeTimeout
        let logger = context.logger
        let outbox = Outbox(limit: self.configuration.outboxLimit) { reason in
            // The writer may be stuck writing to a client that does not read, and a peer may never
            // answer our close frame: either way, drop the TCP connection after the grace period.
            logger.debug("Closing WebSocket", metadata: ["close.code": "\(reason.code)", "close.reason": "\(reason.reason)"])
            channel.eventLoop.scheduleTask(in: .init(closeTimeout)) { channel.close(promise: nil) }
        }

        let endpoint: Endpoint
        do {
            endpoint = try makeEndpoint()
        } catch {
            logger.info("Refused WebSocket request", metadata: ["close.code": "\(error.reason.code)", "close.reason": "\(error.reason.reason)"])
            return try await Self.refuse(error.reason, outbox: outbox, inbound: inbound, outbound: outbound)
        }

        let id: ConnectionID
        switch self.registry.register(outbox) {
        case .registered(let registered):
            id = registered
        case .atLimit(let limit):
            logger.notice("Refused WebSocket connection: at connection limit", metadata: ["limit": "\(limit)"])
            return try await Self.refuse(.connectionLimit(limit), outbox: outbox, inbound: inbound, outbound: outbound)
        case .shuttingDown:
            return try await Self.refuse(.serverShuttingDown, outbox: outbox, inbound: inbound, outbound: outbound)
        }
        defer { self.registry.unregister(id) }

        let connection = Connection(id: id, outbox: outbox)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await Self.drain(outbox, into: outbound) }
            defer {
                // The inbound side has ended: the peer closed or is gone. Whatever is still queued
                // cannot be delivered, so stop the writer rather than wait for it.
                outbox.finish()
                group.cancelAll()
            }
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
    }

    /// Write everything the outbox yields, in order, until it ends or the peer is gone.
    static func drain(_ outbox: Outbox, into outbound: WebSocketOutboundWriter) async {
        while let item = await outbox.next() {
            do {
                switch item {
                case .message(let message):
                    let opcode: WebSocketOpcode = message.kind == .text ? .text : .binary
                    try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: opcode, data: message.bytes)))
                case .close(let reason):
                    try await outbound.close(WebSocketErrorCode(codeNumber: Int(reason.code)), reason: reason.reason)
                    return
                }
            } catch {
                // The peer is gone or the task was cancelled: nothing more can be written.
                outbox.finish()
                return
            }
        }
    }

    /// Close a connection that will not be served, then read until the peer answers the close (the
    /// close handshake needs the inbound side read; the outbox's timer drops a peer that never does).
    static func refuse(
        _ reason: CloseReason,
        outbox: Outbox,
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter
    ) async throws {
        outbox.finish(closing: reason)
        await Self.drain(outbox, into: outbound)
        for try await _ in inbound {}
    }
}
