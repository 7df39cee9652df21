import NIOCore
import SwitchboardRedis
import Testing

/// The command connection against a real redis-server: pipelining, every reply type Redis sends,
/// login and database, errors, timeouts, and a server that dies.
@Suite(.enabled(if: TestRedisServer.available, "needs redis-server: run scripts/test.sh"))
struct RedisConnectionTests {
    @Test func commandsSentTogetherAreAnsweredInOrder() async throws {
        try await TestRedisServer.withServer { server in
            let connection = try await RedisConnection.connect(to: server.url)
            defer { connection.close() }
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"))
            // Many tasks at once on one connection: each gets its own reply.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<200 {
                    group.addTask {
                        try await connection.send(RESPCommand("SET", "key\(n)", "value\(n)"))
                        let value = try await connection.send(RESPCommand("GET", "key\(n)"))
                        #expect(value.string == "value\(n)")
                    }
                }
                try await group.waitForAll()
            }
            let replies = try await connection.send([
                RESPCommand("INCR", "counter"), RESPCommand("INCR", "counter"), RESPCommand("HSET", "h", "a", "1"),
                RESPCommand("HGETALL", "h"), RESPCommand("GET", "missing"), RESPCommand("LPUSH", "h", "x"), RESPCommand("EXISTS", "key0"),
            ])
            #expect(replies[0] == .integer(1))
            #expect(replies[1] == .integer(2))
            #expect(replies[2] == .integer(1))
            #expect(replies[3] == .array([.bulkString(ByteBuffer(string: "a")), .bulkString(ByteBuffer(string: "1"))]))
            #expect(replies[4] == .null)
            #expect(replies[5].isError("WRONGTYPE"), "an error reply in a pipeline stays in its place: \(replies[5])")
            #expect(replies[6] == .integer(1), "and what follows it is answered")
            // Binary-safe values, large ones too.
            var big = ByteBuffer()
            for n in 0..<(300 * 1024) { big.writeInteger(UInt8(truncatingIfNeeded: n)) }
            try await connection.send(RESPCommand([ByteBuffer(string: "SET"), ByteBuffer(string: "big"), big]))
            #expect(try await connection.send(RESPCommand("GET", "big")).bytes == big)
        }
    }

    @Test func anErrorReplyIsThrownWithItsCode() async throws {
        try await TestRedisServer.withServer { server in
            let connection = try await RedisConnection.connect(to: server.url)
            defer { connection.close() }
            do {
                try await connection.send(RESPCommand("EVALSHA", String(repeating: "0", count: 40), "0"))
                Issue.record("EVALSHA of an unknown script succeeded")
            } catch {
                #expect((error as? RedisError)?.code == "NOSCRIPT", "\(error)")
            }
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"), "the connection goes on")
        }
    }

    @Test func aPasswordAndADatabaseFromTheURL() async throws {
        try await TestRedisServer.withServer(arguments: ["--requirepass", "s3cret", "--databases", "4"]) { server in
            let url = try RedisURL("redis://:s3cret@127.0.0.1:\(server.port)/2")
            let connection = try await RedisConnection.connect(to: url)
            defer { connection.close() }
            try await connection.send(RESPCommand("SET", "where", "db2"))
            let other = try await RedisConnection.connect(to: try RedisURL("redis://:s3cret@127.0.0.1:\(server.port)/0"))
            defer { other.close() }
            #expect(try await other.send(RESPCommand("GET", "where")) == .null, "SELECT chose database 2")
            try await other.send(RESPCommand("SELECT", "2"))
            #expect(try await other.send(RESPCommand("GET", "where")).string == "db2")

            do {
                _ = try await RedisConnection.connect(to: try RedisURL("redis://:wrong@127.0.0.1:\(server.port)"))
                Issue.record("a wrong password logged in")
            } catch {
                #expect("\(error)".contains("refused AUTH"), "\(error)")
                #expect(!"\(error)".contains("wrong"), "the password is never repeated: \(error)")
            }
            do {
                _ = try await RedisConnection.connect(to: try RedisURL("redis://:s3cret@127.0.0.1:\(server.port)/9"))
                Issue.record("a database that does not exist was selected")
            } catch {
                #expect("\(error)".contains("refused SELECT"), "\(error)")
            }
        }
    }

    @Test func anUnreachableServerFailsFast() async throws {
        let port = try TestRedisServer.freePort()
        let started = ContinuousClock.now
        await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.connect(to: try RedisURL("redis://127.0.0.1:\(port)"), timeout: .seconds(2))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func aServerThatDiesFailsWhatWaitsAndWhatComesAfter() async throws {
        let server = try TestRedisServer()
        try await server.start()
        let connection = try await RedisConnection.connect(to: server.url)
        // BLPOP waits on the server; then the server dies.
        async let blocked: RESPValue = connection.send(RESPCommand("BLPOP", "nothing", "0"), timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(200))
        server.kill()
        do {
            _ = try await blocked
            Issue.record("a command outlived its server")
        } catch {
            #expect("\(error)".contains("closed"), "\(error)")
        }
        try await connection.closeFuture.get()
        #expect(!connection.isActive)
        await #expect(throws: RedisError.self) { try await connection.send(RESPCommand("PING")) }
    }

    @Test func aCommandWithoutAReplyInTimeClosesTheConnection() async throws {
        try await TestRedisServer.withServer { server in
            let connection = try await RedisConnection.connect(to: server.url)
            let started = ContinuousClock.now
            do {
                try await connection.send(RESPCommand("BLPOP", "nothing", "0"), timeout: .milliseconds(300))
                Issue.record("BLPOP answered")
            } catch {
                #expect("\(error)".contains("did not answer BLPOP"), "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            try await connection.closeFuture.get()
        }
    }
}

extension RESPValue {
    func isError(_ code: String) -> Bool {
        if case .error(let error) = self { error.code == code } else { false }
    }
}
