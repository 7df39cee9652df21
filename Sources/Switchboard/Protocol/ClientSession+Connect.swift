/// Connecting, refreshing the connection token, and the timer that closes a connection (or
/// subscription) whose token expired.
extension ClientSession {
    // MARK: Connect and refresh

    func connect(_ id: UInt32, _ request: ConnectRequest, _ state: inout State) throws(Failure) -> Step {
        guard !request.token.isEmpty else {
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

    func completeConnect(_ id: UInt32, _ credentials: ConnectCredentials, request: ConnectRequest, _ state: inout State) -> Step {
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

        // Subscribed on the server's initiative; the client may recover them (`subs`).
        var planned: [(channel: String, options: ChannelOptions, recoverFrom: StreamPosition?)] = []
        for channel in channels {
            guard case .success(let options) = self.service.options(for: channel), state.subscriptions[channel] == nil else { continue }
            let recovery = request.subs[channel]
            planned.append((channel, options, recovery?.recover == true ? recovery!.position : nil))
            state.subscriptions[channel] = Subscription(info: self.info(&state, channelInfo: nil), expiresAt: nil, serverSide: true)
        }
        guard !planned.isEmpty else {
            self.reply(id, .connect(self.connectResult(credentials, subs: [])))
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
            self.connection.outbox.release(first: self.replyMessage(id, .connect(self.connectResult(credentials, subs: subs))))
            return .done
        }
        let subscribers = planned.map { self.serverSubscriber($0.options, &state) }
        return .suspend { [self, planned] in
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
            self.resume { _ in self.connection.outbox.release(first: self.replyMessage(id, .connect(self.connectResult(credentials, subs: subs)))) }
        }
    }

    func connectResult(_ credentials: ConnectCredentials, subs: [(channel: String, result: SubscribeResult)]) -> ConnectResult {
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
                    self.reply(id, .refresh(ConnectResult(client: self.id, version: self.service.settings.version, expiresIn: credentials.expiresIn)))
                    self.scheduleExpiry(&state)
                }
            } catch {
                self.resume { state in self.connectionTokenRefused(error, id, &state) }
            }
        }
    }

    // MARK: Expiry

    /// Arm one timer for the earliest token expiry of the connection and its subscriptions.
    func scheduleExpiry(_ state: inout State) {
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

    func checkExpiry() {
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
}
