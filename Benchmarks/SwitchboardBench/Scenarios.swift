import Foundation
import NIOCore

/// One scenario's figures, printed as a JSON object.
struct ScenarioResult: Codable {
    var scenario: String
    var server: String
    var parameters: [String: Double] = [:]
    var metrics: [String: Double] = [:]
}

/// Server and generator CPU over a measurement window.
struct CPUWindow {
    let serverStart: Int
    let ownStart: Int
    let started: UInt64
    let pid: Int32

    init(pid: Int32) {
        self.pid = pid
        self.serverStart = ProcessStats.cpuMicroseconds(pid: pid) ?? 0
        self.ownStart = ProcessStats.ownCPUMicroseconds()
        self.started = now()
    }

    /// (server CPU µs, generator CPU µs, wall seconds)
    func end() -> (server: Double, own: Double, seconds: Double) {
        let server = Double((ProcessStats.cpuMicroseconds(pid: self.pid) ?? 0) - self.serverStart)
        let own = Double(ProcessStats.ownCPUMicroseconds() - self.ownStart)
        return (server, own, Double(now() - self.started) / 1e9)
    }
}

enum Scenarios {
    /// Closed-loop echo: each connection sends a small message and waits for the answer before sending again.
    static func echo(_ generator: LoadGenerator, serverPID: Int32, serverName: String, connections: Int, warmup: Double, duration: Double)
        async throws -> ScenarioResult
    {
        final class State {
            var measuring = false
            var samples = LatencySamples(capacity: 1 << 20)
            var connections: [BenchConnection] = []
        }
        let state = LoopBox(State())
        let payload = ByteBuffer(string: "bench-echo-0123456789")
        let failures: Int = try await withCheckedThrowingContinuation { continuation in
            generator.loop.execute {
                generator.open(count: connections, concurrency: connections, path: { _ in "/ws" }) { connection in
                    connection.onOpen = { connection in
                        connection.mark = now()
                        connection.send(payload)
                    }
                    connection.onMessage = { connection, _ in
                        let t = now()
                        if state.value.measuring { state.value.samples.record(t - connection.mark) }
                        connection.mark = t
                        connection.send(payload)
                    }
                } done: { opened, failures in
                    state.value.connections = opened
                    continuation.resume(returning: failures)
                }
            }
        }
        try await Task.sleep(for: .seconds(warmup))
        let window: CPUWindow = try await generator.onLoop {
            state.value.measuring = true
            return CPUWindow(pid: serverPID)
        }
        try await Task.sleep(for: .seconds(duration))
        let (cpu, samples): ((server: Double, own: Double, seconds: Double), LatencySamples) = try await generator.onLoop {
            state.value.measuring = false
            let cpu = window.end()
            for connection in state.value.connections { connection.close() }
            return (cpu, state.value.samples)
        }
        var result = ScenarioResult(scenario: "echo", server: serverName)
        result.parameters = ["connections": Double(connections), "duration_s": cpu.seconds]
        let count = Double(samples.count)
        result.metrics["round_trips_per_s"] = count / cpu.seconds
        if let p = samples.percentiles([50, 99, 99.9]) {
            result.metrics["p50_us"] = p[0]
            result.metrics["p99_us"] = p[1]
            result.metrics["p999_us"] = p[2]
        }
        result.metrics["server_cpu_us_per_round_trip"] = count > 0 ? cpu.server / count : .nan
        result.metrics["server_cpu_percent"] = cpu.server / (cpu.seconds * 1e4)
        result.metrics["generator_cpu_percent"] = cpu.own / (cpu.seconds * 1e4)
        result.metrics["failed_connections"] = Double(failures)
        return result
    }

