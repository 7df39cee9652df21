/// Connecting, refreshing the connection token, and the timer that closes a connection (or
/// subscription) whose token expired.
extension ClientSession {
    // MARK: Connect and refresh

    func connect(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
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
    func connectionTokenRefused(_ error: TokenError, _ id: UInt32, _ state: inout State) {
        switch error {
        case .expired: self.replyError(id, .tokenExpired())
        case .invalid(let why): self.close(Disconnect.invalidToken(why), &state)
        }
    }

    func completeConnect(_ id: UInt32, _ credentials: ConnectCredentials, requestedSubs: [JSONValue.Member], _ state: inout State) -> Step {
        // Server-side subscriptions count against the channel limit as the client's own do: a
        // token asking for more is refused whole (as Centrifugo does), never cut short unseen.
        if Set(credentials.channels).count > self.service.channels.maxChannelsPerConnection {
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
                return JSONValue.Member(key: channel, value: ChannelService.subscribeResult(self.service.boundedForClient(outcome), expiresIn: nil))
            }
            self.connection.outbox.release(first: self.replyMessage(id, "connect", self.connectResult(credentials, subs: subs)))
            return .done
        }
        return .suspend { [self, planned] in
            var subs: [JSONValue.Member] = []
            for (channel, options, recoverFrom) in planned {
                do throws(EngineError) {
                    let outcome = try await self.service.engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom) { _ in nil }
                    if let outcome {
                        let result = ChannelService.subscribeResult(self.service.boundedForClient(outcome), expiresIn: nil)
                        subs.append(.init(key: channel, value: result))
                    }
                } catch {
                    // The client expects the token's channels: let it reconnect and try again.
                    return self.resume { state in self.close(Disconnect.serverError, &state) }
                }
            }
            self.resume { _ in self.connection.outbox.release(first: self.replyMessage(id, "connect", self.connectResult(credentials, subs: subs))) }
        }
    }

    func connectResult(_ credentials: ConnectCredentials, subs: [JSONValue.Member]) -> JSONValue {
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

    func refresh(_ command: ClientCommand) throws(Failure) -> Step {
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
