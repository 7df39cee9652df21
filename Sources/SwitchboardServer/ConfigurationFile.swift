import Logging
import Switchboard

/// Reads a configuration file (`switchboard.json`, `.yaml` / `.yml` or `.toml`: ``ConfigurationFormat``)
/// into a ``SwitchboardConfiguration``: channel namespaces, token keys, the API key. Flags and
/// environment variables still win over the file. The keys are the same in every format.
///
/// ```json
/// {
///   "token_hmac_secret_key": "a secret of at least 32 bytes.........",
///   "api_key": "…",
///   "allow_anonymous": false,
///   "presence": true,
///   "namespaces": [{ "name": "rooms", "presence": true, "history_size": 100, "history_ttl": "10m" }]
/// }
/// ```
///
/// Top-level channel options apply to channels without a namespace. Unknown settings are errors, so
/// a typo does not silently leave a default in place; the error suggests the nearest known key.
public enum ConfigurationFile {
    /// What is wrong with a file, naming the setting.
    public struct Error: Swift.Error, CustomStringConvertible {
        /// The problem, naming the setting.
        public let description: String

        init(_ description: String) {
            self.description = description
        }
    }

    /// Apply the file's text, in `format`, to `configuration`.
    public static func apply(
        _ text: String,
        format: ConfigurationFormat = .json,
        to configuration: inout SwitchboardConfiguration
    ) throws(Error) {
        try Self.apply(document: format.parse(text), to: &configuration)
    }

    /// Apply a parsed file (any format) to `configuration`.
    public static func apply(document root: JSONValue, to configuration: inout SwitchboardConfiguration) throws(Error) {
        guard let members = root.members else { throw Error("the file must hold an object (a mapping of settings)") }
        var channels = ChannelConfiguration()
        var defaults = ChannelOptions()
        var proxy = configuration.proxy
        for member in members {
            let key = member.key
            let value = member.value
            // The key lists are the one place that says which settings exist: a setting handled
            // below but missing there is refused (and its tests fail), so suggestions never miss it.
            guard Self.topLevelKeys.contains(key) else {
                throw Error("unknown setting '\(key)'" + Self.suggestion(for: key, among: Self.topLevelKeys))
            }
            if try Self.applyChannelOption(key, value, to: &defaults, at: key) { continue }
            if try proxy.applyTopLevel(key, value) { continue }
            switch key {
            case "token_hmac_secret_key": configuration.tokenKeys.hmacSecret = try Self.string(value, at: key)
            case "token_rsa_public_key": configuration.tokenKeys.rsaPublicKeyPEM = try Self.string(value, at: key)
            case "token_ecdsa_public_key": configuration.tokenKeys.ecdsaPublicKeyPEM = try Self.string(value, at: key)
            case "token_audience": configuration.tokenRules.audience = try Self.nonEmptyString(value, at: key)
            case "token_issuer": configuration.tokenRules.issuer = try Self.nonEmptyString(value, at: key)
            case "client_max_commands_per_message": configuration.maxCommandsPerMessage = try Self.integer(value, at: key, minimum: 1)
            case "client_history_max_bytes": configuration.maxHistoryReplyBytes = try Self.integer(value, at: key, minimum: 1024)
            case "api_key": configuration.apiKey = try Self.string(value, at: key)
            case "admin_password": configuration.adminPassword = try Self.nonEmptyString(value, at: key)
            case "admin_secret": configuration.adminSecret = try Self.nonEmptyString(value, at: key)
            case "allow_anonymous": configuration.allowAnonymous = try Self.bool(value, at: key)
            case "channel_max_length": channels.maxChannelLength = try Self.integer(value, at: key, minimum: 1)
            case "client_channel_limit": channels.maxChannelsPerConnection = try Self.integer(value, at: key, minimum: 1)
            case "client_expired_close_delay": configuration.expiredCloseDelay = try Self.duration(value, at: key)
            case "chat_channel": configuration.chatChannel = try Self.string(value, at: key)
            case "subscribe_to_user_personal_channel": configuration.subscribeToUserPersonalChannel = try Self.bool(value, at: key)
            case "user_personal_channel_namespace": configuration.userPersonalChannelNamespace = try Self.string(value, at: key)
            case "path_prefix": configuration.pathPrefix = try Self.string(value, at: key)
            case "tutorial_endpoints": configuration.tutorialEndpoints = try Self.bool(value, at: key)
            case "prometheus": configuration.prometheus = try Self.prometheus(value)
            case "engine": configuration.engineSettings.type = try Self.engineType(value)
            case "postgres_url": configuration.engineSettings.postgresURL = try Self.nonEmptyString(value, at: key)
            case "redis_address": configuration.engineSettings.redisAddresses = try Self.addresses(value, at: key)
            case "redis_prefix": configuration.engineSettings.redisPrefix = try Self.nonEmptyString(value, at: key)
            case "node_ttl": configuration.engineSettings.nodeTTL = try Self.duration(value, at: key)
            case "websocket_compression": configuration.compression.isEnabled = try Self.bool(value, at: key)
            case "websocket_compression_min_size": configuration.compression.minimumSize = try Self.integer(value, at: key, minimum: 0)
            case "websocket_compression_level": configuration.compression.level = try Self.integer(value, at: key, minimum: 1, maximum: 9)
            case "log_format":
                guard let format = value.stringValue.flatMap(LogFormat.init(rawValue:)) else { throw Error("'log_format' must be \"text\" or \"json\"") }
                configuration.logFormat = format
            case "log_level":
                guard let level = value.stringValue.flatMap({ Logger.Level(rawValue: $0.lowercased()) }) else {
                    throw Error("'log_level' must be one of trace, debug, info, notice, warning, error, critical")
                }
                configuration.logLevel = level
            case "namespaces":
                guard let list = value.arrayValue else { throw Error("'namespaces' must be an array of objects") }
                for (index, entry) in list.enumerated() {
                    let path = "namespaces[\(index)]"
                    guard let fields = entry.members else { throw Error("'\(path)' must be an object") }
                    guard let name = entry["name"]?.stringValue, !name.isEmpty else { throw Error("'\(path).name' must be a non-empty string") }
                    guard !name.contains(ChannelConfiguration.namespaceSeparator) else {
                        throw Error("'\(path).name' must not contain '\(ChannelConfiguration.namespaceSeparator)'")
                    }
                    guard channels.namespaces[name] == nil else { throw Error("namespace '\(name)' is defined twice") }
                    var options = ChannelOptions()
                    for field in fields where field.key != "name" {
                        if try proxy.applyChannelSetting(field.key, field.value, namespace: name, at: "\(path).\(field.key)") { continue }
                        guard try Self.applyChannelOption(field.key, field.value, to: &options, at: "\(path).\(field.key)") else {
                            throw Error("unknown namespace setting '\(path).\(field.key)'" + Self.suggestion(for: field.key, among: Self.namespaceKeys))
                        }
                    }
                    channels.namespaces[name] = options
                }
            default:
                throw Error("unknown setting '\(key)'" + Self.suggestion(for: key, among: Self.topLevelKeys))
            }
        }
        channels.defaultOptions = defaults
        configuration.channels = channels
        if let problem = proxy.problem() { throw Error(problem) }
        configuration.proxy = proxy
        if members.contains(where: { $0.key == "chat_channel" }),
            let invalid = ChannelConfiguration.validate(name: configuration.chatChannel, maxLength: channels.maxChannelLength)
        {
            throw Error("'chat_channel' is not a valid channel name (\(invalid))")
        }
        let personal = configuration.userPersonalChannelNamespace
        if !personal.isEmpty, channels.namespaces[personal] == nil {
            throw Error("'user_personal_channel_namespace' names namespace '\(personal)', which 'namespaces' does not define")
        }
    }

