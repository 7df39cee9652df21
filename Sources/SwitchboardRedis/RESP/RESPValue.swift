public import NIOCore

/// A value of the Redis serialization protocol (RESP2, and RESP3's types where a server sends them).
///
/// Nulls of every kind (`$-1`, `*-1`, `_`) are ``null``. Attributes (`|`) are read and dropped, as
/// the specification allows a client that does not use them.
public enum RESPValue: Sendable, Equatable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR …` or RESP3's bulk error `!`.
    case error(RedisError)
    /// `:42`
    case integer(Int64)
    /// `$3\r\nfoo` (binary-safe).
    case bulkString(ByteBuffer)
    /// `$-1`, `*-1`, `_`
    case null
    /// `*2 …`
    case array([RESPValue])
    /// RESP3 `,3.14`
    case double(Double)
    /// RESP3 `#t` / `#f`
    case boolean(Bool)
    /// RESP3 `(3492890328409238509324850943850943825024385`, as its digits.
    case bigNumber(String)
    /// RESP3 `=15\r\ntxt:Some string`: the text after its three-letter format.
    case verbatimString(format: String, text: String)
    /// RESP3 `%`: key, value, key, value…
    case map([RESPValue])
    /// RESP3 `~`
    case set([RESPValue])
    /// RESP3 `>`: an out-of-band message (pub/sub, invalidation).
    case push([RESPValue])

    /// The text of a simple or bulk string (bulk strings as UTF-8), or `nil`.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(buffer: bytes)
        case .verbatimString(_, let text): text
        default: nil
        }
    }

    /// The bytes of a bulk string, or `nil`.
    public var bytes: ByteBuffer? {
        if case .bulkString(let bytes) = self { bytes } else { nil }
    }

    /// An integer, also one sent as a string of digits, or `nil`.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .simpleString, .bulkString: self.string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array, set or push, or `nil`.
    public var array: [RESPValue]? {
        switch self {
        case .array(let elements), .set(let elements), .push(let elements): elements
        default: nil
        }
    }
}

/// An error reply of Redis (`-NOSCRIPT No matching script…`), or a failure of the client.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The message, with its code first when Redis sent one (`NOSCRIPT …`, `WRONGTYPE …`).
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    /// The error's code: its first word when that is in capitals (`ERR`, `NOSCRIPT`, `MOVED`).
    public var code: String? {
        let first = self.message.prefix { $0 != " " }
        return !first.isEmpty && first.allSatisfy({ $0.isUppercase || $0 == "_" }) ? String(first) : nil
    }

    public var description: String { self.message }
}
