/// Client protocol settings.
public struct ProtocolSettings: Sendable, Equatable {
    /// Accept `connect` without a token (as an anonymous user, `""`).
    public var allowAnonymous: Bool
    /// How often the server pings protocol connections (`{}`); `nil` for never. Sent to clients in the
    /// connect result so they know when to expect pings.
    public var pingInterval: Duration?
    /// How long after its token's `exp` a connection (or subscription) that did not refresh is closed.
    public var expiredCloseDelay: Duration
    /// The `version` reported in the connect result.
    public var version: String
    /// Most commands one WebSocket message may hold; a message with more closes the connection with
    /// 3501 before any of them runs. Also bounds the commands waiting their turn (four messages'
    /// worth) while earlier ones wait for a token check or the engine: past that, 3013.
    public var maxCommandsPerMessage: Int
    /// Largest `history` reply, in bytes of publications: a bigger one is refused with error 106 (ask
    /// for fewer with `limit`), and a recovery that would send more is answered `recovered: false`.
    public var maxHistoryReplyBytes: Int

    /// Subscribe every connection of a user (not anonymous ones) to the user's personal channel,
    /// `#<user>` in namespace ``userPersonalChannelNamespace`` (Centrifugo's
    /// `subscribe_to_user_personal_channel`), so that the server API reaches the user on every device.
    public var subscribeToUserPersonalChannel = false
    /// The namespace of personal channels (`""`: the default namespace, `#42`; `personal`: `personal:#42`).
    public var userPersonalChannelNamespace = ""

    /// The personal channel of `user`, or `nil` when connections are not subscribed to one (or the
    /// user is anonymous).
    public func personalChannel(of user: String) -> String? {
        guard self.subscribeToUserPersonalChannel, !user.isEmpty else { return nil }
        let name = "\(ChannelConfiguration.userBoundary)\(user)"
        return self.userPersonalChannelNamespace.isEmpty ? name : "\(self.userPersonalChannelNamespace)\(ChannelConfiguration.namespaceSeparator)\(name)"
    }

    /// Default of ``maxCommandsPerMessage``: room for a client that batches a subscribe for each of
    /// `client_channel_limit` (128) channels into one message, twice over.
    public static let defaultMaxCommandsPerMessage = 256
    /// Default of ``maxHistoryReplyBytes``: 1 MiB, the default outbox limit.
    public static let defaultMaxHistoryReplyBytes = 1024 * 1024

    /// Settings; every parameter is the field of the same name.
    public init(
        allowAnonymous: Bool = false,
        pingInterval: Duration? = .seconds(25),
        expiredCloseDelay: Duration = .seconds(5),
        version: String = "switchboard",
        maxCommandsPerMessage: Int = ProtocolSettings.defaultMaxCommandsPerMessage,
        maxHistoryReplyBytes: Int = ProtocolSettings.defaultMaxHistoryReplyBytes
    ) {
        self.allowAnonymous = allowAnonymous
        self.pingInterval = pingInterval
        self.expiredCloseDelay = expiredCloseDelay
        self.version = version
        self.maxCommandsPerMessage = maxCommandsPerMessage
        self.maxHistoryReplyBytes = maxHistoryReplyBytes
    }
}

/// Everything the client protocol and the server API share on one node: the engine (and its hub),
/// the channel configuration, token checking, the directory of sessions and the protocol settings.
public struct ChannelService: Sendable {
    /// Where channels live; the memory engine unless the node shares a database with others.
    public let engine: any Engine
    /// Namespaces and limits of channels.
    public let channels: ChannelConfiguration
    /// Checks connection and subscription tokens.
    public let verifier: any TokenVerifier
    /// This node's protocol sessions, by client id and user (what the server API's `disconnect`, `subscribe`… act on).
    public let sessions: SessionDirectory
    /// The client protocol's settings.
    public let settings: ProtocolSettings
    /// The application's say in what clients do (none by default).
    public let hooks: Hooks
    /// Where command durations, engine publishes and disconnects are recorded; `nil` (the default)
    /// records nothing.
    public let metrics: SwitchboardMetrics?

    /// This node's hub (local subscribers).
    public var hub: Hub { self.engine.hub }