    /// Apply one channel option; `false` if `key` is not a channel option.
    private static func applyChannelOption(_ key: String, _ value: JSONValue, to options: inout ChannelOptions, at path: String) throws(Error) -> Bool {
        switch key {
        case "presence": options.presence = try Self.bool(value, at: path)
        case "join_leave": options.joinLeave = try Self.bool(value, at: path)
        case "force_push_join_leave": options.forcePushJoinLeave = try Self.bool(value, at: path)
        case "force_recovery": options.forceRecovery = try Self.bool(value, at: path)
        case "force_positioning": options.forcePositioning = try Self.bool(value, at: path)
        case "allow_user_limited_channels": options.allowUserLimitedChannels = try Self.bool(value, at: path)
        case "history_size": options.historySize = try Self.integer(value, at: path, minimum: 0)
        case "history_ttl": options.historyTTL = try Self.duration(value, at: path)
        case "allow_publish_for_client": options.allowPublishForClient = try Self.bool(value, at: path)
        case "allow_publish_for_subscriber": options.allowPublishForSubscriber = try Self.bool(value, at: path)
        case "allow_subscribe_for_client": options.allowSubscribeForClient = try Self.bool(value, at: path)
        case "allow_presence_for_subscriber": options.allowPresenceForSubscriber = try Self.bool(value, at: path)
        case "allow_history_for_subscriber": options.allowHistoryForSubscriber = try Self.bool(value, at: path)
        case "private": options.private = try Self.bool(value, at: path)
        case "allowed_delta_types": options.allowedDeltaTypes = try Self.deltaTypes(value, at: path)
        case "delta_publish": options.deltaPublish = try Self.bool(value, at: path)
        default: return false
        }
        return true
    }

