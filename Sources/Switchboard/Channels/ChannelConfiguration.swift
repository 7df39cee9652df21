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

    /// Why a channel name is not usable.
    public enum NameError: Error, Sendable, Equatable {
        case empty
        case tooLong(limit: Int)
        case unknownNamespace(String)
    }

    /// The namespace part of a channel name (`""` for the default namespace).
    public static func namespace(of channel: String) -> String {
        guard let separator = channel.firstIndex(of: Self.namespaceSeparator) else { return "" }
        return String(channel[..<separator])
    }

    /// The options of `channel`, or why it cannot be used.
    public func options(for channel: String) -> Result<ChannelOptions, NameError> {
        if channel.isEmpty { return .failure(.empty) }
        if channel.utf8.count > self.maxChannelLength { return .failure(.tooLong(limit: self.maxChannelLength)) }
        let namespace = Self.namespace(of: channel)
        if namespace.isEmpty { return .success(self.defaultOptions) }
        guard let options = self.namespaces[namespace] else { return .failure(.unknownNamespace(namespace)) }
        return .success(options)
    }
}
