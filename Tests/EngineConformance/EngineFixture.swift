import Foundation
public import Switchboard
import Synchronization

/// How the conformance suite runs an engine: nodes on a fresh backend (a fresh database, say).
public protocol EngineFixture: Sendable {
    /// Whether a restarted node finds its channels' streams (epochs, offsets, history) again.
    var persistsAcrossRestarts: Bool { get }

    /// Run `body` with up to `nodes` started nodes sharing one fresh backend (fewer when the engine
    /// has only one node); stop them afterwards, also when `body` throws.
    func withCluster(nodes: Int, _ body: @Sendable (EngineCluster) async throws -> Void) async throws
}

/// The nodes a case runs on.
public struct EngineCluster: Sendable {
    public let nodes: [any Engine]
    let restartNode: @Sendable (Int) async throws -> any Engine

    /// - Parameter restart: Stops node `i` and starts a new one on the same backend in its place.
    public init(nodes: [any Engine], restart: @escaping @Sendable (Int) async throws -> any Engine) {
        self.nodes = nodes
        self.restartNode = restart
    }

    /// Node `index`, wrapping around (so cases spread over however many nodes there are).
    public func node(_ index: Int) -> any Engine { self.nodes[index % self.nodes.count] }

    public func restart(_ index: Int) async throws -> any Engine { try await self.restartNode(index) }
}

/// A running node of an engine that spans processes' worth of state (PostgreSQL, Redis), for
/// ``EngineCluster/run(nodes:start:_:)``.
public protocol ConformanceNode: Sendable {
    var engine: any Engine { get }
    /// Stop the node (cancel its engine's work and wait for it).
    func stop() async
}

extension EngineCluster {
    /// Start `count` nodes with `start`, run `body` on them (a restart stops node `i` and starts a
    /// new one in its place), and stop every node afterwards, also when `body` throws.
    public static func run<Node: ConformanceNode>(
        nodes count: Int,
        start: @escaping @Sendable () async throws -> Node,
        _ body: @Sendable (EngineCluster) async throws -> Void
    ) async throws {
        let nodes = Mutex<[Node]>([])
        do {
            for _ in 0..<count {
                let node = try await start()
                nodes.withLock { $0.append(node) }
            }
            let engines = nodes.withLock { $0.map(\.engine) }
            try await body(EngineCluster(nodes: engines) { index in
                let old = nodes.withLock { $0[index] }
                await old.stop()
                let new = try await start()
                nodes.withLock { $0[index] = new }
                return new.engine
            })
        } catch {
            for node in nodes.withLock({ $0 }) { await node.stop() }
            throw error
        }
        for node in nodes.withLock({ $0 }) { await node.stop() }
    }
}

/// A case's requirement failed.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConformanceFailure(description: message()) }
}

func unwrap<T>(_ value: T?, _ message: String) throws -> T {
    guard let value else { throw ConformanceFailure(description: message) }
    return value
}

func eventually(_ what: @autoclosure () -> String, timeout: Duration = .seconds(20), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw ConformanceFailure(description: "timed out waiting for \(what())") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// A local subscriber whose outbox the case reads.
final class TestSubscriber: @unchecked Sendable {
    let client: String
    let subscriber: Subscriber
    let outcome: Hub.SubscribeOutcome
    private let lock = NSLock()
    private var drained: [String] = []

    init(client: String, subscriber: Subscriber, outcome: Hub.SubscribeOutcome) {
        self.client = client
        self.subscriber = subscriber
        self.outcome = outcome
    }

    static func subscribe(
        to channel: String, on engine: any Engine, options: ChannelOptions, client: String, user: String = "",
        format: Subscriber.Format = .protocolPush(.json), farewell: String? = nil, pushJoinLeave: Bool = false,
        recoverFrom: StreamPosition? = nil, delta: Bool = false
    ) async throws -> TestSubscriber {
        var subscriber = Subscriber(info: ClientInfo(user: user, client: client), outbox: Outbox(limit: 1 << 24), format: format, farewell: farewell)
        subscriber.pushJoinLeave = pushJoinLeave
        subscriber.tracksPosition = options.keepsHistory
        subscriber.delta = delta
        let outcome = try await engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom, reply: { _ in nil })
        return TestSubscriber(client: client, subscriber: subscriber, outcome: try unwrap(outcome, "the subscribe of \(client) did not complete"))
    }

    /// Every message queued so far, as text.
    var texts: [String] {
        self.lock.withLock {
            self.drained += self.subscriber.outbox.drain().messages.map { String(buffer: $0.bytes) }
            return self.drained
        }
    }

    private var pushes: [JSONValue] { self.texts.compactMap { try? JSONValue.parse($0)["push"] } }

    /// The publications pushed to it, in the order queued.
    var publications: [(offset: UInt64, data: String)] {
        self.pushes.compactMap { push in
            guard let publication = push["pub"] else { return nil }
            return (publication["offset"]?.integerValue(UInt64.self) ?? 0, publication["data"]?.jsonText ?? "")
        }
    }

    /// The publications pushed to a subscriber with delta compression: data (a JSON string's
    /// content) and whether it is a delta.
    var deltaPublications: [(data: String, delta: Bool)] {
        self.pushes.compactMap { push in
            guard let publication = push["pub"] else { return nil }
            return (publication["data"]?.stringValue ?? "", publication["delta"]?.boolValue ?? false)
        }
    }

    var joins: [String] { self.pushes.compactMap { $0["join"]?["info"]?["client"]?.stringValue } }
    var leaves: [String] { self.pushes.compactMap { $0["leave"]?["info"]?["client"]?.stringValue } }

    func waitFor(count: Int) async throws {
        try await self.waitFor { $0.publications.count >= count }
        try expect(self.publications.count == count, "\(self.client) got \(self.publications.count) publications, not \(count)")
    }

    func waitFor(_ condition: (TestSubscriber) -> Bool) async throws {
        try await eventually("\(self.client)'s pushes (so far \(self.texts.suffix(5)))") { condition(self) }
    }
}