    /// Fan-out: S subscribers and one publisher, in the tutorial chat or in a protocol channel.
    ///
    /// Phase 1 publishes at a fixed rate and measures delivery latency; phase 2 publishes as fast as
    /// the subscribers take it (at most `window` broadcasts not yet delivered to everyone) and measures
    /// deliveries/s and server CPU per delivery. Every subscriber checks it got every sequence number
    /// in order; loss counts what never arrived.
    static func fanout(
        _ generator: LoadGenerator,
        serverPID: Int32,
        serverName: String,
        transport: FanoutTransport,
        format: ProtocolFormat = .json,
        subscribers: Int,
        rate: Double,
        rateDuration: Double,
        maxDuration: Double,
        window: Int,
        publisherPort: Int? = nil,
        publisherCount: Int = 1,
        others: [(name: String, pid: Int32)] = [],
        compression: Bool = false,
        jsonPayload: Bool = false
    ) async throws -> ScenarioResult {
        let prefix = jsonPayload ? FanoutTransport.jsonChatPayload : ""
        // The publisher may be on another node of a cluster than the subscribers.
        let publishers = publisherPort.map { LoadGenerator(loop: generator.loop, host: generator.host, port: $0) } ?? generator
        final class State {
            var publishers: [BenchConnection] = []
            var subscribers: [BenchConnection] = []
            var published = 0
            var delivered = 0
            var gaps = 0
            var disconnects = 0
            var subscribed = 0
            var ready = false
            var measuringLatency = false
            var samples = LatencySamples(capacity: 1 << 20)
            // Max-rate phase.
            var maxPhase = false
            var maxStartSeq = Int.max
            var completed = 0
            var ring: [Int] = []
        }
        let state = LoopBox(State())
        state.value.ring = Array(repeating: 0, count: window)
        let subscriberCount = subscribers

        @Sendable func publish() {
            let s = state.value
            guard !s.publishers.isEmpty else { return }
            s.publishers[s.published % s.publishers.count].send(transport.publication(sequence: s.published, time: now(), prefix: prefix))
            s.published += 1
        }
        @Sendable func publishWhileWindowAllows() {
            let s = state.value
            while s.maxPhase, s.published - s.completed < window { publish() }
        }
        @Sendable func received(_ connection: BenchConnection, _ payload: ByteBuffer) {
            transport.frames(payload, format: format) { frame in receivedFrame(connection, frame) }
        }
        @Sendable func receivedFrame(_ connection: BenchConnection, _ frame: FanoutTransport.Frame) {
            let s = state.value
            let publication: (sequence: Int, time: UInt64)?
            switch frame {
            case .publication(let parsed): publication = parsed
            case .subscribed:
                s.subscribed += 1
                return
            case .ping:
                connection.send(transport.pong(format: format))
                return
            case .other:
                return
            }
            guard s.ready, let (seq, sentAt) = publication else { return }
            let t = now()
            if publisherCount == 1 {
                if seq > connection.counter { s.gaps += seq - connection.counter }
                connection.counter = seq + 1
            }
            connection.received += 1
            s.delivered += 1
            if s.measuringLatency { s.samples.record(t &- sentAt) }
            if seq >= s.maxStartSeq {
                s.ring[seq % window] += 1
                while s.completed < s.published, s.ring[s.completed % window] == subscriberCount {
                    s.ring[s.completed % window] = 0
                    s.completed += 1
                }
                publishWhileWindowAllows()
            }
        }

        let failures: Int = try await withCheckedThrowingContinuation { continuation in
            generator.loop.execute {
                generator.open(count: subscribers, concurrency: 256, path: { transport.path(client: $0 + 1) }) { connection in
                    transport.configure(connection, format: format)
                    connection.offersDeflate = compression
                    connection.onOpen = { transport.opened($0, subscribe: true, format: format) }
                    connection.onMessage = received
                    connection.onClose = { _ in if state.value.ready { state.value.disconnects += 1 } }
                } done: { opened, failures in
                    state.value.subscribers = opened
                    publishers.open(count: publisherCount, concurrency: publisherCount, path: { _ in transport.path(client: 0) }) { publisher in
                        // The publisher speaks JSON whatever the subscribers' format.
                        publisher.onOpen = { transport.opened($0, subscribe: false, format: .json) }
                        // Answer pings; publish replies need nothing.
                        publisher.onMessage = { connection, payload in
                            transport.frames(payload, format: .json) { frame in
                                if case .ping = frame { connection.send(transport.pong(format: .json)) }
                            }
                        }
                    } done: { publisher, _ in
                        state.value.publishers = publisher
                        continuation.resume(returning: failures)
                    }
                }
            }
        }
        // Let the server add the last members to the room before the first broadcast (protocol
        // subscribers say when they are in).
        if transport == .protocolChannel {
            _ = await waitUntil(timeout: 30, generator) { state.value.subscribed >= subscriberCount - failures }
        }
        try await Task.sleep(for: .milliseconds(500))
        _ = try await generator.onLoop {
            state.value.ready = true
            state.value.measuringLatency = true
        }

        // Phase 1: fixed rate.
        let interval = TimeAmount.nanoseconds(Int64(1e9 / rate))
        let fixedWindow = CPUWindow(pid: serverPID)
        let fixedOthers = others.map { CPUWindow(pid: $0.pid) }
        let ticker = try await generator.onLoop { generator.loop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { _ in publish() } }
        try await Task.sleep(for: .seconds(rateDuration))
        let fixedPublished = try await generator.onLoop {
            ticker.cancel()
            return state.value.published
        }
        _ = await waitUntil(timeout: 10, generator) { state.value.delivered >= fixedPublished * subscriberCount }
        let fixedCPU = fixedWindow.end()
        let fixedOthersCPU = fixedOthers.map { $0.end().server }
        let (latency, fixedDelivered) = try await generator.onLoop {
            state.value.measuringLatency = false
            return (state.value.samples, state.value.delivered)
        }

        // Phase 2: as fast as subscribers take it.
        let (window0, delivered0): (CPUWindow, Int) = try await generator.onLoop {
            let s = state.value
            s.maxStartSeq = s.published
            s.completed = s.published
            s.maxPhase = true
            let window = CPUWindow(pid: serverPID)
            publishWhileWindowAllows()
            return (window, s.delivered)
        }
        let maxOthers = others.map { CPUWindow(pid: $0.pid) }
        try await Task.sleep(for: .seconds(maxDuration))
        let (cpu, maxDelivered): ((server: Double, own: Double, seconds: Double), Int) = try await generator.onLoop {
            state.value.maxPhase = false
            return (window0.end(), state.value.delivered - delivered0)
        }
        let maxOthersCPU = maxOthers.map { $0.end().server }
        // Drain: everything published must arrive.
        let totalPublished = try await generator.onLoop { state.value.published }
        _ = await waitUntil(timeout: 10, generator) { state.value.delivered + state.value.gaps >= totalPublished * subscriberCount }
        let summary: (delivered: Int, gaps: Int, disconnects: Int, missing: Int, wireBytes: Int) = try await generator.onLoop {
            let s = state.value
            let missing = s.subscribers.reduce(0) { $0 + max(0, totalPublished - (publisherCount == 1 ? $1.counter : $1.received)) }
            let summary = (s.delivered, s.gaps, s.disconnects, missing, s.subscribers.reduce(0) { $0 + $1.wireBytes })
            s.ready = false  // our own closes below are not disconnects
            for connection in s.subscribers { connection.close() }
            for publisher in s.publishers { publisher.close() }
            return summary
        }

        let scenario = transport == .tutorialChat ? "fanout" : format == .json ? "channel-fanout" : "channel-fanout-\(format.rawValue)"
        var result = ScenarioResult(scenario: scenario, server: serverName)
        result.parameters = [
            "subscribers": Double(subscribers), "rate_per_s": rate, "rate_duration_s": rateDuration,
            "max_duration_s": cpu.seconds, "window": Double(window),
            "publisher_on_another_node": publisherPort == nil ? 0 : 1, "publishers": Double(publisherCount),
            "protobuf_subscribers": transport == .protocolChannel && format == .protobuf ? 1 : 0,
            "compression_offered": compression ? 1 : 0, "json_payload": jsonPayload ? 1 : 0,
        ]
        // Bytes on the wire per delivery (everything the subscribers received after their
        // handshakes, pings and join notices included, over every delivered publication).
        if summary.delivered > 0 { result.metrics["subscriber_wire_bytes_per_delivery"] = Double(summary.wireBytes) / Double(summary.delivered) }
        result.metrics["publications_per_s"] = Double(maxDelivered) / cpu.seconds / Double(max(1, subscribers - failures))
        if let p = latency.percentiles([50, 99, 99.9]) {
            result.metrics["fixed_rate_p50_us"] = p[0]
            result.metrics["fixed_rate_p99_us"] = p[1]
            result.metrics["fixed_rate_p999_us"] = p[2]
        }
        // What one delivery costs each side at the fixed rate, where every read carries one message:
        // the generator handles its S sockets one after the other on one core, so S times its cost
        // per delivery is a floor under the latency it can measure.
        if fixedDelivered > 0 {
            result.metrics["fixed_rate_server_cpu_us_per_delivery"] = fixedCPU.server / Double(fixedDelivered)
            result.metrics["fixed_rate_generator_cpu_us_per_delivery"] = fixedCPU.own / Double(fixedDelivered)
        }
        // Other processes (the publishing node, the database) per publication; publications are
        // deliveries divided by the subscribers.
        let perPublication = Double(max(1, subscribers - failures))
        for (index, other) in others.enumerated() {
            if fixedDelivered > 0 { result.metrics["fixed_rate_\(other.name)_cpu_us_per_publication"] = fixedOthersCPU[index] * perPublication / Double(fixedDelivered) }
            if maxDelivered > 0 { result.metrics["\(other.name)_cpu_us_per_publication"] = maxOthersCPU[index] * perPublication / Double(maxDelivered) }
            result.metrics["\(other.name)_cpu_percent"] = maxOthersCPU[index] / (cpu.seconds * 1e4)
        }
        if maxDelivered > 0 { result.metrics["server_cpu_us_per_publication"] = cpu.server * perPublication / Double(maxDelivered) }
        result.metrics["deliveries_per_s"] = Double(maxDelivered) / cpu.seconds
        result.metrics["server_cpu_us_per_delivery"] = maxDelivered > 0 ? cpu.server / Double(maxDelivered) : .nan
        result.metrics["server_cpu_percent"] = cpu.server / (cpu.seconds * 1e4)
        result.metrics["generator_cpu_percent"] = cpu.own / (cpu.seconds * 1e4)
        result.metrics["published"] = Double(totalPublished)
        result.metrics["lost"] = Double(summary.gaps + summary.missing)
        result.metrics["disconnects"] = Double(summary.disconnects)
        result.metrics["failed_connections"] = Double(failures)
        result.metrics["subscribed"] = Double(transport == .tutorialChat ? subscribers - failures : (try await generator.onLoop { state.value.subscribed }))
        return result
    }

