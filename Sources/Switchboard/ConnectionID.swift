/// Identifies one connection for as long as the process runs. Never reused.
public struct ConnectionID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public var description: String { "c\(self.rawValue)" }
}
