public import NIOCore
import NIOPosix
import NIOSSL

/// One connection to Redis for commands, pipelined: ``send(_:timeout:)`` may be called from any
/// task at any time, and commands sent together leave in one write.
///
/// A command that gets no reply within its timeout closes the connection (its replies could no
/// longer be matched to their commands), failing every waiting command; the owner reconnects.
public final class RedisConnection: Sendable {
    let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Connect, log in (`AUTH`) and choose the database (`SELECT`) as the URL says.
    ///
    /// - Throws: ``RedisError`` saying why (unreachable, refused login, timeout).
    public static func connect(
        to url: RedisURL,
        on eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: Duration = .seconds(5),
        parserLimits: RESPParser.Limits = .init()
    ) async throws(RedisError) -> RedisConnection {
        let channel: any Channel
        do {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            if let caFile = url.caFile { tlsConfiguration.trustRoots = .file(caFile) }
            let tls: NIOSSLContext? = url.tls ? try NIOSSLContext(configuration: tlsConfiguration) : nil
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(TimeAmount(timeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            // SNI takes names only: an IP address is checked against the certificate's IP entries.
                            let name = url.host.contains(":") || url.host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : url.host
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: name))
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(parser: RESPParser(limits: parserLimits))))
                        try channel.pipeline.syncOperations.addHandler(RedisCommandHandler())
                    }
                }
                .connect(host: url.host, port: url.port)
                .get()
        } catch {
            throw RedisError("cannot connect to \(url.host):\(url.port): \(error)")
        }
        let connection = RedisConnection(channel: channel)
        do throws(RedisError) {
            try await connection.logIn(url, timeout: timeout)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    func logIn(_ url: RedisURL, timeout: Duration) async throws(RedisError) {
        var commands: [RESPCommand] = []
        if let password = url.password {
            commands.append(url.username.map { RESPCommand("AUTH", $0, password) } ?? RESPCommand("AUTH", password))
        }
        if url.database != 0 { commands.append(RESPCommand("SELECT", String(url.database))) }
        // A round trip in any case, so a connection is only handed out once the server answered
        // (a TLS handshake that fails, or a server that does not speak RESP, fails the connect).
        if commands.isEmpty { commands.append(RESPCommand("PING")) }
        for (command, reply) in zip(commands, try await self.send(commands, timeout: timeout)) {
            if case .error(let error) = reply {
                throw RedisError("Redis refused \(command.name): \(error.message)")
            }
        }
    }

    /// Send one command and wait for its reply.
    ///
    /// - Returns: The reply; an error reply of Redis is thrown as that ``RedisError``.
    /// - Throws: ``RedisError`` for an error reply, a closed connection or a timeout.
    @discardableResult
    public func send(_ command: RESPCommand, timeout: Duration = .seconds(5)) async throws(RedisError) -> RESPValue {
        let reply = try await self.send([command], timeout: timeout)[0]
        if case .error(let error) = reply { throw error }
        return reply
    }

    /// Send several commands at once (one write) and wait for all their replies, in order. Error
    /// replies are in the list as ``RESPValue/error(_:)``.
    ///
    /// - Throws: ``RedisError`` for a closed connection or a timeout (which closes it).
    public func send(_ commands: [RESPCommand], timeout: Duration = .seconds(5)) async throws(RedisError) -> [RESPValue] {
        try await self.send(expectingReplies: commands.count, commands, timeout: timeout)
    }

    /// Send commands that are answered with `replies` replies in all.
    func send(expectingReplies replies: Int, _ commands: RESPCommand..., timeout: Duration) async throws(RedisError) -> [RESPValue] {
        try await self.send(expectingReplies: replies, commands, timeout: timeout)
    }

    func send(expectingReplies replies: Int, _ commands: [RESPCommand], timeout: Duration) async throws(RedisError) -> [RESPValue] {
        do {
            return try await self.request(expectingReplies: replies, commands, timeout: timeout).get()
        } catch {
            throw error as? RedisError ?? RedisError("\(error)")
        }
    }

    /// Write commands now (before returning, so requests made one after another leave in that
    /// order, whatever task makes them) and answer their replies; the future fails with a
    /// ``RedisError`` for a closed connection or a timeout (which closes it).
    func request(expectingReplies replies: Int, _ commands: [RESPCommand], timeout: Duration) -> EventLoopFuture<[RESPValue]> {
        let promise = self.channel.eventLoop.makePromise(of: [RESPValue].self)
        // A write that never reaches the handler (the channel has closed) fails the request too.
        let written = self.channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in promise.fail(RedisError("the connection to Redis is closed: \(error)")) }
        let request = RedisRequest(commands: commands, replies: replies, promise: promise, deadline: .now() + TimeAmount(timeout))
        self.channel.write(request, promise: written)
        return promise.futureResult
    }


    /// Whether the connection is still open.
    public var isActive: Bool { self.channel.isActive }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

    /// Close the connection; waiting commands fail.
    public func close() {
        self.channel.close(promise: nil)
    }
}