    /// Open `count` idle connections as fast as the server takes them; measure handshakes/s and RSS per connection.
    static func connections(_ generator: LoadGenerator, serverPID: Int32, serverName: String, count: Int, concurrency: Int)
        async throws -> ScenarioResult
    {
        let rssBefore = ProcessStats.residentBytes(pid: serverPID) ?? 0
        let window = CPUWindow(pid: serverPID)
        let (opened, failures): ([BenchConnection], Int) = try await withCheckedThrowingContinuation { continuation in
            generator.loop.execute {
                generator.open(count: count, concurrency: concurrency, path: { _ in "/ws" }) { _ in } done: { opened, failures in
                    continuation.resume(returning: (opened, failures))
                }
            }
        }
        let cpu = window.end()
        try await Task.sleep(for: .seconds(1))
        let rssAfter = ProcessStats.residentBytes(pid: serverPID) ?? 0
        let held = LoopBox(opened)
        try await generator.onLoop { for connection in held.value { connection.close() } }

        var result = ScenarioResult(scenario: "connections", server: serverName)
        result.parameters = ["count": Double(count), "concurrency": Double(concurrency)]
        result.metrics["handshakes_per_s"] = Double(opened.count) / cpu.seconds
        result.metrics["server_cpu_us_per_handshake"] = opened.isEmpty ? .nan : cpu.server / Double(opened.count)
        result.metrics["rss_before_bytes"] = Double(rssBefore)
        result.metrics["rss_after_bytes"] = Double(rssAfter)
        result.metrics["rss_bytes_per_connection"] = opened.isEmpty ? .nan : Double(rssAfter - rssBefore) / Double(opened.count)
        result.metrics["opened"] = Double(opened.count)
        result.metrics["failed_connections"] = Double(failures)
        result.metrics["generator_cpu_percent"] = cpu.own / (cpu.seconds * 1e4)
        return result
    }

    /// Poll `condition` on the loop until it holds or `timeout` seconds pass.
    static func waitUntil(timeout: Double, _ generator: LoadGenerator, _ condition: @escaping @Sendable () -> Bool) async -> Bool {
        let deadline = now() + UInt64(timeout * 1e9)
        while now() < deadline {
            if (try? await generator.onLoop(condition)) == true { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

/// The last two decimal numbers of a payload such as `Client #0 says: 12 3456789`.
@inline(__always)
func parseSequenceAndTime(_ payload: ByteBuffer) -> (Int, UInt64)? {
    let view = payload.readableBytesView
    var index = view.endIndex - 1
    var time: UInt64 = 0
    var scale: UInt64 = 1
    while index >= view.startIndex, view[index] >= 48, view[index] <= 57 {
        time += UInt64(view[index] - 48) * scale
        scale &*= 10
        index -= 1
    }
    guard index > view.startIndex, view[index] == 32 else { return nil }
    index -= 1
    var seq = 0
    var seqScale = 1
    while index >= view.startIndex, view[index] >= 48, view[index] <= 57 {
        seq += Int(view[index] - 48) * seqScale
        seqScale *= 10
        index -= 1
    }
    guard seqScale > 1 else { return nil }
    return (seq, time)
}
