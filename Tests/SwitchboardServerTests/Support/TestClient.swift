import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// A WebSocket client for tests with a plain imperative API: connect, send, await the next message,
/// close. Messages are collected as they arrive, so a test can check them in order afterwards.
final class TestClient: Sendable {
    private struct State {
        var outbound: WebSocketOutboundWriter?
        var messages: [WebSocketMessage] = []
        var received = 0
        var ended = false
        var failure: (any Error)?
    }

    private let state = Mutex(State())
    private let keepMessages: Bool
    private var task: Task<WebSocketCloseFrame?, any Error> { self.taskBox.withLock { $0! } }
    private let taskBox = Mutex<Task<WebSocketCloseFrame?, any Error>?>(nil)
    private let readIndex = Mutex(0)

    private init(keepMessages: Bool) {
        self.keepMessages = keepMessages
    }

    /// Connect and wait until the handshake is done.
    ///
    /// - Parameters:
    ///   - keepMessages: `false` counts messages without keeping them (for high-volume tests).
    /// - Throws: when the upgrade is refused or nothing listens.
    static func connect(
        _ url: String,
        headers: HTTPFields = [:],
        maxFrameSize: Int = 1 << 20,
        keepMessages: Bool = true
    ) async throws -> TestClient {
        let client = TestClient(keepMessages: keepMessages)
        let task = Task {
            do {
                return try await client.run(url: url, headers: headers, maxFrameSize: maxFrameSize)
            } catch {
                client.state.withLock { $0.failure = error }
                throw error
            }
        }
        client.taskBox.withLock { $0 = task }
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while client.state.withLock({ $0.outbound == nil }) {
            if ContinuousClock.now > deadline { throw TestFailure("handshake with \(url) timed out") }
            // A refused upgrade ends the task with an error: surface it.
            if let failure = client.state.withLock({ $0.failure }) { throw failure }
            try await Task.sleep(for: .milliseconds(5))
        }
        return client
    }

    private func run(url: String, headers: HTTPFields, maxFrameSize: Int) async throws -> WebSocketCloseFrame? {
        try await WebSocketClient.connect(
            url: url,
            configuration: .init(maxFrameSize: maxFrameSize, additionalHeaders: headers, closeTimeout: .seconds(5)),
            logger: testLogger
        ) { inbound, outbound, _ in
            self.state.withLock { $0.outbound = outbound }
            defer { self.state.withLock { $0.ended = true } }
            for try await message in inbound.messages(maxSize: 1 << 24) {
                self.state.withLock { state in
                    state.received += 1
                    if self.keepMessages { state.messages.append(message) }
                }
            }
        }
    }

    private var outbound: WebSocketOutboundWriter {
        get throws {
            guard let outbound = self.state.withLock({ $0.outbound }) else { throw TestFailure("not connected") }
            return outbound
        }
    }

    func send(_ text: String) async throws {
        try await self.outbound.write(.text(text))
    }

    func send(binary bytes: [UInt8]) async throws {
        try await self.outbound.write(.binary(ByteBuffer(bytes: bytes)))
    }

    func send(frame: WebSocketFrame) async throws {
        try await self.outbound.write(.custom(frame))
    }

    /// Messages received so far.
    var received: Int { self.state.withLock { $0.received } }

    /// The next message not yet returned by `next`, waiting up to `timeout`.
    func next(timeout: Duration = .seconds(10)) async throws -> WebSocketMessage {
        let index = self.readIndex.withLock { $0 }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let (message, ended): (WebSocketMessage?, Bool) = self.state.withLock { state in
                (index < state.messages.count ? state.messages[index] : nil, state.ended)
            }
            if let message {
                self.readIndex.withLock { $0 = index + 1 }
                return message
            }
            if ended { throw TestFailure("connection closed while waiting for message #\(index + 1)") }
            if ContinuousClock.now > deadline { throw TestFailure("timed out waiting for message #\(index + 1)") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The next message, which must be text.
    func nextText(timeout: Duration = .seconds(10)) async throws -> String {
        let message = try await self.next(timeout: timeout)
        guard case .text(let text) = message else { throw TestFailure("expected text, got \(message)") }
        return text
    }

    /// Wait until `count` messages have arrived.
    func waitForReceived(_ count: Int, timeout: Duration = .seconds(20)) async -> Bool {
        await eventually(timeout: timeout) { self.received >= count }
    }

    /// Wait for the server to close the connection and return its close frame.
    func closedByServer(timeout: Duration = .seconds(10)) async throws -> WebSocketCloseFrame? {
        let task = self.task
        let timer = Task {
            try await Task.sleep(for: timeout)
            task.cancel()
        }
        defer { timer.cancel() }
        return try await task.value
    }

    /// Close from the client side (1000) and wait until the connection is gone.
    func close() async throws {
        try? await self.outbound.close(.normalClosure, reason: nil)
        _ = try await self.closedByServer()
    }
}
