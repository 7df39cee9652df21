import Foundation
import NIOCore
import SwitchboardRedis

/// A throwaway `redis-server` on a free loopback port, in a temp dir, for one test; stopped (by its
/// PID) afterwards. Tests that need it are skipped when Debian's redis-server is not installed
/// (scripts/test.sh installs it).
final class TestRedisServer: @unchecked Sendable {
    static let binary = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_SERVER"] ?? "/usr/bin/redis-server"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: Self.binary) }

    let port: Int
    let directory: URL
    let arguments: [String]
    private var process: Process?

    init(arguments: [String] = []) throws {
        self.port = try Self.freePort()
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        self.arguments = arguments
    }

    var url: RedisURL { try! RedisURL("redis://127.0.0.1:\(self.port)") }

    /// Start it and wait until it answers.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--port", String(self.port), "--bind", "127.0.0.1", "--dir", self.directory.path,
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", self.directory.appendingPathComponent("redis.log").path,
        ] + self.arguments
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let connection = try? await RedisConnection.connect(to: self.url, timeout: .seconds(1)) {
                connection.close()
                return
            }
            // A password-protected server refuses the login but is up: good enough.
            if !self.arguments.isEmpty, (try? Self.canConnect(self.port)) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisTestFailure("redis-server did not start on port \(self.port)")
    }

    /// Stop it (SIGKILL: as a crash would) and wait for it to exit.
    func kill() {
        guard let process = self.process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit {
        self.kill()
        try? FileManager.default.removeItem(at: self.directory)
    }

    static func withServer(arguments: [String] = [], _ body: (TestRedisServer) async throws -> Void) async throws {
        let server = try TestRedisServer(arguments: arguments)
        defer { server.kill() }
        try await server.start()
        try await body(server)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw RedisTestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func canConnect(_ port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

struct RedisTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
