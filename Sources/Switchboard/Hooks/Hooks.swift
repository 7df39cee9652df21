public import Logging

/// The application's say in what clients do: Swift functions the server calls when a client
/// connects, subscribes, publishes or calls a remote procedure (and when a connection or
/// subscription the application granted with an expiry is due to be refreshed).
///
/// Every hook is optional; with none set the server does what its configuration and tokens say.
/// A hook applies where its ``Hook/covers`` says (every channel, or RPC method, by default); elsewhere
/// the configuration decides. A client that presents a token is checked against the token, not the
/// `connect` or `subscribe` hook (as Centrifugo does with its proxy).
///
/// Each hook has a timeout: a hook that does not answer in time, or throws anything but a
/// ``ProtocolError``, gets the client error 100 (internal, temporary: the SDKs retry) and a log
/// line. A hook that throws a ``ProtocolError`` refuses with that error.
///
/// The standalone server builds these hooks from its configuration's HTTP proxy (Centrifugo's proxy
/// protocol); an application that embeds Switchboard sets them in Swift.
public struct Hooks: Sendable {
    /// A client connects without a token. Decides who it is (or refuses it).
    public var connect: Hook<ConnectEvent, ConnectDecision>?
    /// A connection the `connect` hook granted with an expiry reaches it: extend it, or end it
    /// (3005). Without this hook the client refreshes with a token, as with a token's `exp`.
    public var refresh: Hook<RefreshEvent, RefreshDecision>?
    /// A client subscribes without a subscription token to a channel the hook covers. The hook
    /// decides instead of the namespace's `allow_subscribe_for_client` and `private`.
    public var subscribe: Hook<SubscribeEvent, SubscribeDecision>?
    /// A client publishes into a channel the hook covers. The hook decides instead of the
    /// namespace's `allow_publish_for_client` / `allow_publish_for_subscriber`, and may replace the data.
    public var publish: Hook<PublishEvent, PublishDecision>?
    /// A subscription the `subscribe` hook granted with an expiry reaches it: extend it, or end
    /// the connection (3006). Without this hook the client refreshes with a subscription token.
    public var subRefresh: Hook<SubRefreshEvent, RefreshDecision>?
    /// A client calls `rpc` with a method the hook covers. Without it, `rpc` gets error 108.
    public var rpc: Hook<RPCEvent, RPCDecision>?
    /// Where a hook that fails or times out is logged.
    public var logger: Logger
    /// How long after a failed `refresh` or `subRefresh` (it threw, or did not answer in time) the
    /// server asks again; the connection (subscription) stays meanwhile. 5 seconds by default.
    public var refreshRetryDelay: Duration = .seconds(5)

    /// No hook set; failures are logged on `logger`.
    public init(logger: Logger = Logger(label: "switchboard.hooks")) {
        self.logger = logger
    }

    /// No hook is set.
    public var isEmpty: Bool {
        self.connect == nil && self.refresh == nil && self.subscribe == nil && self.publish == nil && self.subRefresh == nil
            && self.rpc == nil
    }
}

/// One hook: an async Swift function with a time limit.
public struct Hook<Event: Sendable, Decision: Sendable>: Sendable {
    /// How long the server waits for ``handler``; after that the client gets error 100 (temporary).
    public var timeout: Duration
    /// Which channels (or, for `rpc`, methods) the hook decides; the others follow the configuration.
    public var covers: @Sendable (String) -> Bool
    /// Decides. Throw a ``ProtocolError`` to refuse with it; any other error counts as a failure
    /// of the hook: the client gets error 100 (`internal server error: <hook> hook failed`,
    /// temporary) and the error itself goes to the log only.
    public var handler: @Sendable (Event) async throws -> Decision

    /// - Parameters:
    ///   - timeout: How long to wait for `handler` (1 second by default).
    ///   - covers: Which channels (or RPC methods) the hook decides; all by default.
    ///   - handler: The decision.
    public init(
        timeout: Duration = .seconds(1),
        covers: @escaping @Sendable (String) -> Bool = { _ in true },
        _ handler: @escaping @Sendable (Event) async throws -> Decision
    ) {
        self.timeout = timeout
        self.covers = covers
        self.handler = handler
    }

    /// Run the hook within its timeout: its decision, or the error the client gets.
    ///
    /// - Parameter name: The hook's name for the log line and the error message (`connect`, `rpc`, …).
    public func decide(_ event: Event, name: String, logger: Logger) async -> Result<Decision, ProtocolError> {
        let timeout = self.timeout
        let handler = self.handler
        let outcome: Result<Decision, any Error>? = await withTaskGroup(of: Result<Decision, any Error>?.self) { group in
            group.addTask {
                do {
                    return .success(try await handler(event))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch outcome {
        case .success(let decision)?:
            return .success(decision)
        case .failure(let error as ProtocolError)?:
            return .failure(error)
        case .failure(let error)?:
            logger.warning("The \(name) hook failed", metadata: ["error": "\(error)"])
            // The error's text stays in the log: it may say more about the application than a client should see.
            return .failure(.internalError("\(name) hook failed", temporary: true))
        case nil:
            logger.warning("The \(name) hook did not answer in time", metadata: ["timeout": "\(timeout)"])
            return .failure(.internalError("\(name) hook did not answer within \(timeout)", temporary: true))
        }
    }
}
