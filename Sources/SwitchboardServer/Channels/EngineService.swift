import ServiceLifecycle
import Switchboard

/// Runs the engine's background work (``Engine/run()``) until graceful shutdown.
struct EngineService: Service {
    let engine: any Engine

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.engine.run()
        }
    }
}
