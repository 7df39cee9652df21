public import NIOCore

/// Reads RESP values from bytes as they arrive: ``parse(_:)`` takes a whole value off the front of
/// a buffer, or leaves the buffer as it was and answers `nil` until the rest has arrived, so split
/// and merged reads both work.
public struct RESPParser: Sendable {
    /// Limits on what a peer may send, so a broken or hostile server cannot exhaust memory.
    public struct Limits: Sendable {
        /// Longest bulk string (Redis's own limit is 512 MB).
        public var maxBulkLength: Int = 512 * 1024 * 1024
        /// Most elements of one aggregate.
        public var maxElements: Int = 16 * 1024 * 1024
        /// Deepest nesting of aggregates.
        public var maxDepth: Int = 64
        /// Longest line of a simple value (simple string, error, number).
        public var maxLineLength: Int = 64 * 1024

        public init() {}
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Take the next whole value off `buffer`; `nil` (and `buffer` untouched) when it is incomplete.
    ///
    /// - Throws: ``RESPProtocolError`` when the bytes are not RESP; the connection cannot go on.
    public func parse(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? {
        var copy = buffer
        guard let value = try self.value(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    private func value(_ buffer: inout ByteBuffer, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        guard depth <= self.limits.maxDepth else { throw RESPProtocolError("aggregates nested deeper than \(self.limits.maxDepth)") }
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        var rest = buffer
        rest.moveReaderIndex(forwardBy: 1)
        guard let line = try self.line(&rest) else { return nil }
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"): value = .simpleString(line)
        case UInt8(ascii: "-"): value = .error(RedisError(line))
        case UInt8(ascii: ":"): value = .integer(try Self.integer(line))
        case UInt8(ascii: "_"):
            guard line.isEmpty else { throw RESPProtocolError("a null with content") }
            value = .null
        case UInt8(ascii: "#"):
            switch line {
            case "t": value = .boolean(true)
            case "f": value = .boolean(false)
            default: throw RESPProtocolError("a boolean that is neither t nor f")
            }
        case UInt8(ascii: ","):
            switch line.lowercased() {
            case "inf": value = .double(.infinity)
            case "-inf": value = .double(-.infinity)
            case "nan": value = .double(.nan)
            default:
                guard let double = Double(line) else { throw RESPProtocolError("a double that is not a number") }
                value = .double(double)
            }
        case UInt8(ascii: "("):
            guard !line.isEmpty, line.drop(while: { $0 == "-" || $0 == "+" }).allSatisfy(\.isASCIIDigit) else {
                throw RESPProtocolError("a big number that is not digits")
            }
            value = .bigNumber(line)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            let length = try Self.integer(line)
            if length == -1, type == UInt8(ascii: "$") {
                value = .null
                break
            }
            guard length >= 0, length <= self.limits.maxBulkLength else { throw RESPProtocolError("a bulk length of \(length)") }
            guard rest.readableBytes >= Int(length) + 2 else { return nil }
            let bytes = rest.readSlice(length: Int(length))!
            guard rest.readInteger(as: UInt8.self) == UInt8(ascii: "\r"), rest.readInteger(as: UInt8.self) == UInt8(ascii: "\n") else {
                throw RESPProtocolError("a bulk string not ended by CRLF")
            }
            switch type {
            case UInt8(ascii: "!"): value = .error(RedisError(String(buffer: bytes)))
            case UInt8(ascii: "="):
                let text = String(buffer: bytes)
                guard text.utf8.count >= 4, text.utf8.dropFirst(3).first == UInt8(ascii: ":") else {
                    throw RESPProtocolError("a verbatim string without its format")
                }
                value = .verbatimString(format: String(text.prefix(3)), text: String(text.dropFirst(4)))
            default: value = .bulkString(bytes)
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            let count = try Self.integer(line)
            if count == -1, type == UInt8(ascii: "*") {
                value = .null
                break
            }
            let isPairs = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
            guard count >= 0, count <= self.limits.maxElements / (isPairs ? 2 : 1) else { throw RESPProtocolError("an aggregate of \(count) elements") }
            let elementCount = Int(count) * (isPairs ? 2 : 1)
            var elements: [RESPValue] = []
            // Never reserve from what the peer claims before the elements have arrived.
            elements.reserveCapacity(min(elementCount, rest.readableBytes / 3))
            for _ in 0..<elementCount {
                guard let element = try self.value(&rest, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            switch type {
            case UInt8(ascii: "~"): value = .set(elements)
            case UInt8(ascii: ">"): value = .push(elements)
            case UInt8(ascii: "%"): value = .map(elements)
            case UInt8(ascii: "|"):
                // An attribute describes the value that follows it: read that value instead.
                guard let next = try self.value(&rest, depth: depth) else { return nil }
                value = next
            default: value = .array(elements)
            }
        default:
            throw RESPProtocolError("unknown type byte 0x\(String(type, radix: 16))")
        }
        buffer = rest
        return value
    }

    /// The text up to the next CRLF, consumed with it; `nil` if no CRLF has arrived yet.
    private func line(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> String? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            guard view.count <= self.limits.maxLineLength else { throw RESPProtocolError("a line longer than \(self.limits.maxLineLength) bytes") }
            return nil
        }
        let length = newline - view.startIndex
        guard length >= 1, view[newline - 1] == UInt8(ascii: "\r") else { throw RESPProtocolError("a line not ended by CRLF") }
        guard length - 1 <= self.limits.maxLineLength else { throw RESPProtocolError("a line longer than \(self.limits.maxLineLength) bytes") }
        let text = buffer.readString(length: length - 1)!
        buffer.moveReaderIndex(forwardBy: 2)
        return text
    }

    private static func integer(_ line: String) throws(RESPProtocolError) -> Int64 {
        guard let value = Int64(line) else { throw RESPProtocolError("'\(line.prefix(32))' is not an integer") }
        return value
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self >= "0" && self <= "9" }
}

/// The bytes from the server are not RESP: the connection must be closed.
public struct RESPProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { "not RESP: \(self.message)" }
}
