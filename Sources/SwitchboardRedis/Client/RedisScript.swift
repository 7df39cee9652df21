import NIOCore
import Synchronization

/// A Lua script run with `EVALSHA`: loaded once (`SCRIPT LOAD`), and loaded again when Redis
/// answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`), then run again.
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    /// Run the script with `keys` and `arguments`; an error reply is thrown.
    public func run(on client: RedisClient, keys: [ByteBuffer], arguments: [ByteBuffer], timeout: Duration? = nil) async throws(RedisError) -> RESPValue {
        if let sha = self.sha.withLock({ $0 }) {
            do throws(RedisError) {
                return try await client.send(Self.evalsha(sha, keys, arguments), timeout: timeout)
            } catch where error.code == "NOSCRIPT" {
                // Load it again below.
            }
        }
        let loaded = try await client.send(RESPCommand("SCRIPT", "LOAD", self.source), timeout: timeout)
        guard let sha = loaded.string else { throw RedisError("SCRIPT LOAD answered \(loaded)") }
        self.sha.withLock { $0 = sha }
        return try await client.send(Self.evalsha(sha, keys, arguments), timeout: timeout)
    }

    static func evalsha(_ sha: String, _ keys: [ByteBuffer], _ arguments: [ByteBuffer]) -> RESPCommand {
        RESPCommand([ByteBuffer(string: "EVALSHA"), ByteBuffer(string: sha), ByteBuffer(string: String(keys.count))] + keys + arguments)
    }
}
