/// The keys a configuration file may hold, and the "did you mean" suggestion for an unknown one.
/// A test applies every listed key to check each is really taken, so the lists cannot drift from
/// the `switch`es of ``ConfigurationFile`` and ``ProxyConfiguration``.
extension ConfigurationFile {
    /// Channel options, at the top level (channels without a namespace) and in each namespace.
    static let channelOptionKeys = [
        "presence", "join_leave", "force_push_join_leave", "force_recovery", "force_positioning",
        "allow_user_limited_channels", "history_size", "history_ttl", "allow_publish_for_client",
        "allow_publish_for_subscriber", "allow_subscribe_for_client", "allow_presence_for_subscriber",
        "allow_history_for_subscriber", "private", "allowed_delta_types", "delta_publish",
    ]

    /// Settings only the top level takes.
    static let serverKeys = [
        "token_hmac_secret_key", "token_rsa_public_key", "token_ecdsa_public_key", "token_audience", "token_issuer",
        "client_max_commands_per_message", "client_history_max_bytes", "api_key", "admin_password", "admin_secret", "allow_anonymous",
        "channel_max_length", "client_channel_limit", "client_expired_close_delay", "chat_channel",
        "subscribe_to_user_personal_channel", "user_personal_channel_namespace", "path_prefix",
        "tutorial_endpoints", "namespaces", "prometheus", "log_format", "log_level",
        "engine", "postgres_url", "redis_address", "redis_prefix", "node_ttl",
        "websocket_compression", "websocket_compression_min_size", "websocket_compression_level",
    ]

    /// Every key of the top level.
    public static var topLevelKeys: [String] {
        Self.serverKeys + Self.channelOptionKeys + ProxyConfiguration.topLevelKeys
    }

    /// Every key of an entry of `namespaces`.
    public static var namespaceKeys: [String] {
        ["name"] + Self.channelOptionKeys + ProxyConfiguration.channelKeys
    }

    /// `"; did you mean 'x'?"` for the known key nearest to `key`, or `""` if none is near enough
    /// (at most a third of its letters, or two, differ).
    static func suggestion(for key: String, among known: [String]) -> String {
        let typed = Array(key.lowercased())
        var best: (key: String, distance: Int)?
        for candidate in known {
            let distance = Self.editDistance(typed, Array(candidate))
            if distance < best?.distance ?? Int.max { best = (candidate, distance) }
        }
        guard let best, best.distance > 0 || key != best.key, best.distance <= max(2, best.key.count / 3) else { return "" }
        return "; did you mean '\(best.key)'?"
    }

    /// Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
