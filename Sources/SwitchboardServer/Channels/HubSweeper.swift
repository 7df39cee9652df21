import ServiceLifecycle
import Switchboard

/// Every few seconds, drops expired history and forgets idle channels (``Hub/sweep()``).
struct HubSweeper: Service {
    let hub: Hub
    var interval: Duration = .seconds(5)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                self.hub.sweep()
            }
        }
    }
}
