public import NIOCore

/// A command as Redis reads it: an array of bulk strings (`*3\r\n$3\r\nSET\r\n…`).
public struct RESPCommand: Sendable, Equatable {
    /// The command name and its arguments.
    public var arguments: [ByteBuffer]

    public init(_ arguments: [ByteBuffer]) {
        self.arguments = arguments
    }

    /// A command of text arguments: `RESPCommand("SET", key, value)`.
    public init(_ name: String, _ arguments: String...) {
        self.arguments = ([name] + arguments).map { ByteBuffer(string: $0) }
    }

    /// The command's name, for errors and logs (never its arguments, which may be secrets).
    public var name: String { self.arguments.first.map { String(buffer: $0) } ?? "" }

    /// Append the command's wire form to `buffer`.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("*")
        buffer.writeString(String(self.arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in self.arguments {
            buffer.writeStaticString("$")
            buffer.writeString(String(argument.readableBytes))
            buffer.writeStaticString("\r\n")
            buffer.writeImmutableBuffer(argument)
            buffer.writeStaticString("\r\n")
        }
    }
}
