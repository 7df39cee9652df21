import Synchronization

/// One client connection speaking the Centrifugo client protocol: it reads commands, checks them
/// against the channel configuration, acts on the ``Engine``, and replies through the connection's
/// outbox.
///
/// The session is about commands only: its ``ProtocolFormat`` (JSON or Protobuf) turns messages into
/// commands and results into messages, and its transport (a WebSocket, or a unidirectional stream)
/// only carries them.
///
/// Commands run in the order they arrive. Some complete at once; the ones that check a token or call
/// the engine (which may ask a database) suspend the queue until they are done, so a reply never
/// overtakes an earlier one.
public final class ClientSession: Sendable {
    struct Subscription: Sendable {
        var info: ClientInfo
        var expiresAt: ContinuousClock.Instant?
        /// Made by the server (token `channels` claim or server API), not by the client.
        var serverSide: Bool
        /// The `subscribe` hook granted the expiry and the `subRefresh` hook extends it: the server
        /// refreshes at `expiresAt` (the client was not told it expires).
        var refreshedByServer = false
        /// The `subRefresh` hook is deciding.
        var refreshing = false
    }

    /// How the client talks to the server.
    public enum Transport: Sendable, Equatable {
        /// Commands and replies (a WebSocket).
        case bidirectional
        /// Pushes only, after one connect request (uni_websocket, uni_sse, uni_http_stream): the
        /// connect result is the first push, subscriptions are the server's, and an error closes
        /// the connection.
        case unidirectional
    }

    enum Phase: Sendable {
        case awaitingConnect, connected, closed
    }

    struct State: ~Copyable {
        var phase = Phase.awaitingConnect
        /// Listed in the service's ``SessionDirectory`` (from a successful connect until closed).
        var registered = false
        var user = ""
        var connectionInfo: String?
        var expiresAt: ContinuousClock.Instant?
        /// The `connect` hook granted the expiry and the `refresh` hook extends it: the server
        /// refreshes at `expiresAt` (the client was not told it expires).
        var refreshedByServer = false
        /// The `refresh` hook is deciding.
        var refreshing = false
        var subscriptions: [String: Subscription] = [:]
        /// A command is waiting for a token check; later commands wait in `queue`.
        var busy = false
        var queue: [Queued] = []
        var expiryTimer: Task<Void, Never>?
        /// Waiting for the queue to be done (see ``whenIdle(_:)``).
        var idleWaiters: [@Sendable () -> Void] = []
    }

    /// A command waiting its turn, or the error reply to a command that could not be decoded
    /// (which waits its turn too, so replies keep the order of their commands).
    enum Queued: Sendable {
        case command(ClientCommand)
        case error(UInt32, ProtocolError)
    }

    /// What handling one command leaves to do.
    enum Step {
        case done
        /// Wait for a token check or the engine, then finish the command; the queue waits.
        case suspend(@Sendable () async -> Void)
    }

    /// The largest `data` an anonymous client may give as its connection info.
    public static let maximumAnonymousInfoBytes = 1024

    /// The client id, reported in the connect result and in presence.
    public let id: String
    /// How commands, replies and pushes are encoded.
    public let format: ProtocolFormat
    /// How the session reaches its client: bidirectional, or one of the unidirectional transports.
    public let transport: Transport
    /// The transport's name, as the hooks see it: `websocket`, `uni_websocket`, `uni_sse` or
    /// `uni_http_stream`.
    public let transportName: String
    /// The HTTP request the connection came with (the hooks see it).
    public let request: ConnectionRequest
    let connection: Connection
    let service: ChannelService
    let state = Mutex(State())

    /// - Parameters:
    ///   - connection: Where replies and pushes go.
    ///   - service: The engine, configuration, token checking and hooks.
    ///   - format: How commands, replies and pushes are encoded.
    ///   - transport: Commands and replies, or pushes only.
    ///   - request: The HTTP request the connection came with (headers, cookies, peer address),
    ///     which the `connect` hook sees.
    ///   - transportName: The transport's name for the hooks; `nil` for `websocket` (bidirectional)
    ///     or `uni_websocket` (unidirectional).
    public init(
        connection: Connection,
        service: ChannelService,
        format: ProtocolFormat = .json,
        transport: Transport = .bidirectional,
        request: ConnectionRequest = ConnectionRequest(),
        transportName: String? = nil
    ) {
        self.id = Self.makeClientID()
        self.connection = connection
        self.service = service
        self.format = format
        self.transport = transport
        self.request = request
        self.transportName = transportName ?? (transport == .bidirectional ? "websocket" : "uni_websocket")
    }

    // MARK: Input

