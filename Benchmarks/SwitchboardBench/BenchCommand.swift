import ArgumentParser
import Foundation
import NIOPosix

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Load generator for Switchboard and its peers. Prints one JSON object per scenario.",
        discussion: "Run it through Benchmarks/run.sh, which starts the servers, pins them and compares them.",
        subcommands: [Echo.self, Fanout.self, Connections.self]
    )
}

struct Target: ParsableArguments {
    @Option(help: "Server host (loopback only).") var host = "127.0.0.1"
    @Option(help: "Server port.") var port: Int
    @Option(help: "PID of the server process, for its CPU time and memory.") var serverPID: Int32
    @Option(help: "Name of the server in the output.") var serverName = "server"

    func validate() throws {
        guard self.host == "127.0.0.1" || self.host == "localhost" || self.host.hasPrefix("127.") else {
            throw ValidationError("benchmarks only target loopback addresses")
        }
    }

    func run(_ body: (LoadGenerator) async throws -> ScenarioResult) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let generator = LoadGenerator(loop: group.next(), host: self.host, port: self.port)
        let result = try await body(generator)
        try await group.shutdownGracefully()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }
}

struct Echo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Closed-loop echo on /ws.")
    @OptionGroup var target: Target
    @Option var connections = 50
    @Option var warmup = 2.0
    @Option var duration = 10.0

    func run() async throws {
        try await self.target.run { generator in
            try await Scenarios.echo(
                generator, serverPID: self.target.serverPID, serverName: self.target.serverName,
                connections: self.connections, warmup: self.warmup, duration: self.duration)
        }
    }
}

struct Fanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One publisher, S subscribers: on the /ws/{id} chat, or in a protocol channel.",
        discussion: "With --transport protocol the server needs the namespace 'bench' (Benchmarks/switchboard.json)."
    )
    @OptionGroup var target: Target
    @Option(help: "chat (/ws/{id}) or protocol (/connection/websocket, channel \(FanoutTransport.channel)).") var transport = FanoutTransport.tutorialChat
    @Option(help: "The subscribers' format with --transport protocol: json, or protobuf (the centrifuge-protobuf subprotocol). The publisher speaks JSON either way.")
    var format = ProtocolFormat.json
    @Option var subscribers = 1000
    @Option(help: "Broadcasts per second in the latency phase.") var rate = 10.0
    @Option(help: "Seconds of the latency phase.") var rateDuration = 5.0
    @Option(help: "Seconds of the max-rate phase.") var maxDuration = 5.0
    @Option(help: "Most broadcasts not yet delivered to every subscriber in the max-rate phase.") var window = 16
    @Option(help: "Port of the node the publisher connects to, when it is not --port (a cluster: publisher and subscribers on different nodes).")
    var publisherPort: Int?
    @Option(help: "Publisher connections, taking turns. With more than one, publications of different publishers may arrive in either order, so loss is counted but order is not checked.")
    var publishers = 1
    @Option(
        name: .customLong("also-pid"),
        help: "NAME=PID of another process whose CPU per publication to report as NAME_cpu_us_per_publication in both phases (the publishing node, Redis, PostgreSQL); repeatable."
    )
    var alsoPIDs: [String] = []
    @Flag(help: "Subscribers offer permessage-deflate (and inflate what comes compressed).") var compression = false
    @Flag(help: "With --transport chat, publish a ~300-byte JSON chat message instead of '<seq> <time>'.") var jsonPayload = false

    /// The `--also-pid` values, checked.
    var others: [(name: String, pid: Int32)] {
        get throws {
            try self.alsoPIDs.map { text in
                let parts = text.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, !parts[0].isEmpty, let pid = Int32(parts[1]), pid > 0 else {
                    throw ValidationError("--also-pid takes NAME=PID, got '\(text)'")
                }
                return (String(parts[0]), pid)
            }
        }
    }

    func validate() throws {
        if self.format != .json, self.transport != .protocolChannel {
            throw ValidationError("--format applies to --transport protocol only")
        }
        if self.jsonPayload, self.transport != .tutorialChat {
            throw ValidationError("--json-payload applies to --transport chat only")
        }
        _ = try self.others
    }

    func run() async throws {
        try await self.target.run { generator in
            try await Scenarios.fanout(
                generator, serverPID: self.target.serverPID, serverName: self.target.serverName,
                transport: self.transport, format: self.format, subscribers: self.subscribers, rate: self.rate, rateDuration: self.rateDuration,
                maxDuration: self.maxDuration, window: self.window, publisherPort: self.publisherPort, publisherCount: self.publishers, others: try self.others,
                compression: self.compression, jsonPayload: self.jsonPayload)
        }
    }
}

struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open N idle connections on /ws as fast as allowed.")
    @OptionGroup var target: Target
    @Option var count = 10_000
    @Option var concurrency = 256

    func run() async throws {
        try await self.target.run { generator in
            try await Scenarios.connections(
                generator, serverPID: self.target.serverPID, serverName: self.target.serverName,
                count: self.count, concurrency: self.concurrency)
        }
    }
}
