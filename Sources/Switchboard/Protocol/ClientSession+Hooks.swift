/// The application's hooks (``Hooks``) at work: a connect without a token, a subscribe without a
/// token to a channel the `subscribe` hook covers, a publish into a channel the `publish` hook
/// covers, and `rpc` wait for the hook's decision (the command queue waits too, so replies keep
/// their order); the server refreshes the connections and subscriptions the hooks granted with an
/// expiry when a `refresh` (`subRefresh`) hook is set.
///
/// A hook that fails (throws something other than a ``ProtocolError``, or does not answer within its
/// timeout) gets the client error 100 (temporary); a refresh that fails is tried again later
/// (``Hooks/refreshRetryDelay``), and the connection stays.
extension ClientSession {
    // MARK: Connect

    /// A connect without a token, decided by the `connect` hook.
    func connectByHook(_ id: UInt32, _ request: ConnectRequest, _ hook: Hook<ConnectEvent, ConnectDecision>) -> Step {
        let hooks = self.service.hooks
        let event = ConnectEvent(
            client: self.id,
            transport: self.transportName,
            format: self.format,
            request: self.request,
            data: request.data,
            name: request.name,
            version: request.version
        )
        return .suspend { [self] in
            switch await hook.decide(event, name: "connect", logger: hooks.logger) {
            case .success(.accept(let grant)):
                let credentials = ConnectCredentials(user: grant.user, expiresIn: grant.expiresIn, info: grant.info?.jsonText, channels: grant.channels)
                await self.proceed { state in
                    // With a `refresh` hook the server extends the connection; without one the
                    // client refreshes it with a token, as a token's `exp`.
                    state.refreshedByServer = grant.expiresIn != nil && hooks.refresh != nil
                    return self.completeConnect(id, credentials, request: request, data: grant.data, &state)
                }
            case .success(.reject(let error)), .failure(let error):
                self.resume { _ in self.replyError(id, error) }
            case .success(.disconnect(let reason)):
                self.resume { state in self.close(reason, &state) }
            }
        }
    }

    // MARK: Subscribe

    /// A subscribe without a token to a channel the `subscribe` hook covers: the hook decides
    /// instead of the namespace's rules (the channel limit still holds).
    func subscribeByHook(
        _ id: UInt32,
        _ request: SubscribeRequest,
        _ options: ChannelOptions,
        _ hook: Hook<SubscribeEvent, SubscribeDecision>,
        _ state: inout State
    ) -> Step {
        let hooks = self.service.hooks
        let channel = request.channel
        let event = SubscribeEvent(
            client: self.id,
            user: state.user,
            channel: channel,
            data: request.data,
            connectionInfo: Self.jsonValue(state.connectionInfo),
            request: self.request
        )
        return .suspend { [self] in
            switch await hook.decide(event, name: "subscribe", logger: hooks.logger) {
            case .success(.allow(let grant)):
                await self.proceed { state -> Step in
                    // The server API may have subscribed the connection meanwhile.
                    guard state.subscriptions[channel] == nil else {
                        self.replyError(id, .alreadySubscribed("already subscribed to '\(channel)'"))
                        return .done
                    }
                    let limit = self.service.channels.maxChannelsPerConnection
                    guard state.subscriptions.count < limit else {
                        self.replyError(id, .limitExceeded("at most \(limit) channels per connection"))
                        return .done
                    }
                    let credentials = SubscriptionCredentials(user: state.user, channel: channel, expiresIn: grant.expiresIn, info: grant.info?.jsonText)
                    let refreshedByServer = grant.expiresIn != nil && hooks.subRefresh != nil
                    return self.completeSubscribe(id, request, options, credentials: credentials, grant: (grant.data, refreshedByServer), &state)
                }
            case .success(.reject(let error)), .failure(let error):
                self.resume { _ in self.replyError(id, error) }
            case .success(.disconnect(let reason)):
                self.resume { state in self.close(reason, &state) }
            }
        }
    }

    // MARK: Publish

    /// A publish into a channel the `publish` hook covers: the hook decides instead of the
    /// namespace's rules, and may replace the data or keep it out of history.
    func publishByHook(
        _ id: UInt32,
        channel: String,
        data: String,
        info: ClientInfo,
        _ options: ChannelOptions,
        _ hook: Hook<PublishEvent, PublishDecision>
    ) -> Step {
        let hooks = self.service.hooks
        let event = PublishEvent(
            client: self.id,
            user: info.user,
            channel: channel,
            data: (try? JSONValue.parse(data)) ?? .raw(data),
            connectionInfo: Self.jsonValue(info.connectionInfo),
            request: self.request
        )
        return .suspend { [self] in
            switch await hook.decide(event, name: "publish", logger: hooks.logger) {
            case .success(.allow(let replacement, let skipHistory)):
                let publication = Publication(data: replacement?.jsonText ?? data, info: info)
                do throws(EngineError) {
                    _ = try await self.service.publish(publication, to: channel, options: options, storeInHistory: !skipHistory)
                    self.resume { _ in self.reply(id, .publish) }
                } catch {
                    self.resume { _ in self.replyError(id, error.protocolError) }
                }
            case .success(.reject(let error)), .failure(let error):
                self.resume { _ in self.replyError(id, error) }
            case .success(.disconnect(let reason)):
                self.resume { state in self.close(reason, &state) }
            }
        }
    }

    // MARK: RPC

