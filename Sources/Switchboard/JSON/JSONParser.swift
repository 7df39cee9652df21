/// The one JSON grammar (RFC 8259) of the package, in two modes: ``Mode/compact`` copies the text
/// without insignificant whitespace (``JSONText``), ``Mode/value`` builds a ``JSONValue``.
struct JSONParser {
    enum Mode {
        /// Write the compacted text to ``output``; values are not built (every call returns `.null`).
        case compact
        /// Build values; nothing is written to ``output``.
        case value
    }

    typealias SyntaxError = JSONText.SyntaxError

    let bytes: [UInt8]
    let mode: Mode
    var index = 0
    var output: [UInt8] = []

    init(bytes: [UInt8], mode: Mode) {
        self.bytes = bytes
        self.mode = mode
        if mode == .compact { self.output.reserveCapacity(bytes.count) }
    }

    /// The whole input as exactly one value, surrounded by optional whitespace.
    @discardableResult
    mutating func document() throws(SyntaxError) -> JSONValue {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw self.error("empty input: expected a JSON value") }
        let value = try self.value(depth: 0)
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the JSON value") }
        return value
    }

    func error(_ message: String) -> SyntaxError {
        SyntaxError(message: message, offset: self.index)
    }

    var current: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    mutating func skipWhitespace() {
        while let byte = self.current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            self.index += 1
        }
    }

    mutating func emitAndAdvance() {
        if self.mode == .compact { self.output.append(self.bytes[self.index]) }
        self.index += 1
    }

    mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
        guard let byte = self.current else { throw self.error("unexpected end of input: expected a JSON value") }
        switch byte {
        case UInt8(ascii: "{"): return try self.object(depth: depth + 1)
        case UInt8(ascii: "["): return try self.array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"):
            try self.literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.number()
        default: throw self.error("unexpected character '\(Self.printable(byte))': expected a JSON value")
        }
    }

    mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= JSONText.maximumDepth else { throw self.error("nesting deeper than \(JSONText.maximumDepth) levels") }
        self.emitAndAdvance()  // {
        self.skipWhitespace()
        var members: [JSONValue.Member] = []
        if self.current == UInt8(ascii: "}") {
            self.emitAndAdvance()
            return .object(members)
        }
        while true {
            guard self.current == UInt8(ascii: "\"") else { throw self.error("expected a string key in object") }
            let key = try self.string()
            self.skipWhitespace()
            guard self.current == UInt8(ascii: ":") else { throw self.error("expected ':' after object key") }
            self.emitAndAdvance()
            self.skipWhitespace()
            let value = try self.value(depth: depth)
            if self.mode == .value { members.append(.init(key: key, value: value)) }
            if try self.separatorOrEnd(closing: UInt8(ascii: "}"), container: "object") { return .object(members) }
        }
    }

    mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= JSONText.maximumDepth else { throw self.error("nesting deeper than \(JSONText.maximumDepth) levels") }
        self.emitAndAdvance()  // [
        self.skipWhitespace()
        var elements: [JSONValue] = []
        if self.current == UInt8(ascii: "]") {
            self.emitAndAdvance()
            return .array(elements)
        }
        while true {
            let value = try self.value(depth: depth)
            if self.mode == .value { elements.append(value) }
            if try self.separatorOrEnd(closing: UInt8(ascii: "]"), container: "array") { return .array(elements) }
        }
    }

    /// After a member of an object or array: consume `,` (returning `false`: another member
    /// follows) or the closing bracket (returning `true`).
    mutating func separatorOrEnd(closing: UInt8, container: String) throws(SyntaxError) -> Bool {
        self.skipWhitespace()
        switch self.current {
        case UInt8(ascii: ","):
            self.emitAndAdvance()
            self.skipWhitespace()
            return false
        case closing:
            self.emitAndAdvance()
            return true
        case nil:
            throw self.error("unexpected end of input: unterminated \(container)")
        default:
            throw self.error("expected ',' or '\(Character(UnicodeScalar(closing)))' in \(container)")
        }
    }

    /// A string literal; in ``Mode/value`` its decoded text, otherwise `""`.
    mutating func string() throws(SyntaxError) -> String {
        self.emitAndAdvance()  // opening quote
        var decoded = Unescaper(enabled: self.mode == .value)
        while let byte = self.current {
            switch byte {
            case UInt8(ascii: "\""):
                self.emitAndAdvance()
                return try decoded.finish(at: self)
            case UInt8(ascii: "\\"):
                self.emitAndAdvance()
                guard let escaped = self.current else { break }
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    decoded.appendEscape(escaped)
                    self.emitAndAdvance()
                case UInt8(ascii: "u"):
                    self.emitAndAdvance()
                    var unit: UInt16 = 0
                    for _ in 0..<4 {
                        guard let hex = self.current, let digit = Self.hexValue(hex) else {
                            throw self.error("invalid \\u escape: expected 4 hex digits")
                        }
                        unit = unit << 4 | UInt16(digit)
                        self.emitAndAdvance()
                    }
                    decoded.appendUTF16(unit)
                default:
                    throw self.error("invalid escape '\\\(Self.printable(escaped))' in string")
                }
            case 0x00..<0x20:
                throw self.error("unescaped control character in string")
            default:
                decoded.appendByte(byte)
                self.emitAndAdvance()
            }
        }
        throw self.error("unexpected end of input: unterminated string")
    }

    /// A number literal; in ``Mode/value`` as written.
    mutating func number() throws(SyntaxError) -> JSONValue {
        let start = self.index
        if self.current == UInt8(ascii: "-") { self.emitAndAdvance() }
        guard let first = self.current, Self.isDigit(first) else { throw self.error("invalid number: expected a digit") }
        if first == UInt8(ascii: "0") {
            self.emitAndAdvance()
            if let next = self.current, Self.isDigit(next) { throw self.error("invalid number: leading zero") }
        } else {
            try self.digits()
        }
        if self.current == UInt8(ascii: ".") {
            self.emitAndAdvance()
            try self.digits()
        }
        if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
            self.emitAndAdvance()
            if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.emitAndAdvance() }
            try self.digits()
        }
        guard self.mode == .value else { return .null }
        return .number(String(decoding: self.bytes[start..<self.index], as: UTF8.self))
    }

    mutating func digits() throws(SyntaxError) {
        guard let byte = self.current, Self.isDigit(byte) else { throw self.error("invalid number: expected a digit") }
        while let byte = self.current, Self.isDigit(byte) { self.emitAndAdvance() }
    }

    mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let start = self.index
        for expected in UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount) {
            guard self.current == expected else {
                self.index = start
                throw self.error("invalid literal: expected '\(word)'")
            }
            self.emitAndAdvance()
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func printable(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}

/// Decodes a string literal's content as the parser walks it (when enabled).
private struct Unescaper {
    let enabled: Bool
    var utf8: [UInt8] = []
    /// A high surrogate from a `\u` escape, waiting for its low half.
    var highSurrogate: UInt16?
    var invalidSurrogate = false

    mutating func appendByte(_ byte: UInt8) {
        guard self.enabled else { return }
        self.flushSurrogate()
        self.utf8.append(byte)
    }

    mutating func appendEscape(_ escaped: UInt8) {
        guard self.enabled else { return }
        let byte: UInt8 =
            switch escaped {
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "t"): 0x09
            default: escaped  // " \ /
            }
        self.appendByte(byte)
    }

    mutating func appendUTF16(_ unit: UInt16) {
        guard self.enabled else { return }
        if let high = self.highSurrogate, (0xDC00...0xDFFF).contains(unit) {
            self.highSurrogate = nil
            let scalar = 0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00)
            self.appendScalar(scalar)
            return
        }
        self.flushSurrogate()
        if (0xD800...0xDBFF).contains(unit) {
            self.highSurrogate = unit
        } else {
            self.appendScalar(UInt32(unit))
        }
    }

    /// A lone surrogate has no UTF-8 form: it becomes U+FFFD, as in most JSON decoders.
    private mutating func flushSurrogate() {
        if self.highSurrogate != nil {
            self.highSurrogate = nil
            self.appendScalar(0xFFFD)
        }
    }

    private mutating func appendScalar(_ value: UInt32) {
        let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
        self.utf8.append(contentsOf: String(Character(scalar)).utf8)
    }

    mutating func finish(at parser: JSONParser) throws(JSONParser.SyntaxError) -> String {
        guard self.enabled else { return "" }
        self.flushSurrogate()
        return String(decoding: self.utf8, as: UTF8.self)
    }
}
