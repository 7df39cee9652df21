/// Connecting, refreshing the connection token, and the timer that closes a connection (or
/// subscription) whose token expired.
extension ClientSession {
    // MARK: Connect and refresh

    func connect(_ id: UInt32, _ request: ConnectRequest, _ state: inout State) throws(Failure) -> Step {
        guard !request.token.isEmpty else {
            // Without a token, the application's `connect` hook decides, if it has one.
            if let hook = self.service.hooks.connect { return self.connectByHook(id, request, hook) }
            guard self.service.settings.allowAnonymous else {
                throw .disconnect(Disconnect.invalidToken("a connection token is required (anonymous connections are off)"))
            }
            // An anonymous client may describe itself (`{"name":"alice"}`): its `data` becomes the
            // connection's info, which presence and join/leave show.
            var info: String?
            if let data = request.data {
                guard data.members != nil else { throw .reply(.badRequest("'data' must be an object")) }
                let text = data.jsonText
                guard text.utf8.count <= Self.maximumAnonymousInfoBytes else {
                    throw .reply(.badRequest("'data' is larger than \(Self.maximumAnonymousInfoBytes) bytes"))
                }
                info = text
            }
            return self.completeConnect(id, ConnectCredentials(user: "", info: info), request: request, &state)
        }
        return .suspend { [self] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifyConnectToken(request.token)
                await self.proceed { state in self.completeConnect(id, credentials, request: request, &state) }
            } catch {
                self.resume { state in self.connectionTokenRefused(error, id, &state) }
            }
        }
    }

    /// An expired connection token gets error 109 (the client fetches a new one); any other bad
    /// token ends the connection with 3500.
    func connectionTokenRefused(_ error: TokenError, _ id: UInt32, _ state: inout State) {
        switch error {
        case .expired: self.replyError(id, .tokenExpired())
        case .invalid(let why): self.close(Disconnect.invalidToken(why), &state)
        }
    }

    /// The channels a connection is subscribed to on the server's initiative: its token's
    /// `channels`, then its user's personal channel when the server subscribes users to it.
    func serverSideChannels(_ credentials: ConnectCredentials) -> [String] {
        var channels = credentials.channels
        if let personal = self.service.settings.personalChannel(of: credentials.user), !channels.contains(personal) {
            channels.append(personal)
        }
        var seen = Set<String>()
        return channels.filter { seen.insert($0).inserted }
    }

    /// - Parameter data: The connect hook's data for the client, in the connect result.
    func completeConnect(_ id: UInt32, _ credentials: ConnectCredentials, request: ConnectRequest, data: JSONValue? = nil, _ state: inout State) -> Step {
        let channels = self.serverSideChannels(credentials)
        // Server-side subscriptions count against the channel limit as the client's own do: a
        // token asking for more is refused whole (as Centrifugo does), never cut short unseen.
        if channels.count > self.service.channels.maxChannelsPerConnection {
            self.close(Disconnect.channelLimit, &state)
            return .done
        }
        state.phase = .connected
        state.user = credentials.user
        state.connectionInfo = credentials.info
        state.expiresAt = credentials.expiresIn.map { ContinuousClock.now + $0 }
        state.registered = true
        self.service.sessions.add(self, user: credentials.user)
        self.scheduleExpiry(&state)
        // A connection the server refreshes (the `refresh` hook) is not told that it expires.
        var announced = credentials
        if state.refreshedByServer { announced.expiresIn = nil }

        // Subscribed on the server's initiative; the client may recover them (`subs`).
        var planned: [(channel: String, options: ChannelOptions, recoverFrom: StreamPosition?)] = []
        for channel in channels {
            guard case .success(let options) = self.service.options(for: channel), state.subscriptions[channel] == nil else { continue }
            let recovery = request.subs[channel]
            planned.append((channel, options, recovery?.recover == true ? recovery!.position : nil))
            state.subscriptions[channel] = Subscription(info: self.info(&state, channelInfo: nil), expiresAt: nil, serverSide: true)
        }
        guard !planned.isEmpty else {
            self.reply(id, .connect(self.connectResult(announced, subs: [], data: data)))
            return .done
        }
        // The connect reply must reach the client before publications of these channels: hold them
        // back, then put the reply first.
        self.connection.outbox.hold()
        if let hub = self.service.engine.immediateHub {
            let subs = planned.map { channel, options, recoverFrom in
                let subscriber = self.serverSubscriber(options, &state)
                let outcome = hub.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom)
                return (channel, self.serverSubscribeResult(outcome, options))
            }
            self.connection.outbox.release(first: self.replyMessage(id, .connect(self.connectResult(announced, subs: subs, data: data))))
            return .done
        }
        let subscribers = planned.map { self.serverSubscriber($0.options, &state) }
        return .suspend { [self, planned, announced] in
            var subs: [(channel: String, result: SubscribeResult)] = []
            for ((channel, options, recoverFrom), subscriber) in zip(planned, subscribers) {
                do throws(EngineError) {
                    let outcome = try await self.service.engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom) { _ in nil }
                    if let outcome { subs.append((channel, self.serverSubscribeResult(outcome, options))) }
                } catch {
                    // The client expects the token's channels: let it reconnect and try again.
                    return self.resume { state in self.close(Disconnect.serverError, &state) }
                }
            }
            self.resume { _ in self.connection.outbox.release(first: self.replyMessage(id, .connect(self.connectResult(announced, subs: subs, data: data)))) }
        }
    }

    func connectResult(_ credentials: ConnectCredentials, subs: [(channel: String, result: SubscribeResult)], data: JSONValue? = nil) -> ConnectResult {
        let ping = self.service.settings.pingInterval.map { Int(max(1, $0.components.seconds)) }
        var result = ConnectResult(
            client: self.id,
            version: self.service.settings.version,
            expiresIn: credentials.expiresIn,
            ping: ping,
            // A unidirectional client only listens: it is not expected to answer pings.
            pong: ping != nil && self.transport == .bidirectional
        )
        result.subs = subs
        result.data = data
        return result
    }

    func refresh(_ id: UInt32, token: String) -> Step {
        .suspend { [self] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifyConnectToken(token)
                self.resume { state in
                    guard credentials.user == state.user else {
                        return self.close(Disconnect.invalidToken("the new token is for another user"), &state)
                    }
                    state.expiresAt = credentials.expiresIn.map { ContinuousClock.now + $0 }
                    // From now on the token's expiry holds: the client refreshes.
                    state.refreshedByServer = false
                    self.reply(id, .refresh(ConnectResult(client: self.id, version: self.service.settings.version, expiresIn: credentials.expiresIn)))
                    self.scheduleExpiry(&state)
                }
            } catch {
                self.resume { state in self.connectionTokenRefused(error, id, &state) }
            }
        }
    }

    // MARK: Expiry

    /// Arm one timer for the earliest deadline of the connection and its subscriptions: a token's
    /// expiry plus ``ProtocolSettings/expiredCloseDelay`` (the client refreshes meanwhile), or the
    /// expiry itself when the server refreshes it with a hook (and no hook is deciding yet).
    func scheduleExpiry(_ state: inout State) {
        state.expiryTimer?.cancel()
        state.expiryTimer = nil
        let delay = self.service.settings.expiredCloseDelay
        func deadline(_ expiresAt: ContinuousClock.Instant?, byServer: Bool, refreshing: Bool) -> ContinuousClock.Instant? {
            guard let expiresAt, !refreshing else { return nil }
            return byServer ? expiresAt : expiresAt + delay
        }
        let deadlines = [deadline(state.expiresAt, byServer: state.refreshedByServer, refreshing: state.refreshing)].compactMap { $0 }
            + state.subscriptions.values.compactMap { deadline($0.expiresAt, byServer: $0.refreshedByServer, refreshing: $0.refreshing) }
        guard let earliest = deadlines.min() else { return }
        state.expiryTimer = Task { [self] in
            try? await Task.sleep(until: earliest, clock: .continuous)
            guard !Task.isCancelled else { return }
            self.checkExpiry()
        }
    }

    /// Close a connection whose token (or a subscription's) expired without a refresh; ask the hooks
    /// to refresh what the server refreshes and is due.
    func checkExpiry() {
        let (reason, refreshes): (CloseReason?, [@Sendable () async -> Void]) = self.state.withLock { state in
            guard state.phase == .connected else { return (nil, []) }
            let now = ContinuousClock.now
            let limit = now - self.service.settings.expiredCloseDelay
            if !state.refreshedByServer, let expiresAt = state.expiresAt, expiresAt <= limit { return (Disconnect.expired, []) }
            if state.subscriptions.values.contains(where: { !$0.refreshedByServer && ($0.expiresAt ?? limit + .seconds(1)) <= limit }) {
                return (Disconnect.subscriptionExpired, [])
            }
            let refreshes = self.dueRefreshes(now, &state)
            self.scheduleExpiry(&state)
            return (nil, refreshes)
        }
        if let reason { return self.disconnect(reason) }
        for refresh in refreshes { Task { await refresh() } }
    }
}
