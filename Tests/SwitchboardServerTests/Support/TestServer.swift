import Foundation
import Logging
import ServiceLifecycle
import Switchboard
import SwitchboardServer
import Testing

/// A live Switchboard server on an ephemeral loopback port, for the duration of a test.
struct TestServer: Sendable {
    let server: SwitchboardServer
    let group: ServiceGroup
    let port: Int

    var registry: ConnectionRegistry { self.server.registry }

    func url(_ path: String) -> String { "ws://127.0.0.1:\(self.port)\(path)" }

    /// Members of the tutorial chat.
    var chatMembers: Int { self.server.service.hub.presenceStats(self.server.configuration.chatChannel).clients }

    /// Publish a line into the tutorial chat, as the server would.
    func sayInChat(_ text: String) {
        self.server.service.hub.publish(
            self.server.configuration.chatChannel,
            options: ChannelOptions(),
            publication: Publication(data: JSONValue.string(text).jsonText)
        )
    }

    /// Start the graceful shutdown that SIGTERM would start.
    func shutDown() async { await self.group.triggerGracefulShutdown() }
}

/// Quiet unless `SWITCHBOARD_TEST_LOG` names a level (e.g. `trace`) for debugging a test.
let testLogger: Logger = {
    var logger = Logger(label: "switchboard-test")
    logger.logLevel = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}()

/// Run `body` against a fresh server; shut it down afterwards (gracefully, as SIGTERM would).
func withServer(
    engine: any Engine = MemoryEngine(),
    hooks: Hooks = Hooks(),
    _ configure: (inout SwitchboardConfiguration) -> Void = { _ in },
    _ body: (TestServer) async throws -> Void
) async throws {
    var configuration = SwitchboardConfiguration(host: "127.0.0.1", port: 0, closeTimeout: .seconds(2))
    configure(&configuration)
    let server = try await SwitchboardServer(configuration: configuration, logger: testLogger, engine: engine, hooks: hooks)
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let group = server.makeServiceGroup { port in portContinuation.yield(port) }
    try await withRunningGroup(group, ports: ports) { port in
        try await body(TestServer(server: server, group: group, port: port))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Poll `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}
