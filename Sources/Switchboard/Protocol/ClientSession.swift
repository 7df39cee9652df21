import Synchronization

/// One client connection speaking the Centrifugo client protocol (JSON): it reads commands, checks
/// them against the channel configuration, acts on the ``Engine``, and replies through the
/// connection's outbox.
///
/// Commands run in the order they arrive. Some complete at once; the ones that check a token or call
/// the engine (which may ask a database) suspend the queue until they are done, so a reply never
/// overtakes an earlier one.
public final class ClientSession: Sendable {
    private struct Subscription: Sendable {
        var info: ClientInfo
        var expiresAt: ContinuousClock.Instant?
        /// Made by the server (token `channels` claim or server API), not by the client.
        var serverSide: Bool
    }

    private enum Phase: Sendable {
        case awaitingConnect, connected, closed
    }

    private struct State: ~Copyable {
        var phase = Phase.awaitingConnect
        /// Listed in the service's ``SessionDirectory`` (from a successful connect until closed).
        var registered = false
        var user = ""
        var connectionInfo: String?
        var expiresAt: ContinuousClock.Instant?
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
    private enum Queued: Sendable {
        case command(ClientCommand)
        case error(UInt32, ProtocolError)
    }

    /// What handling one command leaves to do.
    private enum Step {
        case done
        /// Wait for a token check or the engine, then finish the command; the queue waits.
        case suspend(@Sendable () async -> Void)
    }

    /// The largest `data` an anonymous client may give as its connection info.
    public static let maximumAnonymousInfoBytes = 1024

    /// The client id, reported in the connect result and in presence.
    public let id: String
    private let connection: Connection
    private let service: ChannelService
    private let state = Mutex(State())

    public init(connection: Connection, service: ChannelService) {
        self.id = Self.makeClientID()
        self.connection = connection
        self.service = service
    }

    // MARK: Input

