/// Identifies one connection for as long as the process runs. Never reused.
public struct ConnectionID: Sendable, Hashable, CustomStringConvertible {
    /// The number behind the id.
    public let rawValue: UInt64

    /// An id from its number.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// `c<number>`.
    public var description: String { "c\(self.rawValue)" }
}
