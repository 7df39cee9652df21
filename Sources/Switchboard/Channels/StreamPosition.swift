/// A place in a channel's publication stream: the offset of a publication in the stream with this epoch.
///
/// Offsets start at 1 and grow by one per publication; a stream that starts again (for example after
/// its history expired entirely) gets a new epoch, so an old position is never mistaken for a new one.
public struct StreamPosition: Sendable, Equatable, CustomStringConvertible {
    public var offset: UInt64
    public var epoch: String

    public init(offset: UInt64, epoch: String) {
        self.offset = offset
        self.epoch = epoch
    }

    public var description: String { "\(self.offset)@\(self.epoch)" }
}
