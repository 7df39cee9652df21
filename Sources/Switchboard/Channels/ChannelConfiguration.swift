/// Channel namespaces and limits.
///
/// A channel `chat:lobby` belongs to namespace `chat`; a channel without `:` belongs to the default
/// namespace, whose options are ``defaultOptions``. A channel in a namespace that is not configured
/// does not exist.
public struct ChannelConfiguration: Sendable, Equatable {
    /// Options of channels without a namespace.
    public var defaultOptions: ChannelOptions
    /// Options by namespace name.
    public var namespaces: [String: ChannelOptions]
    /// Longest channel name, in bytes.
    public var maxChannelLength: Int
    /// Most channels one connection may be subscribed to at once.
    public var maxChannelsPerConnection: Int

    /// The character between a namespace and the rest of a channel name.
    public static let namespaceSeparator: Character = ":"

    /// A configuration of namespaces (none by default) and limits.
    public init(
        defaultOptions: ChannelOptions = ChannelOptions(),
        namespaces: [String: ChannelOptions] = [:],
        maxChannelLength: Int = 255,
        maxChannelsPerConnection: Int = 128
    ) {
        self.defaultOptions = defaultOptions
        self.namespaces = namespaces
        self.maxChannelLength = maxChannelLength
        self.maxChannelsPerConnection = maxChannelsPerConnection
    }

    /// The character before the user ids of a user-limited channel (`dialog#42,43`) and of a
    /// personal channel (`#42`).
    public static let userBoundary: Character = "#"
    /// The character between the user ids of a user-limited channel.
    public static let userSeparator: Character = ","

    /// The users a user-limited channel is for (`dialog#42,43` → 42 and 43), or `nil` when the name
    /// has no user part.
    public static func limitedUsers(of channel: String) -> [String]? {
        guard let boundary = channel.lastIndex(of: Self.userBoundary) else { return nil }
        let users = channel[channel.index(after: boundary)...].split(separator: Self.userSeparator, omittingEmptySubsequences: true).map(String.init)
        return users.isEmpty ? nil : users
    }

    /// Why a channel name is not usable.
    public enum NameError: Error, Sendable, Equatable {
        case empty
        case tooLong(limit: Int)
        /// The name holds a control character (U+0000–U+001F or U+007F), here its code point.
        case controlCharacter(UInt32)
        case unknownNamespace(String)
    }

    /// The namespace part of a channel name (`""` for the default namespace).
    public static func namespace(of channel: String) -> String {
        guard let separator = channel.firstIndex(of: Self.namespaceSeparator) else { return "" }
        return String(channel[..<separator])
    }

    /// Whether a channel name is one every engine can keep, whatever the configuration: not
    /// empty, at most `maxLength` bytes of UTF-8 (a Swift string is valid Unicode already), and
    /// without control characters (U+0000–U+001F, U+007F): PostgreSQL's text cannot hold NUL, and
    /// tabs and newlines would be ambiguous in logs and notifications.
    public static func validate(name channel: String, maxLength: Int) -> NameError? {
        if channel.isEmpty { return .empty }
        if channel.utf8.count > maxLength { return .tooLong(limit: maxLength) }
        if let control = channel.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return .controlCharacter(control.value)
        }
        return nil
    }

    /// The options of `channel`, or why it cannot be used (``validate(name:maxLength:)``, then its
    /// namespace). Every way into a channel (client protocol, server API, tutorial chat) asks this
    /// first, so the rule holds on every engine.
    public func options(for channel: String) -> Result<ChannelOptions, NameError> {
        if let invalid = Self.validate(name: channel, maxLength: self.maxChannelLength) { return .failure(invalid) }
        let namespace = Self.namespace(of: channel)
        if namespace.isEmpty { return .success(self.defaultOptions) }
        guard let options = self.namespaces[namespace] else { return .failure(.unknownNamespace(namespace)) }
        return .success(options)
    }
}
