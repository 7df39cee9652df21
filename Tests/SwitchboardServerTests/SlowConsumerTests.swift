import Foundation
import NIOConcurrencyHelpers
import Switchboard
import Testing

/// Tests of what the server does to peers that misbehave over time.
///
/// Serialized: the slow-consumer test measures this process's resident memory and its clients'
/// timing, and the throttling test pushes 20 MB through this same process; run side by side, the one
/// shows up in the other's measurements.
@Suite(.serialized) struct SlowConsumerAndHeartbeatTests {
    @Test func unresponsivePeerIsClosedByHeartbeatAndAnnounced() async throws {
        // A second between pings: with 300 ms, a machine busy building (CI builds the release
        // binary meanwhile) delayed the live peer's pong past the timeout, and both were closed.
        try await withServer({ $0.pingInterval = .seconds(1) }) { server in
            // The live peer answers pings from a thread of its own, started before this task
            // resumes, so nothing in this busy test process can starve it; the silent one never reads.
            let live = try await RawWebSocket.connect(port: server.port, path: "/ws/1", answerPings: true)
            let silent = try await RawWebSocket.connect(port: server.port, path: "/ws/9")
            #expect(await eventually { server.chatMembers == 2 })
            #expect(await eventually(timeout: .seconds(15)) { live.receivedTexts.contains("Client #9 left the chat") })
            #expect(server.chatMembers == 1, "the live peer stays")
            let close = try await silent.readCloseFrame()
            #expect(close.code == 1001)
            #expect(close.reason == "ping timeout")
        }
    }

    /// Connections share one heartbeat timer per event loop: every silent peer among several is
    /// closed, and once all have gone (which stops the timer) a new connection is watched again.
    @Test func everySilentPeerIsClosedAndTheHeartbeatRestartsForNewcomers() async throws {
        try await withServer({ $0.pingInterval = .milliseconds(200) }) { server in
            let silent = [
                try await RawWebSocket.connect(port: server.port, path: "/ws"),
                try await RawWebSocket.connect(port: server.port, path: "/echo"),
                try await RawWebSocket.connect(port: server.port, path: "/ws/3"),
                try await RawWebSocket.connect(port: server.port, path: "/ws/4"),
            ]
            for peer in silent {
                let close = try await peer.readCloseFrame()
                #expect(close.code == 1001)
                #expect(close.reason == "ping timeout")
            }
            #expect(await eventually(timeout: .seconds(10)) { server.registry.count == 0 })
            let newcomer = try await RawWebSocket.connect(port: server.port, path: "/ws")
            let close = try await newcomer.readCloseFrame()
            #expect(close.reason == "ping timeout")
        }
    }

    /// A client that sends without reading its replies is slowed down, not dropped: the server stops
    /// reading from it while its outbox is over the limit, and nothing is lost once it reads.
    @Test func clientThatSendsWithoutReadingIsThrottledNotDropped() async throws {
        try await withServer({ $0.outboxLimit = 64 * 1024 }) { server in
            let client = try await RawWebSocket.connect(port: server.port, path: "/echo")
            // 20 MB: more than the kernel's socket buffers on loopback can hold (they grow to a few MB),
            // so the sender blocks only if the server really stops reading.
            let messages = (0..<5000).map { "\($0):" + String(repeating: "x", count: 4000) }
            let sent = client.sendInBackground(messages)
            try await Task.sleep(for: .seconds(1))
            #expect(!sent.withLockedValue { $0 }, "the server must stop reading a client that does not read")
            #expect(server.registry.count == 1, "and must not drop it")
            // Once it reads, every reply arrives, in order.
            #expect(try await client.readTexts(messages.count) == messages)
            #expect(await eventually { sent.withLockedValue { $0 } })
        }
    }

    /// One chat member never reads. The others keep receiving a 48 MiB broadcast stream without
    /// delay, the silent one is closed as a slow consumer, and the server's memory does not grow
    /// with the stream (it holds at most the outbox limit for the silent member).
    @Test func clientThatNeverReadsIsDroppedWhileOthersKeepUp() async throws {
        try await withServer({
            // Batches of 512 KiB fit the default 1 MiB outbox of a member that keeps up.
            $0.outboxLimit = 1024 * 1024
            $0.closeTimeout = .milliseconds(500)
        }) { server in
            let fast = [
                try await TestClient.connect(server.url("/ws/1"), keepMessages: false),
                try await TestClient.connect(server.url("/ws/2"), keepMessages: false),
            ]
            let slow = try await RawWebSocket.connect(port: server.port, path: "/ws/666", receiveBuffer: 4096)
            #expect(await eventually { server.chatMembers == 3 })
            let rssBefore = residentMemoryBytes()

            let payload = String(repeating: "x", count: 16 * 1024)
            let batches = 96
            let batchSize = 32  // 32 × 16 KiB = 512 KiB a batch, 48 MiB in all
            var slowestBatch = Duration.zero
            for batch in 0..<batches {
                let started = ContinuousClock.now
                for _ in 0..<batchSize { server.sayInChat(payload) }
                // The fast members must have the whole batch before the next one goes out.
                let expected = (batch + 1) * batchSize
                for client in fast {
                    let arrived = await client.waitForReceived(expected, timeout: .seconds(10))
                    #expect(arrived, "fast client fell behind at batch \(batch): \(client.received) of \(expected)")
                    #expect(server.chatMembers >= 2, "a fast member was dropped")
                    if !arrived { return }
                }
                slowestBatch = max(slowestBatch, ContinuousClock.now - started)
            }
            let rssAfter = residentMemoryBytes()

            // The silent member was dropped, announced, and its TCP connection closed.
            #expect(server.chatMembers == 2)
            #expect(await eventually { server.registry.count == 2 })
            #expect(await slow.serverHasClosed())
            // Memory: an unbounded queue for the silent member would hold the whole 48 MiB stream.
            let growth = rssAfter - rssBefore
            #expect(growth < 24 * 1024 * 1024, "resident memory grew by \(growth / 1024) KiB")
            // On time: no 512 KiB batch took long to reach both fast members (generous for a loaded CI machine).
            #expect(slowestBatch < .seconds(5), "slowest batch took \(slowestBatch)")
            for client in fast { try await client.close() }
        }
    }
}

/// Resident set size of this process, from /proc/self/statm.
func residentMemoryBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
