/// A place in a channel's publication stream: the offset of a publication in the stream with this epoch.
///
/// Offsets start at 1 and grow by one per publication; a stream that starts again (for example after
/// its history expired entirely) gets a new epoch, so an old position is never mistaken for a new one.
public struct StreamPosition: Sendable, Equatable, CustomStringConvertible {
    /// The publication's offset (from 1).
    public var offset: UInt64
    /// The stream's epoch.
    public var epoch: String

    /// A position in the stream of this epoch.
    public init(offset: UInt64, epoch: String) {
        self.offset = offset
        self.epoch = epoch
    }

    /// `offset@epoch`.
    public var description: String { "\(self.offset)@\(self.epoch)" }
}
