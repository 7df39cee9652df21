import Foundation
import NIOCore
import SwitchboardRedis
import Testing

/// `rediss://` against a real redis-server serving TLS with a certificate of a private CA, made with
/// openssl for the test: trusted through `?ca_file=`, refused without it (the system does not
/// trust that CA), and refused for a name the certificate does not hold.
@Suite(.enabled(if: TestRedisServer.available && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs redis-server and openssl"))
struct RedisTLSTests {
    /// A CA and a server certificate for localhost and 127.0.0.1, in a temp dir.
    static func makeCertificates(in directory: URL) throws {
        let script = """
            set -e
            cd '\(directory.path)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=switchboard-test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.cnf 2>/dev/null
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw RedisTestFailure("openssl failed") }
    }

    @Test func rediss() async throws {
        let certificates = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: certificates) }
        try Self.makeCertificates(in: certificates)
        let tlsPort = try TestRedisServer.freePort()
        let arguments = [
            "--tls-port", String(tlsPort), "--tls-cert-file", certificates.appendingPathComponent("server.pem").path,
            "--tls-key-file", certificates.appendingPathComponent("server.key").path,
            "--tls-ca-cert-file", certificates.appendingPathComponent("ca.pem").path, "--tls-auth-clients", "no",
        ]
        try await TestRedisServer.withServer(arguments: arguments) { _ in
            let ca = certificates.appendingPathComponent("ca.pem").path
            for host in ["127.0.0.1", "localhost"] {
                let url = try RedisURL("rediss://\(host):\(tlsPort)/0?ca_file=\(ca)")
                let connection = try await RedisConnection.connect(to: url, timeout: .seconds(5))
                defer { connection.close() }
                #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"), "\(host)")
            }
            // Without the CA the system does not trust the certificate.
            await #expect(throws: RedisError.self) {
                _ = try await RedisConnection.connect(to: try RedisURL("rediss://127.0.0.1:\(tlsPort)"), timeout: .seconds(5))
            }
            // Plain text on the TLS port gets no answer it can read.
            await #expect(throws: RedisError.self) {
                let plain = try await RedisConnection.connect(to: try RedisURL("redis://127.0.0.1:\(tlsPort)"), timeout: .seconds(2))
                defer { plain.close() }
                _ = try await plain.send(RESPCommand("PING"), timeout: .seconds(2))
            }
        }
    }

    @Test func caFileNeedsTLSAndAPath() {
        #expect(throws: RedisURLError.self) { try RedisURL("redis://h:6379?ca_file=/x.pem") }
        #expect(throws: RedisURLError.self) { try RedisURL("rediss://h:6379?ca_file=") }
        #expect(throws: RedisURLError.self) { try RedisURL("rediss://h:6379?tls=1") }
        #expect((try? RedisURL("rediss://h:6379?ca_file=/etc/ca.pem"))?.caFile == "/etc/ca.pem")
    }
}
