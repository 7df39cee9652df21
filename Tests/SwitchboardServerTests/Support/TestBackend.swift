import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import Switchboard

/// An application backend for the proxy on an ephemeral loopback port: every POST is recorded
/// (path, headers, JSON body) and answered by `reply` for its path.
final class TestBackend: Sendable {
    struct Received: Sendable {
        let path: String
        let headers: HTTPFields
        let body: JSONValue?

        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { self.headers[$0] } }
    }

    /// What the backend answers: a status and a body, after a delay.
    struct Reply: Sendable {
        var status: HTTPResponse.Status = .ok
        var body: String
        var delay: Duration = .zero
    }

    private let received = NIOLockedValueBox<[Received]>([])
    let port: Int

    private init(port: Int) { self.port = port }

    func url(_ path: String) -> String { "http://127.0.0.1:\(self.port)\(path)" }

    var requests: [Received] { self.received.withLockedValue { $0 } }

    /// The last request to `path`.
    func last(_ path: String) -> Received? { self.requests.last { $0.path == path } }

    fileprivate func record(_ request: Received) { self.received.withLockedValue { $0.append(request) } }

    /// Run `body` with a backend answering `replies` by path (404 for other paths).
    static func with<T: Sendable>(_ replies: [String: Reply], _ body: (TestBackend) async throws -> T) async throws -> T {
        let router = Router()
        let holder = NIOLockedValueBox<TestBackend?>(nil)
        router.post("**") { request, context -> Response in
            let path = request.uri.path
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let text = String(buffer: bytes)
            holder.withLockedValue { $0 }?.record(Received(path: path, headers: request.headers, body: try? JSONValue.parse(text)))
            guard let reply = replies[path] else { return Response(status: .notFound) }
            // A slow answer ends early when the backend stops, so stopping it (gracefully) never waits it out.
            if reply.delay > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: reply.delay) } }
            return Response(
                status: reply.status,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: reply.body))
            )
        }
        var logger = Logger(label: "test-backend")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withRunningGroup(group, ports: ports) { port in
            let backend = TestBackend(port: port)
            holder.withLockedValue { $0 = backend }
            return try await body(backend)
        }
    }
}
