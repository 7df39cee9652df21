/// Subscriptions (by the client, with or without a token, and by the server API), publishing,
/// presence and history.
extension ClientSession {
    // MARK: Subscriptions

    func subscribe(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
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
    func subscriptionTokenRefused(_ error: TokenError, _ id: UInt32) {
        switch error {
        case .expired: self.replyError(id, .tokenExpired("the subscription token has expired"))
        case .invalid(let why): self.replyError(id, .permissionDenied("invalid subscription token: \(why)"))
        }
    }

    func completeSubscribe(
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
            self.replyMessage(id, "subscribe", ChannelService.subscribeResult(self.service.boundedForClient(outcome), expiresIn: expiresIn))
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

    func subRefresh(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
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

    func unsubscribe(_ command: ClientCommand, _ state: inout State) throws(Failure) {
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
                Push.subscribe(channel: channel, result: ChannelService.subscribeResult(self.service.boundedForClient(outcome), expiresIn: nil))
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

    func publish(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
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

    func presence(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
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

    func presenceStats(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
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

    func history(_ command: ClientCommand, _ state: inout State) throws(Failure) -> Step {
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
            try self.service.clientHistoryResult(hub.history(channel, options: options, since: since, limit: limit, reverse: reverse)).get()
        } later: { [service = self.service] engine in
            try service.clientHistoryResult(try await engine.history(channel, options: options, since: since, limit: limit, reverse: reverse)).get()
        }
    }

    /// A command answered by the engine: the result is the reply; an error (a ``ProtocolError`` or an
    /// ``EngineError``) an error reply. `now` answers at once from the hub when the engine is only
    /// that (``Engine/immediateHub``); otherwise the queue waits for `later`.
    func engineCall(
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
    func readableChannel(
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
}
