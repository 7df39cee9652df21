import Logging
import ServiceLifecycle
import Switchboard

/// On graceful shutdown, closes every WebSocket with its endpoint's shutdown reason (1001 `server
/// shutting down`, or 3001 `shutdown` on the protocol endpoint, which clients reconnect after) and
/// waits (bounded) until they are gone.
///
/// It must be listed after the application in the ``ServiceGroup``: services stop in reverse order, so
/// this one runs before the HTTP server starts its own shutdown (which would send 1000).
struct ShutdownService: Service {
    let registry: ConnectionRegistry
    let openConnections: OpenConnections
    let closeTimeout: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let closing = self.registry.closeAll()
        self.logger.info("Shutting down: closing connections", metadata: ["connections": "\(closing)"])
        // Each connection sends its close frame and waits up to closeTimeout for the answer before
        // dropping the TCP connection; allow a little more than that.
        let clean = await self.registry.waitUntilEmpty(timeout: self.closeTimeout + .seconds(1))
        if clean {
            self.logger.info("Connections closed")
        } else {
            self.logger.notice("Dropping connections that did not close in time", metadata: ["connections": "\(self.registry.count)"])
        }
        // What is left (refused requests waiting for their client's close, connections that did not
        // close in time) is dropped now, so nothing WebSocket outlives the server (see OpenConnections).
        await self.openConnections.closeAll(timeout: .seconds(1))
    }
}