    /// A text message from the client: one command per line.
    public func receive(_ text: String) {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            do {
                guard let command = try ClientCommand.decode(line) else { continue }  // {} is a pong
                self.state.withLock { $0.queue.append(.command(command)) }
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
    private func close(_ reason: CloseReason, _ state: inout State) {
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
    private func pump() {
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
    private func resume(_ body: (inout State) -> Void) {
        self.state.withLock { state in
            state.busy = false
            guard state.phase != .closed else { return }
            body(&state)
        }
        self.pump()
    }

    /// Go on with a suspended command under the lock; it may suspend again (the queue keeps waiting).
    private func proceed(_ body: (inout State) -> Step) async {
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

    private func handle(_ command: ClientCommand, _ state: inout State) -> Step {
        do throws(Failure) {
            if command.method == .connect {
                guard state.phase == .awaitingConnect else { throw Failure.disconnect(Disconnect.badRequest("already connected")) }
                return try self.connect(command, &state)
            }
            guard state.phase == .connected else {
                throw Failure.disconnect(Disconnect.badRequest("'\(command.method.rawValue)' before 'connect'"))
            }
            switch command.method {
            case .connect: return .done
            case .subscribe: return try self.subscribe(command, &state)
            case .unsubscribe: try self.unsubscribe(command, &state)
            case .publish: return try self.publish(command, &state)
            case .presence: return try self.presence(command, &state)
            case .presenceStats: return try self.presenceStats(command, &state)
            case .history: return try self.history(command, &state)
            case .ping: self.reply(command.id, "ping", .object([]))
            case .refresh: return try self.refresh(command)
            case .subRefresh: return try self.subRefresh(command, &state)
            case .rpc: throw Failure.reply(.notAvailable("rpc is not configured on this server"))
            case .send:
                // `send` has no reply; with an id, say why nothing happened.
                if command.id > 0 { throw Failure.reply(.notAvailable("send is not configured on this server")) }
            }
        } catch {
            switch error {
            case .reply(let error): self.replyError(command.id, error)
            case .disconnect(let reason): self.close(reason, &state)
            }
        }
        return .done
    }

    private enum Failure: Error {
        case reply(ProtocolError)
        case disconnect(CloseReason)
    }

    // MARK: Connect and refresh

    private func connect(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
        let token: String?
        do throws(ProtocolError) { token = try command.params.string("token") } catch { throw .reply(error) }
        let requestedSubs = command.params["subs"]?.members ?? []
        guard let token, !token.isEmpty else {
            guard self.service.settings.allowAnonymous else {
                throw .disconnect(Disconnect.invalidToken("a connection token is required (anonymous connections are off)"))
            }
            // An anonymous client may describe itself (`{"name":"alice"}`): its `data` becomes the
            // connection's info, which presence and join/leave show.
            var info: String?
            if let data = command.params["data"] {
                guard data.members != nil else { throw .reply(.badRequest("'data' must be an object")) }
                let text = data.jsonText
                guard text.utf8.count <= Self.maximumAnonymousInfoBytes else {
                    throw .reply(.badRequest("'data' is larger than \(Self.maximumAnonymousInfoBytes) bytes"))
                }
                info = text
            }
            return self.completeConnect(command.id, ConnectCredentials(user: "", info: info), requestedSubs: requestedSubs, &state)
        }
        return .suspend { [self] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifyConnectToken(token)
                await self.proceed { state in self.completeConnect(command.id, credentials, requestedSubs: requestedSubs, &state) }
            } catch {
                self.resume { state in self.connectionTokenRefused(error, command.id, &state) }
            }
        }
    }

    /// An expired connection token gets error 109 (the client fetches a new one); any other bad
    /// token ends the connection with 3500.
    private func connectionTokenRefused(_ error: TokenError, _ id: UInt32, _ state: inout State) {
        switch error {
        case .expired: self.replyError(id, .tokenExpired())
        case .invalid(let why): self.close(Disconnect.invalidToken(why), &state)
        }
    }

    private func completeConnect(_ id: UInt32, _ credentials: ConnectCredentials, requestedSubs: [JSONValue.Member], _ state: inout State) -> Step {
        state.phase = .connected
        state.user = credentials.user
        state.connectionInfo = credentials.info
        state.expiresAt = credentials.expiresIn.map { ContinuousClock.now + $0 }
        state.registered = true
        self.service.sessions.add(self, user: credentials.user)
        self.scheduleExpiry(&state)

        // The token's channels, subscribed on the server's initiative.
        var planned: [(channel: String, options: ChannelOptions, recoverFrom: StreamPosition?)] = []
        for channel in credentials.channels {
            guard case .success(let options) = self.service.options(for: channel), state.subscriptions[channel] == nil else { continue }
            let recoverFrom = requestedSubs.last { $0.key == channel }.flatMap { member -> StreamPosition? in
                guard member.value["recover"]?.boolValue == true else { return nil }
                return try? StreamPosition(json: member.value, field: "subs")
            }
            planned.append((channel, options, recoverFrom))
            state.subscriptions[channel] = Subscription(info: self.info(&state, channelInfo: nil), expiresAt: nil, serverSide: true)
        }
        guard !planned.isEmpty else {
            self.reply(id, "connect", self.connectResult(credentials, subs: []))
            return .done
        }
        // The connect reply must reach the client before publications of these channels: hold them
        // back, then put the reply first.
        self.connection.outbox.hold()
        let subscriber = self.subscriber(channel: nil, &state)
        if let hub = self.service.engine.immediateHub {
            let subs = planned.map { channel, options, recoverFrom in
                let outcome = hub.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom)
                return JSONValue.Member(key: channel, value: ChannelService.subscribeResult(outcome, expiresIn: nil))
            }
            self.connection.outbox.release(first: self.replyMessage(id, "connect", self.connectResult(credentials, subs: subs)))
            return .done
        }
        return .suspend { [self, planned] in
            var subs: [JSONValue.Member] = []
            for (channel, options, recoverFrom) in planned {
                do throws(EngineError) {
                    let outcome = try await self.service.engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom) { _ in nil }
                    if let outcome { subs.append(.init(key: channel, value: ChannelService.subscribeResult(outcome, expiresIn: nil))) }
                } catch {
                    // The client expects the token's channels: let it reconnect and try again.
                    return self.resume { state in self.close(Disconnect.serverError, &state) }
                }
            }
            self.resume { _ in self.connection.outbox.release(first: self.replyMessage(id, "connect", self.connectResult(credentials, subs: subs))) }
        }
    }

    private func connectResult(_ credentials: ConnectCredentials, subs: [JSONValue.Member]) -> JSONValue {
        let expiry = ChannelService.expiry(credentials.expiresIn)
        let ping = self.service.settings.pingInterval.map { max(1, $0.components.seconds) }
        return .object([
            "client": .string(self.id),
            "version": .string(self.service.settings.version),
            "expires": expiry.expires,
            "ttl": expiry.ttl,
            "ping": ping.map { .integer($0) },
            "pong": ping != nil ? .bool(true) : nil,
            "subs": subs.isEmpty ? nil : .object(subs),
        ])
    }

    private func refresh(_ command: ClientCommand) throws(Failure) -> Step {
        let token: String
        do throws(ProtocolError) {
            guard let given = try command.params.string("token"), !given.isEmpty else { throw ProtocolError.badRequest("'token' is required") }
            token = given
        } catch { throw .reply(error) }
        return .suspend { [self] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifyConnectToken(token)
                self.resume { state in
                    guard credentials.user == state.user else {
                        return self.close(Disconnect.invalidToken("the new token is for another user"), &state)
                    }
                    state.expiresAt = credentials.expiresIn.map { ContinuousClock.now + $0 }
                    let expiry = ChannelService.expiry(credentials.expiresIn)
                    self.reply(
                        command.id,
                        "refresh",
                        .object([
                            "client": .string(self.id),
                            "version": .string(self.service.settings.version),
                            "expires": expiry.expires,
                            "ttl": expiry.ttl,
                        ])
                    )
                    self.scheduleExpiry(&state)
                }
            } catch {
                self.resume { state in self.connectionTokenRefused(error, command.id, &state) }
            }
        }
    }

    // MARK: Subscriptions

    private func subscribe(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
        let channel: String
        let options: ChannelOptions
        let token: String?
        var recoverFrom: StreamPosition?
        do throws(ProtocolError) {
            channel = try command.params.requiredString("channel")
            options = try self.service.options(for: channel).get()
            token = try command.params.string("token")
            if try command.params.bool("recover") {
                recoverFrom = try StreamPosition(json: command.params.json, field: "subscribe")
            }
            guard state.subscriptions[channel] == nil else { throw ProtocolError.alreadySubscribed("already subscribed to '\(channel)'") }
            guard state.subscriptions.count < self.service.channels.maxChannelsPerConnection else {
                throw ProtocolError.limitExceeded("at most \(self.service.channels.maxChannelsPerConnection) channels per connection")
            }
        } catch {
            throw .reply(error)
        }
        guard let token, !token.isEmpty else {
            guard options.allowSubscribeForClient, !options.private else {
                throw .reply(.permissionDenied(options.private ? "'\(channel)' needs a subscription token" : "subscribing to '\(channel)' needs a subscription token"))
            }
            return self.completeSubscribe(command.id, channel, options, recoverFrom: recoverFrom, credentials: nil, &state)
        }
        return .suspend { [self, recoverFrom] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifySubscriptionToken(token)
                await self.proceed { state -> Step in
                    guard credentials.channel == channel, credentials.user == state.user else {
                        self.replyError(command.id, .permissionDenied("the subscription token is for another channel or user"))
                        return .done
                    }
                    guard state.subscriptions[channel] == nil else {
                        self.replyError(command.id, .alreadySubscribed("already subscribed to '\(channel)'"))
                        return .done
                    }
                    return self.completeSubscribe(command.id, channel, options, recoverFrom: recoverFrom, credentials: credentials, &state)
                }
            } catch {
                self.resume { _ in self.subscriptionTokenRefused(error, command.id) }
            }
        }
    }

