import Logging
import ServiceLifecycle
import Switchboard

/// Runs the engine's background work (``Engine/run()``) until graceful shutdown.
struct EngineService: Service {
    let engine: any Engine
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.engine.run() }
                group.addTask { await self.watchStatus() }
                await group.next()
                group.cancelAll()
            }
        }
        self.logger.info("Engine stopped", metadata: ["engine": "\(type(of: self.engine))"])
    }

    /// Log each change of the engine's status (what `/health` reports): down and up at notice, so
    /// an operator sees when and why a node stopped taking publications. Polled every second.
    private func watchStatus() async {
        var last: EngineStatus?
        while !Task.isCancelled {
            let status = self.engine.status
            if status != last {
                switch (status, last) {
                case (.ready, nil):
                    self.logger.info("Engine ready", metadata: ["engine": "\(type(of: self.engine))"])
                case (.ready, _):
                    self.logger.notice("Engine ready again", metadata: ["engine": "\(type(of: self.engine))"])
                case (.unavailable(let reason), _):
                    self.logger.notice("Engine unavailable", metadata: ["engine": "\(type(of: self.engine))", "reason": "\(reason)"])
                }
                last = status
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