    /// A message from the client: one command or several (one per line in JSON, each prefixed by its
    /// length in Protobuf).
    ///
    /// What one message may ask for is bounded: more than
    /// ``ProtocolSettings/maxCommandsPerMessage`` commands close the connection with 3501 before any
    /// runs, and more than four messages' worth waiting their turn (behind a token check or the
    /// engine) close it with 3013. The replies are bounded by the outbox (``Outbox/reply(_:)``).
    public func receive(_ message: InboundMessage) {
        guard self.transport == .bidirectional else {
            return self.disconnect(Disconnect.badRequest("a unidirectional connection sends nothing after its connect request"))
        }
        let encoded: [EncodedCommand]
        do {
            encoded = try self.format.split(message)
        } catch {
            if case .malformed(let reason) = error { self.disconnect(Disconnect.badRequest(reason)) }
            return
        }
        let limit = self.service.settings.maxCommandsPerMessage
        guard encoded.count <= limit else {
            return self.disconnect(Disconnect.badRequest("more than \(limit) commands in one message"))
        }
        for piece in encoded {
            do {
                guard let command = try self.format.decode(piece) else { continue }  // an empty command is a pong
                let overflowed = self.state.withLock { state in
                    state.queue.append(.command(command))
                    return state.queue.count / 4 > limit
                }
                if overflowed { return self.disconnect(Disconnect.tooManyRequests) }
            } catch {
                switch error {
                case .malformed(let reason):
                    self.pump()
                    return self.disconnect(Disconnect.badRequest(reason))
                case .reply(let id, let error):
                    self.state.withLock { $0.queue.append(.error(id, error)) }
                }
            }
        }
        self.pump()
    }

    /// Start a unidirectional connection with its connect request (a JSON object, as the
    /// unidirectional transports take it: `{"token":…,"subs":{…}}`); the result goes out as the
    /// first push, or an error closes the connection.
    public func connectUnidirectional(_ request: String) {
        precondition(self.transport == .unidirectional, "connectUnidirectional on a bidirectional session")
        do throws(ProtocolError) {
            let connect = try JSONFormat.connectRequest(request)
            self.state.withLock { $0.queue.append(.command(ClientCommand(id: 1, method: .connect, request: .success(.connect(connect))))) }
            self.pump()
        } catch {
            self.replyError(1, error)
        }
    }

    /// Why a unidirectional connect request would be refused as malformed (not JSON, not an object,
    /// a parameter of the wrong type), or `nil` if it is well formed. The HTTP transports check it
    /// before they start streaming, so a bad request gets HTTP 400 rather than a disconnect push.
    public static func unidirectionalConnectProblem(_ request: String) -> ProtocolError? {
        do throws(ProtocolError) {
            _ = try JSONFormat.connectRequest(request)
            return nil
        } catch {
            return error
        }
    }

    /// The connection is gone: leave every channel and the directory.
    public func closed() {
        let (user, channels, timer, registered, waiters) = self.state.withLock { state in
            let registered = state.registered
            state.registered = false
            state.phase = .closed
            state.queue.removeAll()
            let channels = Array(state.subscriptions.keys)
            state.subscriptions.removeAll()
            return (state.user, channels, state.expiryTimer, registered, Self.takeIdleWaiters(&state))
        }
        for waiter in waiters { waiter() }
        timer?.cancel()
        for channel in channels { self.service.engine.unsubscribe(channel, client: self.id) }
        // Also after a disconnect by the server: the directory must not keep a closed session.
        if registered { self.service.sessions.remove(self, user: user) }
    }

    /// Close the connection with a protocol disconnect code.
    public func disconnect(_ reason: CloseReason) {
        self.state.withLock { self.close(reason, &$0) }
    }

    /// Stop taking commands and close the connection (the queue is dropped; `closed()` cleans up).
    func close(_ reason: CloseReason, _ state: inout State) {
        state.phase = .closed
        state.queue.removeAll()
        self.connection.close(reason)
    }

    /// The user id (empty before `connect` and for anonymous clients).
    public var user: String { self.state.withLock { $0.user } }

    /// Channels the session is subscribed to.
    public var channels: [String] { self.state.withLock { Array($0.subscriptions.keys) } }

    // MARK: Queue

    /// Call `done` once every command received so far has been handled and its reply queued (at once
    /// if none is waiting), or when the session closes. The client's close uses it: replies to the
    /// commands before it go out before the close frame.
    public func whenIdle(_ done: @escaping @Sendable () -> Void) {
        let now = self.state.withLock { state -> Bool in
            guard state.phase != .closed, state.busy || !state.queue.isEmpty else { return true }
            state.idleWaiters.append(done)
            return false
        }
        if now { done() }
    }

    /// The idle waiters to call, if the queue is done (or the session closed).
    private static func takeIdleWaiters(_ state: inout State) -> [@Sendable () -> Void] {
        guard !state.idleWaiters.isEmpty, state.phase == .closed || (!state.busy && state.queue.isEmpty) else { return [] }
        defer { state.idleWaiters = [] }
        return state.idleWaiters
    }