    /// `rpc`: error 108 without an `rpc` hook, 104 for a method it does not cover; otherwise the
    /// hook's answer.
    func rpc(_ id: UInt32, method: String, data: JSONValue?, _ state: inout State) throws(Failure) -> Step {
        guard let hook = self.service.hooks.rpc else { throw .reply(.notAvailable("rpc is not configured on this server")) }
        guard hook.covers(method) else { throw .reply(.methodNotFound("no rpc method '\(method)'")) }
        let logger = self.service.hooks.logger
        let event = RPCEvent(client: self.id, user: state.user, method: method, data: data, connectionInfo: Self.jsonValue(state.connectionInfo), request: self.request)
        return .suspend { [self] in
            switch await hook.decide(event, name: "rpc", logger: logger) {
            case .success(.reply(let data)):
                self.resume { _ in self.reply(id, .rpc(data)) }
            case .success(.reject(let error)), .failure(let error):
                self.resume { _ in self.replyError(id, error) }
            case .success(.disconnect(let reason)):
                self.resume { state in self.close(reason, &state) }
            }
        }
    }

    // MARK: Refresh by the server

    /// The refreshes due now (the connection's, subscriptions'), marked as under way; run each
    /// outside the lock. Called by the expiry timer.
    func dueRefreshes(_ now: ContinuousClock.Instant, _ state: inout State) -> [@Sendable () async -> Void] {
        var work: [@Sendable () async -> Void] = []
        if state.refreshedByServer, !state.refreshing, let expiresAt = state.expiresAt, expiresAt <= now, let hook = self.service.hooks.refresh {
            state.refreshing = true
            let event = RefreshEvent(client: self.id, user: state.user, info: Self.jsonValue(state.connectionInfo), request: self.request)
            work.append { [self] in await self.refreshConnection(event, hook) }
        }
        for (channel, subscription) in state.subscriptions where subscription.refreshedByServer && !subscription.refreshing {
            guard let expiresAt = subscription.expiresAt, expiresAt <= now, let hook = self.service.hooks.subRefresh else { continue }
            state.subscriptions[channel]?.refreshing = true
            let event = SubRefreshEvent(client: self.id, user: state.user, channel: channel, info: Self.jsonValue(subscription.info.channelInfo), request: self.request)
            work.append { [self] in await self.refreshSubscription(event, hook) }
        }
        return work
    }

    /// Ask the `refresh` hook about the connection: extended (its info replaced, if the hook gives
    /// one), ended with 3005, or, if the hook fails, asked again after ``Hooks/refreshRetryDelay``.
    func refreshConnection(_ event: RefreshEvent, _ hook: Hook<RefreshEvent, RefreshDecision>) async {
        let hooks = self.service.hooks
        let outcome = await hook.decide(event, name: "refresh", logger: hooks.logger)
        let reason: CloseReason? = self.state.withLock { state in
            guard state.phase == .connected else { return nil }
            state.refreshing = false
            // A `refresh` with a token meanwhile: the token's expiry holds.
            if state.refreshedByServer {
                switch outcome {
                case .success(.extend(let expiresIn, let info)):
                    state.expiresAt = expiresIn.map { ContinuousClock.now + $0 }
                    if let info {
                        // What the connection publishes from now on carries the new info (presence
                        // keeps what its subscriptions showed when they were made).
                        let text = info.jsonText
                        state.connectionInfo = text
                        for channel in state.subscriptions.keys { state.subscriptions[channel]?.info.connectionInfo = text }
                    }
                case .success(.expire):
                    return Disconnect.expired
                case .failure(let error):
                    Self.logRetry(hooks, "refresh", error, client: self.id)
                    state.expiresAt = ContinuousClock.now + hooks.refreshRetryDelay
                }
            }
            self.scheduleExpiry(&state)
            return nil
        }
        if let reason { self.disconnect(reason) }
    }

    /// Ask the `subRefresh` hook about a subscription: extended (its channel info replaced, if the
    /// hook gives one), ended by closing the connection with 3006, or, if the hook fails, asked again
    /// after ``Hooks/refreshRetryDelay``.
    func refreshSubscription(_ event: SubRefreshEvent, _ hook: Hook<SubRefreshEvent, RefreshDecision>) async {
        let hooks = self.service.hooks
        let channel = event.channel
        let outcome = await hook.decide(event, name: "sub_refresh", logger: hooks.logger)
        let reason: CloseReason? = self.state.withLock { state in
            guard state.phase == .connected, state.subscriptions[channel] != nil else { return nil }
            state.subscriptions[channel]!.refreshing = false
            if state.subscriptions[channel]!.refreshedByServer {
                switch outcome {
                case .success(.extend(let expiresIn, let info)):
                    state.subscriptions[channel]!.expiresAt = expiresIn.map { ContinuousClock.now + $0 }
                    if let info { state.subscriptions[channel]!.info.channelInfo = info.jsonText }
                case .success(.expire):
                    return Disconnect.subscriptionExpired
                case .failure(let error):
                    Self.logRetry(hooks, "sub_refresh", error, client: self.id)
                    state.subscriptions[channel]!.expiresAt = ContinuousClock.now + hooks.refreshRetryDelay
                }
            }
            self.scheduleExpiry(&state)
            return nil
        }
        if let reason { self.disconnect(reason) }
    }

    private static func logRetry(_ hooks: Hooks, _ name: String, _ error: ProtocolError, client: String) {
        hooks.logger.notice(
            "The \(name) hook did not decide; asking again later",
            metadata: ["client": "\(client)", "error": "\(error.message)", "retry": "\(hooks.refreshRetryDelay)"]
        )
    }

    /// Compact JSON text (connection or channel info) as a value for a hook.
    static func jsonValue(_ text: String?) -> JSONValue? {
        text.flatMap { try? JSONValue.parse($0) }
    }
}