    /// `"prometheus": true`, or Centrifugo v6's `"prometheus": {"enabled": true}`.
    private static func prometheus(_ value: JSONValue) throws(Error) -> Bool {
        if let enabled = value.boolValue { return enabled }
        guard let members = value.members else { throw Error("'prometheus' must be true or false, or an object {\"enabled\": true|false}") }
        var enabled = false
        for member in members {
            guard member.key == "enabled" else { throw Error("unknown setting 'prometheus.\(member.key)'") }
            enabled = try Self.bool(member.value, at: "prometheus.enabled")
        }
        return enabled
    }

    /// `"engine": "redis"`, or Centrifugo v6's `"engine": {"type": "redis"}`.
    private static func engineType(_ value: JSONValue) throws(Error) -> String {
        let problem = Error("'engine' must be \"memory\", \"postgres\" or \"redis\" (or an object {\"type\": …})")
        var type = value.stringValue
        if type == nil, let members = value.members {
            for member in members {
                guard member.key == "type" else { throw Error("unknown setting 'engine.\(member.key)'; the engine's settings are top-level keys (redis_address, postgres_url)") }
                type = member.value.stringValue
            }
        }
        guard let type, ["memory", "postgres", "postgresql", "redis"].contains(type.lowercased()) else { throw problem }
        return type.lowercased()
    }

    /// One address as a string, or several as an array of strings (Centrifugo's `redis_address`).
    private static func addresses(_ value: JSONValue, at path: String) throws(Error) -> [String] {
        let problem = Error("'\(path)' must be an address (\"redis://host:6379\") or an array of them, one per shard")
        if let one = value.stringValue, !one.isEmpty { return [one] }
        guard let list = value.arrayValue, !list.isEmpty else { throw problem }
        return try list.map { entry throws(Error) in
            guard let text = entry.stringValue, !text.isEmpty else { throw problem }
            return text
        }
    }

    /// `["fossil"]`: the delta compressions subscribers may ask for.
    private static func deltaTypes(_ value: JSONValue, at path: String) throws(Error) -> Set<DeltaType> {
        let known = DeltaType.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard let list = value.arrayValue else { throw Error("'\(path)' must be an array of delta types (\(known))") }
        return try Set(
            list.map { entry throws(Error) in
                guard let name = entry.stringValue, let type = DeltaType(rawValue: name) else {
                    throw Error("'\(path)' holds \(entry.jsonText), which is not a delta type (\(known))")
                }
                return type
            })
    }

    private static func string(_ value: JSONValue, at path: String) throws(Error) -> String {
        guard let string = value.stringValue else { throw Error("'\(path)' must be a string") }
        return string
    }

    private static func nonEmptyString(_ value: JSONValue, at path: String) throws(Error) -> String {
        guard let string = value.stringValue, !string.isEmpty else { throw Error("'\(path)' must be a non-empty string") }
        return string
    }

    private static func bool(_ value: JSONValue, at path: String) throws(Error) -> Bool {
        guard let bool = value.boolValue else { throw Error("'\(path)' must be true or false") }
        return bool
    }

    private static func integer(_ value: JSONValue, at path: String, minimum: Int) throws(Error) -> Int {
        guard let integer = value.integerValue(Int.self), integer >= minimum else { throw Error("'\(path)' must be an integer of at least \(minimum)") }
        return integer
    }

    private static func integer(_ value: JSONValue, at path: String, minimum: Int, maximum: Int) throws(Error) -> Int {
        guard let integer = value.integerValue(Int.self), (minimum...maximum).contains(integer) else {
            throw Error("'\(path)' must be an integer from \(minimum) to \(maximum)")
        }
        return integer
    }

    /// A duration: seconds as a number, or a string with a unit (`"250ms"`, `"30s"`, `"10m"`, `"1h"`),
    /// at most ``maximumDurationSeconds``.
    static func duration(_ value: JSONValue, at path: String) throws(Error) -> Duration {
        let problem = Error(
            "'\(path)' must be a duration of at most 100 years: seconds as a number, or a string such as \"30s\", \"10m\", \"1h\" or \"250ms\""
        )
        var seconds: Double?
        if let number = value.doubleValue {
            seconds = number
        } else if let text = value.stringValue {
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
            for (unit, scale) in units where text.hasSuffix(unit) {
                seconds = Double(text.dropLast(unit.count)).map { $0 * scale }
                break
            }
        }
        // Bounded before it becomes an integer, so no value can trap the conversion.
        guard let seconds, seconds >= 0, seconds <= Self.maximumDurationSeconds else { throw problem }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The longest duration a setting may have (100 years).
    static let maximumDurationSeconds: Double = 100 * 365 * 86_400
}