    /// An expired subscription token gets error 109; any other bad one 103. The connection stays.
    private func subscriptionTokenRefused(_ error: TokenError, _ id: UInt32) {
        switch error {
        case .expired: self.replyError(id, .tokenExpired("the subscription token has expired"))
        case .invalid(let why): self.replyError(id, .permissionDenied("invalid subscription token: \(why)"))
        }
    }

    private func completeSubscribe(
        _ id: UInt32,
        _ channel: String,
        _ options: ChannelOptions,
        recoverFrom: StreamPosition?,
        credentials: SubscriptionCredentials?,
        _ state: inout State
    ) -> Step {
        let expiresIn = credentials?.expiresIn
        let subscriber = self.subscriber(channel: credentials?.info, &state)
        // Listed from now on, so that a close meanwhile leaves the channel.
        state.subscriptions[channel] = Subscription(
            info: subscriber.info,
            expiresAt: expiresIn.map { ContinuousClock.now + $0 },
            serverSide: false
        )
        self.scheduleExpiry(&state)
        let reply: @Sendable (Hub.SubscribeOutcome) -> OutboundMessage = { outcome in
            self.replyMessage(id, "subscribe", ChannelService.subscribeResult(outcome, expiresIn: expiresIn))
        }
        if let hub = self.service.engine.immediateHub {
            hub.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom, reply: reply)
            return .done
        }
        return .suspend { [self] in
            do throws(EngineError) {
                _ = try await self.service.engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom, reply: reply)
                self.resume { _ in }
            } catch {
                self.resume { state in
                    state.subscriptions[channel] = nil
                    self.scheduleExpiry(&state)
                    self.replyError(id, error.protocolError)
                }
            }
        }
    }

    private func subRefresh(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
        let channel: String
        let token: String
        do throws(ProtocolError) {
            channel = try command.params.requiredString("channel")
            guard let given = try command.params.string("token"), !given.isEmpty else { throw ProtocolError.badRequest("'token' is required") }
            token = given
            guard state.subscriptions[channel] != nil else { throw ProtocolError.badRequest("not subscribed to '\(channel)'") }
        } catch { throw .reply(error) }
        return .suspend { [self] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifySubscriptionToken(token)
                self.resume { state in
                    guard credentials.channel == channel, credentials.user == state.user, state.subscriptions[channel] != nil else {
                        return self.replyError(command.id, .permissionDenied("the subscription token is for another channel or user"))
                    }
                    state.subscriptions[channel]!.expiresAt = credentials.expiresIn.map { ContinuousClock.now + $0 }
                    let expiry = ChannelService.expiry(credentials.expiresIn)
                    self.reply(command.id, "sub_refresh", .object(["expires": expiry.expires, "ttl": expiry.ttl]))
                    self.scheduleExpiry(&state)
                }
            } catch {
                self.resume { _ in self.subscriptionTokenRefused(error, command.id) }
            }
        }
    }

    private func unsubscribe(_ command: ClientCommand, _ state: inout State) throws(Failure) {
        do throws(ProtocolError) {
            let channel = try command.params.requiredString("channel")
            if state.subscriptions.removeValue(forKey: channel) != nil {
                self.service.engine.unsubscribe(channel, client: self.id)
            }
            self.reply(command.id, "unsubscribe", .object([]))
        } catch { throw .reply(error) }
    }

    /// Subscribe on the server's initiative (server API `subscribe`): the client learns of it by a
    /// `subscribe` push. Does nothing if already subscribed.
    public func serverSubscribe(_ channel: String, options: ChannelOptions, recoverFrom: StreamPosition? = nil) async throws(EngineError) {
        let subscriber = self.state.withLock { state -> Subscriber? in
            guard state.phase == .connected, state.subscriptions[channel] == nil else { return nil }
            let subscriber = self.subscriber(channel: nil, &state)
            state.subscriptions[channel] = Subscription(info: subscriber.info, expiresAt: nil, serverSide: true)
            return subscriber
        }
        guard let subscriber else { return }
        do throws(EngineError) {
            _ = try await self.service.engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom) { outcome in
                Push.subscribe(channel: channel, result: ChannelService.subscribeResult(outcome, expiresIn: nil))
            }
        } catch {
            self.state.withLock { _ = $0.subscriptions.removeValue(forKey: channel) }
            throw error
        }
    }

    /// End a subscription on the server's initiative (server API `unsubscribe`), telling the client
    /// with an `unsubscribe` push.
    public func serverUnsubscribe(_ channel: String) {
        self.state.withLock { state in
            guard state.subscriptions.removeValue(forKey: channel) != nil else { return }
            self.service.engine.unsubscribe(channel, client: self.id)
            self.connection.outbox.reply(Push.unsubscribe(channel: channel, code: 2000, reason: "server unsubscribe"))
        }
    }

    // MARK: Publish, presence, history

    private func publish(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
        let channel: String
        let options: ChannelOptions
        let publication: Publication
        do throws(ProtocolError) {
            channel = try command.params.requiredString("channel")
            options = try self.service.options(for: channel).get()
            guard let data = command.params["data"] else { throw ProtocolError.badRequest("'data' is required") }
            let subscribed = state.subscriptions[channel] != nil
            guard options.allowPublishForClient || (options.allowPublishForSubscriber && subscribed) else {
                throw ProtocolError.permissionDenied("clients may not publish to '\(channel)'")
            }
            let info = state.subscriptions[channel]?.info ?? self.info(&state, channelInfo: nil)
            publication = Publication(data: data.jsonText, info: info)
        } catch { throw .reply(error) }
        return self.engineCall(command.id, "publish") { hub in
            hub.publish(channel, options: options, publication: publication)
            return .object([])
        } later: { engine in
            _ = try await engine.publish(publication, to: channel, options: options, storeInHistory: true)
            return .object([])
        }
    }

    private func presence(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
        let channel: String
        do throws(ProtocolError) {
            channel = try self.readableChannel(command, &state, enabled: \.presence, allowed: \.allowPresenceForSubscriber, what: "presence")
        } catch { throw .reply(error) }
        return self.engineCall(command.id, "presence") { hub in
            ChannelService.presenceResult(hub.presence(channel))
        } later: { engine in
            ChannelService.presenceResult(try await engine.presence(channel))
        }
    }

    private func presenceStats(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
        let channel: String
        do throws(ProtocolError) {
            channel = try self.readableChannel(command, &state, enabled: \.presence, allowed: \.allowPresenceForSubscriber, what: "presence")
        } catch { throw .reply(error) }
        return self.engineCall(command.id, "presence_stats") { hub in
            ChannelService.presenceStatsResult(hub.presenceStats(channel))
        } later: { engine in
            ChannelService.presenceStatsResult(try await engine.presenceStats(channel))
        }
    }

    private func history(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
        let channel: String
        let options: ChannelOptions
        let limit: Int
        let since: StreamPosition?
        let reverse: Bool
        do throws(ProtocolError) {
            channel = try self.readableChannel(command, &state, enabled: \.keepsHistory, allowed: \.allowHistoryForSubscriber, what: "history")
            options = try self.service.options(for: channel).get()
            limit = try command.params.integer("limit") ?? 0
            since = try command.params.position("since")
            reverse = try command.params.bool("reverse")
        } catch { throw .reply(error) }
        return self.engineCall(command.id, "history") { hub throws(ProtocolError) in
            try ChannelService.historyResult(hub.history(channel, options: options, since: since, limit: limit, reverse: reverse)).get()
        } later: { engine in
            try ChannelService.historyResult(try await engine.history(channel, options: options, since: since, limit: limit, reverse: reverse)).get()
        }
    }

    /// A command answered by the engine: the result is the reply; an error (a ``ProtocolError`` or an
    /// ``EngineError``) an error reply. `now` answers at once from the hub when the engine is only
    /// that (``Engine/immediateHub``); otherwise the queue waits for `later`.
    private func engineCall(
        _ id: UInt32,
        _ method: String,
        now: (Hub) throws(ProtocolError) -> JSONValue,
        later: @escaping @Sendable (any Engine) async throws -> JSONValue
    ) -> Step {
        if let hub = self.service.engine.immediateHub {
            do throws(ProtocolError) {
                self.reply(id, method, try now(hub))
            } catch {
                self.replyError(id, error)
            }
            return .done
        }
        let engine = self.service.engine
        return .suspend { [self] in
            do {
                let result = try await later(engine)
                self.resume { _ in self.reply(id, method, result) }
            } catch {
                let failure = (error as? ProtocolError) ?? (error as? EngineError)?.protocolError ?? .internalError("\(error)")
                self.resume { _ in self.replyError(id, failure) }
            }
        }
    }

    /// The channel of a presence or history command, once the namespace offers the feature and the
    /// client may use it (subscribers only, where allowed).
    private func readableChannel(
        _ command: ClientCommand,
        _ state: inout State,
        enabled: KeyPath<ChannelOptions, Bool>,
        allowed: KeyPath<ChannelOptions, Bool>,
        what: String
    ) throws(ProtocolError) -> String {
        let channel = try command.params.requiredString("channel")
        let options = try self.service.options(for: channel).get()
        guard options[keyPath: enabled] else { throw .notAvailable("\(what) is not enabled for '\(channel)'") }
        guard options[keyPath: allowed], state.subscriptions[channel] != nil else {
            throw .permissionDenied(options[keyPath: allowed] ? "subscribe to '\(channel)' first" : "clients may not read \(what) of '\(channel)'")
        }
        return channel
    }

    // MARK: Expiry

    /// Arm one timer for the earliest token expiry of the connection and its subscriptions.
    private func scheduleExpiry(_ state: inout State) {
        state.expiryTimer?.cancel()
        state.expiryTimer = nil
        let deadlines = [state.expiresAt].compactMap { $0 } + state.subscriptions.values.compactMap(\.expiresAt)
        guard let earliest = deadlines.min() else { return }
        let delay = self.service.settings.expiredCloseDelay
        state.expiryTimer = Task { [self] in
            try? await Task.sleep(until: earliest + delay, clock: .continuous)
            guard !Task.isCancelled else { return }
            self.checkExpiry()
        }
    }

    private func checkExpiry() {
        let reason: CloseReason? = self.state.withLock { state in
            guard state.phase == .connected else { return nil }
            let limit = ContinuousClock.now - self.service.settings.expiredCloseDelay
            if let expiresAt = state.expiresAt, expiresAt <= limit { return Disconnect.expired }
            if state.subscriptions.values.contains(where: { ($0.expiresAt ?? limit + .seconds(1)) <= limit }) {
                return Disconnect.subscriptionExpired
            }
            self.scheduleExpiry(&state)
            return nil
        }
        if let reason { self.disconnect(reason) }
    }

    // MARK: Helpers

    private func info(_ state: inout State, channelInfo: String?) -> ClientInfo {
        ClientInfo(user: state.user, client: self.id, connectionInfo: state.connectionInfo, channelInfo: channelInfo)
    }

    private func subscriber(channel info: String?, _ state: inout State) -> Subscriber {
        Subscriber(info: self.info(&state, channelInfo: info), outbox: self.connection.outbox)
    }

    private func replyMessage(_ id: UInt32, _ method: String, _ result: JSONValue) -> OutboundMessage {
        .text(JSONValue.object(["id": .integer(id), method: result]).jsonText)
    }

    private func reply(_ id: UInt32, _ method: String, _ result: JSONValue) {
        self.connection.send(self.replyMessage(id, method, result))
    }

    private func replyError(_ id: UInt32, _ error: ProtocolError) {
        guard id > 0 else { return }
        self.connection.send(text: JSONValue.object(["id": .integer(id), "error": error.json]).jsonText)
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
