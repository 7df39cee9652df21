/// A JSON value, as the protocol reads commands and writes replies.
///
/// Objects keep their members in order (and duplicates, of which lookups see the last), numbers keep
/// their spelling, so that application data passes through unchanged apart from whitespace and
/// string escapes. ``raw(_:)`` holds JSON text that is already encoded (a publication's data, encoded
/// once and embedded in every push that carries it).
public enum JSONValue: Sendable, Equatable {
    /// One member of an object.
    public struct Member: Sendable, Equatable {
        /// The member's name.
        public var key: String
        /// The member's value.
        public var value: JSONValue

        /// A member `key: value`.
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    case null
    case bool(Bool)
    /// A number as written (`2.50` stays `2.50`).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])
    /// Valid, compact JSON text, written out as it is.
    case raw(String)

    /// Parse `text` as exactly one JSON value.
    public static func parse(_ text: String) throws(JSONText.SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8), mode: .value)
        return try parser.document()
    }

    /// An object from key-value pairs, skipping pairs whose value is `nil`.
    public static func object(_ pairs: KeyValuePairs<String, JSONValue?>) -> JSONValue {
        .object(pairs.compactMap { key, value in value.map { Member(key: key, value: $0) } })
    }

    /// An integer.
    public static func integer(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }

    // MARK: Reading

    /// The value of `key` in an object (the last one, if the key repeats), or `nil`.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// The members of an object, or `nil`.
    public var members: [Member]? {
        if case .object(let members) = self { members } else { nil }
    }

    /// The text of a string, or `nil`.
    public var stringValue: String? {
        if case .string(let string) = self { string } else { nil }
    }

    /// A boolean's value, or `nil`.
    public var boolValue: Bool? {
        if case .bool(let bool) = self { bool } else { nil }
    }

    /// The elements of an array, or `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let array) = self { array } else { nil }
    }

    /// An integral number that fits `T` (`3`, `-1`, also `3.0` and `3e2`), or `nil`.
    public func integerValue<T: FixedWidthInteger>(_: T.Type = Int.self) -> T? {
        guard case .number(let text) = self else { return nil }
        if let exact = T(text) { return exact }
        guard let double = Double(text), double.rounded() == double, let value = T(exactly: double) else { return nil }
        return value
    }

    /// A number as a `Double`, or `nil`.
    public var doubleValue: Double? {
        if case .number(let text) = self { Double(text) } else { nil }
    }

    // MARK: Writing

    /// Compact JSON text.
    public var jsonText: String {
        var out: [UInt8] = []
        self.write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Append compact JSON text to `out`.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let bool): out.append(contentsOf: (bool ? "true" : "false").utf8)
        case .number(let text), .raw(let text): out.append(contentsOf: text.utf8)
        case .string(let string): Self.writeString(string, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string literal: escapes `"`, `\` and control characters, nothing else.
    static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(Self.hexDigits[Int(byte >> 4)])
                out.append(Self.hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue: Codable {
    /// Decodes any JSON value (a `Codable` field of type `JSONValue` takes whatever JSON is there).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let integer = try? container.decode(Int64.self) {
            self = .integer(integer)
        } else if let double = try? container.decode(Double.self) {
            self = .number(double.isFinite ? "\(double)" : "null")
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            let dictionary = try container.decode([String: JSONValue].self)
            self = .object(dictionary.sorted { $0.key < $1.key }.map { Member(key: $0.key, value: $0.value) })
        }
    }

    /// Encodes the value as the JSON it is.
    public func encode(to encoder: any Encoder) throws {
        // Encoded through its text so numbers keep their spelling.
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .string(let string): try container.encode(string)
        case .array(let array): try container.encode(array)
        case .object(let members):
            try container.encode(Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }))
        case .number(let text):
            if let integer = Int64(text) { try container.encode(integer) } else { try container.encode(Double(text) ?? 0) }
        case .raw(let text):
            try container.encode((try? JSONValue.parse(text)) ?? .null)
        }
    }
}