    /// A service; `SwitchboardServer` makes one from its configuration (``SwitchboardServer/service``).
    public init(
        engine: any Engine = MemoryEngine(),
        channels: ChannelConfiguration = ChannelConfiguration(),
        verifier: any TokenVerifier,
        sessions: SessionDirectory = SessionDirectory(),
        settings: ProtocolSettings = ProtocolSettings(),
        hooks: Hooks = Hooks(),
        metrics: SwitchboardMetrics? = nil
    ) {
        self.engine = engine
        self.channels = channels
        self.verifier = verifier
        self.sessions = sessions
        self.settings = settings
        self.hooks = hooks
        self.metrics = metrics
    }

    /// The options of a channel, or the protocol error for a channel that cannot be used.
    public func options(for channel: String) -> Result<ChannelOptions, ProtocolError> {
        self.channels.options(for: channel).mapError { error in
            switch error {
            case .empty: .badRequest("channel name is empty")
            case .tooLong(let limit): .badRequest("channel name longer than \(limit) bytes")
            case .controlCharacter(let code): .badRequest("channel name holds control character U+\(Self.hex4(code))")
            case .unknownNamespace(let namespace): .unknownChannel("namespace '\(namespace)' is not configured")
            }
        }
    }

    private static func hex4(_ code: UInt32) -> String {
        let hex = String(code, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// The `subscribe` result (or `subscribe` push, or connect `subs` entry) for an outcome.
    static func subscribeResult(_ outcome: Hub.SubscribeOutcome, expiresIn: Duration?) -> SubscribeResult {
        SubscribeResult(
            expiresIn: expiresIn,
            recoverable: outcome.position != nil,
            positioned: outcome.position != nil,
            position: outcome.position,
            publications: outcome.publications,
            wasRecovering: outcome.wasRecovering,
            recovered: outcome.recovered
        )
    }

    /// The `history` result (client protocol and server API), or error 112 for a `since` that is not
    /// a position of the stream.
    public static func historyResult(
        _ answer: Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError>
    ) -> Result<HistoryResult, ProtocolError> {
        switch answer {
        case .success(let (publications, position)):
            .success(HistoryResult(publications: publications, position: position))
        case .failure:
            .failure(.unrecoverablePosition("'since' is not a position in this channel's stream"))
        }
    }

    /// ``historyResult(_:)`` for a client: refused with error 106 when the publications would take
    /// more than ``ProtocolSettings/maxHistoryReplyBytes`` (the client asks for fewer with `limit`,
    /// and pages on with `since`).
    public func clientHistoryResult(
        _ answer: Result<(publications: [Publication], position: StreamPosition), HistoryStream.QueryError>
    ) -> Result<HistoryResult, ProtocolError> {
        let limit = self.settings.maxHistoryReplyBytes
        if case .success(let (publications, _)) = answer, Self.replyBytes(of: publications) > limit {
            return .failure(.limitExceeded("history reply larger than \(limit) bytes; ask for fewer publications ('limit')"))
        }
        return Self.historyResult(answer)
    }

    /// A subscribe outcome as a client gets it: a recovery whose publications would take more than
    /// ``ProtocolSettings/maxHistoryReplyBytes`` is answered `recovered: false` with none of them
    /// (the client knows it missed something, as when history no longer holds it all).
    public func boundedForClient(_ outcome: Hub.SubscribeOutcome) -> Hub.SubscribeOutcome {
        guard outcome.recovered, Self.replyBytes(of: outcome.publications) > self.settings.maxHistoryReplyBytes else { return outcome }
        var bounded = outcome
        bounded.publications = []
        bounded.recovered = false
        return bounded
    }

    /// About how many bytes `publications` take in a reply (their data, info and tags, and the
    /// JSON around them), without writing the reply.
    public static func replyBytes(of publications: [Publication]) -> Int {
        publications.reduce(0) { total, publication in
            let info = publication.info.map { info in
                info.user.utf8.count + info.client.utf8.count + (info.connectionInfo?.utf8.count ?? 0) + (info.channelInfo?.utf8.count ?? 0) + 64
            } ?? 0
            let tags = publication.tags.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 }
            return total + publication.data.utf8.count + info + tags + 40
        }
    }
}