    /// Run queued commands until one has to wait for a token check.
    func pump() {
        let (work, waiters) = self.state.withLock { state -> ((@Sendable () async -> Void)?, [@Sendable () -> Void]) in
            while !state.busy, state.phase != .closed, !state.queue.isEmpty {
                let next = state.queue.removeFirst()
                guard case .command(let command) = next else {
                    if case .error(let id, let error) = next { self.replyError(id, error) }
                    continue
                }
                switch self.handle(command, &state) {
                case .done:
                    continue
                case .suspend(let work):
                    state.busy = true
                    return (work, [])
                }
            }
            return (nil, Self.takeIdleWaiters(&state))
        }
        for waiter in waiters { waiter() }
        if let work { Task { await work() } }
    }

    /// Finish a suspended command under the lock, then carry on with the queue.
    func resume(_ body: (inout State) -> Void) {
        self.state.withLock { state in
            state.busy = false
            guard state.phase != .closed else { return }
            body(&state)
        }
        self.pump()
    }

    /// Go on with a suspended command under the lock; it may suspend again (the queue keeps waiting).
    func proceed(_ body: (inout State) -> Step) async {
        let next = self.state.withLock { state -> Step in
            guard state.phase != .closed else {
                state.busy = false
                return .done
            }
            let step = body(&state)
            if case .done = step { state.busy = false }
            return step
        }
        switch next {
        case .done: self.pump()
        case .suspend(let work): await work()
        }
    }

    /// Handle one command, timing it (until its reply is queued, for one that suspends) when
    /// metrics are on.
    func handle(_ command: ClientCommand, _ state: inout State) -> Step {
        guard let metrics = self.service.metrics else { return self.perform(command, &state) }
        let start = ContinuousClock.now
        let method = command.method.rawValue
        switch self.perform(command, &state) {
        case .done:
            metrics.recordCommand(method, since: start)
            return .done
        case .suspend(let work):
            return .suspend {
                await work()
                metrics.recordCommand(method, since: start)
            }
        }
    }

    func perform(_ command: ClientCommand, _ state: inout State) -> Step {
        do throws(Failure) {
            if command.method == .connect {
                guard state.phase == .awaitingConnect else { throw Failure.disconnect(Disconnect.badRequest("already connected")) }
            } else if state.phase != .connected {
                throw Failure.disconnect(Disconnect.badRequest("'\(command.method.rawValue)' before 'connect'"))
            }
            let request: ClientRequest
            do throws(ProtocolError) { request = try command.request.get() } catch { throw Failure.reply(error) }
            let id = command.id
            switch request {
            case .connect(let connect): return try self.connect(id, connect, &state)
            case .subscribe(let subscribe): return try self.subscribe(id, subscribe, &state)
            case .unsubscribe(let channel): self.unsubscribe(id, channel, &state)
            case .publish(let channel, let data): return try self.publish(id, channel: channel, data: data, &state)
            case .presence(let channel): return try self.presence(id, channel, &state)
            case .presenceStats(let channel): return try self.presenceStats(id, channel, &state)
            case .history(let history): return try self.history(id, history, &state)
            case .ping: self.reply(id, .ping)
            case .refresh(let token): return self.refresh(id, token: token)
            case .subRefresh(let channel, let token): return try self.subRefresh(id, channel: channel, token: token, &state)
            case .rpc(let method, let data): return try self.rpc(id, method: method, data: data, &state)
            case .send:
                // `send` has no reply; with an id, say why nothing happened.
                if id > 0 { throw Failure.reply(.notAvailable("send is not configured on this server")) }
            }
        } catch {
            switch error {
            case .reply(let error): self.replyError(command.id, error)
            case .disconnect(let reason): self.close(reason, &state)
            }
        }
        return .done
    }

    enum Failure: Error {
        case reply(ProtocolError)
        case disconnect(CloseReason)
    }

    // MARK: Helpers

    func info(_ state: inout State, channelInfo: String?) -> ClientInfo {
        ClientInfo(user: state.user, client: self.id, connectionInfo: state.connectionInfo, channelInfo: channelInfo)
    }

    func subscriber(channel info: String?, _ state: inout State) -> Subscriber {
        Subscriber(info: self.info(&state, channelInfo: info), outbox: self.connection.outbox, format: .protocolPush(self.format))
    }

    /// The reply to command `id`; on a unidirectional connection, the connect result is a push.
    func replyMessage(_ id: UInt32, _ result: ReplyResult) -> OutboundMessage {
        if self.transport == .unidirectional, case .connect(let connect) = result { return self.format.push(.connect(connect), channel: "") }
        return self.format.reply(id: id, result)
    }

    func reply(_ id: UInt32, _ result: ReplyResult) {
        self.connection.send(self.replyMessage(id, result))
    }

    /// The error reply to command `id` (none for a command without an id); a unidirectional
    /// connection, which has no replies, is closed instead.
    func replyError(_ id: UInt32, _ error: ProtocolError) {
        if self.transport == .unidirectional { return self.connection.close(Disconnect.unidirectional(error)) }
        guard id > 0 else { return }
        self.connection.send(self.format.error(id: id, error))
    }

    /// A random version-4 UUID, as text.
    public static func makeClientID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }
}
