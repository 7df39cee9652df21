/// Subscriptions (by the client, with or without a token, and by the server), publishing,
/// presence and history.
extension ClientSession {
    // MARK: Subscriptions

    func subscribe(_ id: UInt32, _ request: SubscribeRequest, _ state: inout State) throws(Failure) -> Step {
        let channel = request.channel
        let options: ChannelOptions
        do throws(ProtocolError) {
            options = try self.service.options(for: channel).get()
            guard state.subscriptions[channel] == nil else { throw ProtocolError.alreadySubscribed("already subscribed to '\(channel)'") }
            guard state.subscriptions.count < self.service.channels.maxChannelsPerConnection else {
                throw ProtocolError.limitExceeded("at most \(self.service.channels.maxChannelsPerConnection) channels per connection")
            }
            guard request.delta.isEmpty || DeltaType(rawValue: request.delta) != nil else {
                throw ProtocolError.badRequest("unknown delta type \(TokenRules.quoted(request.delta)) (known: \(DeltaType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        } catch {
            throw .reply(error)
        }
        guard !request.token.isEmpty else {
            // The application's `subscribe` hook decides for the channels it covers.
            if let hook = self.service.hooks.subscribe, hook.covers(channel) {
                return self.subscribeByHook(id, request, options, hook, &state)
            }
            if options.allowUserLimitedChannels, let users = ChannelConfiguration.limitedUsers(of: channel) {
                guard users.contains(state.user), !state.user.isEmpty else {
                    throw .reply(.permissionDenied("'\(channel)' is for users \(users.joined(separator: ", ")) only"))
                }
                return self.completeSubscribe(id, request, options, credentials: nil, &state)
            }
            guard options.allowSubscribeForClient, !options.private else {
                throw .reply(.permissionDenied(options.private ? "'\(channel)' needs a subscription token" : "subscribing to '\(channel)' needs a subscription token"))
            }
            return self.completeSubscribe(id, request, options, credentials: nil, &state)
        }
        return .suspend { [self] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifySubscriptionToken(request.token)
                await self.proceed { state -> Step in
                    guard credentials.channel == channel, credentials.user == state.user else {
                        self.replyError(id, .permissionDenied("the subscription token is for another channel or user"))
                        return .done
                    }
                    guard state.subscriptions[channel] == nil else {
                        self.replyError(id, .alreadySubscribed("already subscribed to '\(channel)'"))
                        return .done
                    }
                    return self.completeSubscribe(id, request, options, credentials: credentials, &state)
                }
            } catch {
                self.resume { _ in self.subscriptionTokenRefused(error, id) }
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
        _ request: SubscribeRequest,
        _ options: ChannelOptions,
        credentials: SubscriptionCredentials?,
        grant: (data: JSONValue?, refreshedByServer: Bool) = (nil, false),
        _ state: inout State
    ) -> Step {
        let channel = request.channel
        let expiresIn = credentials?.expiresIn
        // A subscription the server refreshes (the `subRefresh` hook) is not told that it expires.
        let announcedExpiry = grant.refreshedByServer ? nil : expiresIn
        let recoverable = options.keepsHistory && (request.recoverable || request.recovery.recover || options.forceRecovery)
        let positioned = options.keepsHistory && (request.positioned || options.forcePositioning)
        let recoverFrom = request.recovery.recover ? request.recovery.position : nil
        // Asked for, allowed by the namespace, and on a subscription whose gaps are noticed.
        let delta = DeltaType(rawValue: request.delta).map(options.allowedDeltaTypes.contains) == true && (recoverable || positioned)
        let subscriber = {
            var subscriber = self.subscriber(channel: credentials?.info, &state)
            subscriber.pushJoinLeave = request.joinLeave
            subscriber.tracksPosition = recoverable || positioned
            subscriber.delta = delta
            // The SDKs' `get_state`: a position that cannot be recovered is error 112 (the app loads
            // its state again), not a subscription that silently misses publications.
            subscriber.refuseUnrecovered = recoverFrom != nil && request.flag & SubscribeRequest.Flag.rejectUnrecovered != 0
            return subscriber
        }()
        // Listed from now on, so that a close meanwhile leaves the channel.
        state.subscriptions[channel] = Subscription(
            info: subscriber.info,
            expiresAt: expiresIn.map { ContinuousClock.now + $0 },
            serverSide: false,
            refreshedByServer: grant.refreshedByServer && expiresIn != nil
        )
        self.scheduleExpiry(&state)
        let reply: @Sendable (Hub.SubscribeOutcome) -> OutboundMessage = { outcome in
            if Hub.refuses(subscriber, outcome) {
                return self.format.error(id: id, .unrecoverablePosition("publications after offset \(recoverFrom?.offset ?? 0) in epoch '\(recoverFrom?.epoch ?? "")' are no longer in history"))
            }
            var result = Self.subscribeResult(self.service.boundedForClient(outcome), expiresIn: announcedExpiry, recoverable: recoverable, positioned: positioned)
            result.data = grant.data
            result.delta = delta
            return self.replyMessage(id, .subscribe(result))
        }
        if let hub = self.service.engine.immediateHub {
            let outcome = hub.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom, reply: reply)
            if Hub.refuses(subscriber, outcome) { self.forget(channel, &state) }
            return .done
        }
        return .suspend { [self] in
            do throws(EngineError) {
                let outcome = try await self.service.engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom, reply: reply)
                self.resume { state in
                    if let outcome, Hub.refuses(subscriber, outcome) { self.forget(channel, &state) }
                }
            } catch {
                self.resume { state in
                    self.forget(channel, &state)
                    self.replyError(id, error.protocolError)
                }
            }
        }
    }

    /// Drop a subscription that did not happen.
    private func forget(_ channel: String, _ state: inout State) {
        state.subscriptions[channel] = nil
        self.scheduleExpiry(&state)
    }

    /// A subscribe result: the stream's position only for a subscription that is recoverable or
    /// positioned (asked by the client, or forced by the namespace).
    static func subscribeResult(_ outcome: Hub.SubscribeOutcome, expiresIn: Duration?, recoverable: Bool, positioned: Bool) -> SubscribeResult {
        SubscribeResult(
            expiresIn: expiresIn,
            recoverable: recoverable && outcome.position != nil,
            positioned: positioned && outcome.position != nil,
            position: recoverable || positioned ? outcome.position : nil,
            publications: outcome.publications,
            wasRecovering: outcome.wasRecovering,
            recovered: outcome.recovered
        )
    }

    /// A subscriber the server subscribes (token `channels`, personal channel, server API).
    func serverSubscriber(_ options: ChannelOptions, _ state: inout State) -> Subscriber {
        var subscriber = self.subscriber(channel: nil, &state)
        subscriber.tracksPosition = options.keepsHistory && (options.forceRecovery || options.forcePositioning)
        return subscriber
    }

    /// The result of a subscription the server made: recoverable and positioned as the namespace
    /// forces (the client cannot ask), or recoverable when the client recovered it (`subs`).
    func serverSubscribeResult(_ outcome: Hub.SubscribeOutcome, _ options: ChannelOptions) -> SubscribeResult {
        Self.subscribeResult(
            self.service.boundedForClient(outcome),
            expiresIn: nil,
            recoverable: options.keepsHistory && (options.forceRecovery || outcome.wasRecovering),
            positioned: options.keepsHistory && options.forcePositioning
        )
    }

    func subRefresh(_ id: UInt32, channel: String, token: String, _ state: inout State) throws(Failure) -> Step {
        guard state.subscriptions[channel] != nil else { throw .reply(.badRequest("not subscribed to '\(channel)'")) }
        return .suspend { [self] in
            do throws(TokenError) {
                let credentials = try await self.service.verifier.verifySubscriptionToken(token)
                self.resume { state in
                    guard credentials.channel == channel, credentials.user == state.user, state.subscriptions[channel] != nil else {
                        return self.replyError(id, .permissionDenied("the subscription token is for another channel or user"))
                    }
                    state.subscriptions[channel]!.expiresAt = credentials.expiresIn.map { ContinuousClock.now + $0 }
                    // From now on the token's expiry holds: the client refreshes.
                    state.subscriptions[channel]!.refreshedByServer = false
                    self.reply(id, .subRefresh(expiresIn: credentials.expiresIn))
                    self.scheduleExpiry(&state)
                }
            } catch {
                self.resume { _ in self.subscriptionTokenRefused(error, id) }
            }
        }
    }

    func unsubscribe(_ id: UInt32, _ channel: String, _ state: inout State) {
        if state.subscriptions.removeValue(forKey: channel) != nil {
            self.service.engine.unsubscribe(channel, client: self.id)
        }
        self.reply(id, .unsubscribe)
    }

    /// Subscribe on the server's initiative (server API `subscribe`): the client learns of it by a
    /// `subscribe` push. Does nothing if already subscribed.
    public func serverSubscribe(_ channel: String, options: ChannelOptions, recoverFrom: StreamPosition? = nil) async throws(EngineError) {
        let subscriber = self.state.withLock { state -> Subscriber? in
            guard state.phase == .connected, state.subscriptions[channel] == nil else { return nil }
            let subscriber = self.serverSubscriber(options, &state)
            state.subscriptions[channel] = Subscription(info: subscriber.info, expiresAt: nil, serverSide: true)
            return subscriber
        }
        guard let subscriber else { return }
        do throws(EngineError) {
            _ = try await self.service.engine.subscribe(channel, options: options, subscriber: subscriber, recoverFrom: recoverFrom) { outcome in
                self.format.push(.subscribe(self.serverSubscribeResult(outcome, options)), channel: channel)
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
            self.connection.outbox.reply(self.format.push(.unsubscribe(code: 2000, reason: "server unsubscribe"), channel: channel))
        }
    }

    // MARK: Publish, presence, history

    func publish(_ id: UInt32, channel: String, data: String, _ state: inout State) throws(Failure) -> Step {
        let options: ChannelOptions
        let publication: Publication
        do throws(ProtocolError) {
            options = try self.service.options(for: channel).get()
            // The application's `publish` hook decides for the channels it covers.
            if let hook = self.service.hooks.publish, hook.covers(channel) {
                let info = state.subscriptions[channel]?.info ?? self.info(&state, channelInfo: nil)
                return self.publishByHook(id, channel: channel, data: data, info: info, options, hook)
            }
            let subscribed = state.subscriptions[channel] != nil
            guard options.allowPublishForClient || (options.allowPublishForSubscriber && subscribed) else {
                throw ProtocolError.permissionDenied("clients may not publish to '\(channel)'")
            }
            let info = state.subscriptions[channel]?.info ?? self.info(&state, channelInfo: nil)
            publication = Publication(data: data, info: info)
        } catch { throw .reply(error) }
        let service = self.service
        return self.engineCall(id) { hub in
            service.publish(in: hub, channel, options: options, publication: publication)
            return .publish
        } later: { _ in
            _ = try await service.publish(publication, to: channel, options: options, storeInHistory: true)
            return .publish
        }
    }

    func presence(_ id: UInt32, _ channel: String, _ state: inout State) throws(Failure) -> Step {
        do throws(ProtocolError) {
            try self.checkReadable(channel, &state, enabled: \.presence, allowed: \.allowPresenceForSubscriber, what: "presence")
        } catch { throw .reply(error) }
        return self.engineCall(id) { hub in
            .presence(hub.presence(channel))
        } later: { engine in
            .presence(try await engine.presence(channel))
        }
    }

    func presenceStats(_ id: UInt32, _ channel: String, _ state: inout State) throws(Failure) -> Step {
        do throws(ProtocolError) {
            try self.checkReadable(channel, &state, enabled: \.presence, allowed: \.allowPresenceForSubscriber, what: "presence")
        } catch { throw .reply(error) }
        return self.engineCall(id) { hub in
            let stats = hub.presenceStats(channel)
            return .presenceStats(clients: stats.clients, users: stats.users)
        } later: { engine in
            let stats = try await engine.presenceStats(channel)
            return .presenceStats(clients: stats.clients, users: stats.users)
        }
    }

    func history(_ id: UInt32, _ request: HistoryRequest, _ state: inout State) throws(Failure) -> Step {
        let options: ChannelOptions
        do throws(ProtocolError) {
            options = try self.checkReadable(request.channel, &state, enabled: \.keepsHistory, allowed: \.allowHistoryForSubscriber, what: "history")
        } catch { throw .reply(error) }
        return self.engineCall(id) { hub throws(ProtocolError) in
            .history(try self.service.clientHistoryResult(hub.history(request.channel, options: options, since: request.since, limit: request.limit, reverse: request.reverse)).get())
        } later: { [service = self.service] engine in
            .history(try service.clientHistoryResult(try await engine.history(request.channel, options: options, since: request.since, limit: request.limit, reverse: request.reverse)).get())
        }
    }

    /// A command answered by the engine: the result is the reply; an error (a ``ProtocolError`` or an
    /// ``EngineError``) an error reply. `now` answers at once from the hub when the engine is only
    /// that (``Engine/immediateHub``); otherwise the queue waits for `later`.
    func engineCall(
        _ id: UInt32,
        now: (Hub) throws(ProtocolError) -> ReplyResult,
        later: @escaping @Sendable (any Engine) async throws -> ReplyResult
    ) -> Step {
        if let hub = self.service.engine.immediateHub {
            do throws(ProtocolError) {
                self.reply(id, try now(hub))
            } catch {
                self.replyError(id, error)
            }
            return .done
        }
        let engine = self.service.engine
        return .suspend { [self] in
            do {
                let result = try await later(engine)
                self.resume { _ in self.reply(id, result) }
            } catch {
                let failure = (error as? ProtocolError) ?? (error as? EngineError)?.protocolError ?? .internalError("\(error)")
                self.resume { _ in self.replyError(id, failure) }
            }
        }
    }

    /// Check that a presence or history command may read its channel: the namespace offers the
    /// feature and the client may use it (subscribers only, where allowed).
    ///
    /// - Returns: The channel's options.
    @discardableResult
    func checkReadable(
        _ channel: String,
        _ state: inout State,
        enabled: KeyPath<ChannelOptions, Bool>,
        allowed: KeyPath<ChannelOptions, Bool>,
        what: String
    ) throws(ProtocolError) -> ChannelOptions {
        let options = try self.service.options(for: channel).get()
        guard options[keyPath: enabled] else { throw .notAvailable("\(what) is not enabled for '\(channel)'") }
        guard options[keyPath: allowed], state.subscriptions[channel] != nil else {
            throw .permissionDenied(options[keyPath: allowed] ? "subscribe to '\(channel)' first" : "clients may not read \(what) of '\(channel)'")
        }
        return options
    }
}
