/// Checks that text is one JSON value (RFC 8259) and returns it without insignificant whitespace.
///
/// The value is kept exactly as written otherwise: numbers keep their spelling (`1.0` stays `1.0`,
/// big integers stay exact) and strings keep their escapes, so echoing a value never changes it.
/// Nesting deeper than ``maximumDepth`` is refused rather than risking the stack.
public enum JSONText {
    /// Why text is not valid JSON.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong.
        public let message: String
        /// Byte offset into the UTF-8 text where the problem was found.
        public let offset: Int

        public var description: String { "\(self.message) at byte \(self.offset)" }
    }

    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 512

    /// Validate `text` as a single JSON value and return it compacted.
    public static func compact(_ text: String) throws(SyntaxError) -> String {
        var parser = Parser(bytes: Array(text.utf8))
        try parser.skipWhitespace()
        guard parser.index < parser.bytes.count else { throw parser.error("empty input: expected a JSON value") }
        try parser.value(depth: 0)
        try parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return String(decoding: parser.output, as: UTF8.self)
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var output: [UInt8] = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
            self.output.reserveCapacity(bytes.count)
        }

        func error(_ message: String) -> SyntaxError {
            SyntaxError(message: message, offset: self.index)
        }

        var current: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

        mutating func skipWhitespace() throws(SyntaxError) {
            while let byte = self.current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                self.index += 1
            }
        }

        mutating func emitAndAdvance() {
            self.output.append(self.bytes[self.index])
            self.index += 1
        }

        mutating func value(depth: Int) throws(SyntaxError) {
            guard let byte = self.current else { throw self.error("unexpected end of input: expected a JSON value") }
            switch byte {
            case UInt8(ascii: "{"): try self.object(depth: depth + 1)
            case UInt8(ascii: "["): try self.array(depth: depth + 1)
            case UInt8(ascii: "\""): try self.string()
            case UInt8(ascii: "t"): try self.literal("true")
            case UInt8(ascii: "f"): try self.literal("false")
            case UInt8(ascii: "n"): try self.literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try self.number()
            default: throw self.error("unexpected character '\(Self.printable(byte))': expected a JSON value")
            }
        }

        mutating func object(depth: Int) throws(SyntaxError) {
            guard depth <= JSONText.maximumDepth else { throw self.error("nesting deeper than \(JSONText.maximumDepth) levels") }
            self.emitAndAdvance()  // {
            try self.skipWhitespace()
            if self.current == UInt8(ascii: "}") {
                self.emitAndAdvance()
                return
            }
            while true {
                guard self.current == UInt8(ascii: "\"") else { throw self.error("expected a string key in object") }
                try self.string()
                try self.skipWhitespace()
                guard self.current == UInt8(ascii: ":") else { throw self.error("expected ':' after object key") }
                self.emitAndAdvance()
                try self.skipWhitespace()
                try self.value(depth: depth)
                if try self.separatorOrEnd(closing: UInt8(ascii: "}"), container: "object") { return }
            }
        }

        mutating func array(depth: Int) throws(SyntaxError) {
            guard depth <= JSONText.maximumDepth else { throw self.error("nesting deeper than \(JSONText.maximumDepth) levels") }
            self.emitAndAdvance()  // [
            try self.skipWhitespace()
            if self.current == UInt8(ascii: "]") {
                self.emitAndAdvance()
                return
            }
            while true {
                try self.value(depth: depth)
                if try self.separatorOrEnd(closing: UInt8(ascii: "]"), container: "array") { return }
            }
        }

        /// After a member of an object or array: consume `,` (returning `false`: another member
        /// follows) or the closing bracket (returning `true`).
        mutating func separatorOrEnd(closing: UInt8, container: String) throws(SyntaxError) -> Bool {
            try self.skipWhitespace()
            switch self.current {
            case UInt8(ascii: ","):
                self.emitAndAdvance()
                try self.skipWhitespace()
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

        mutating func string() throws(SyntaxError) {
            self.emitAndAdvance()  // opening quote
            while let byte = self.current {
                switch byte {
                case UInt8(ascii: "\""):
                    self.emitAndAdvance()
                    return
                case UInt8(ascii: "\\"):
                    self.emitAndAdvance()
                    guard let escaped = self.current else { break }
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        self.emitAndAdvance()
                    case UInt8(ascii: "u"):
                        self.emitAndAdvance()
                        for _ in 0..<4 {
                            guard let hex = self.current, Self.isHexDigit(hex) else {
                                throw self.error("invalid \\u escape: expected 4 hex digits")
                            }
                            self.emitAndAdvance()
                        }
                    default:
                        throw self.error("invalid escape '\\\(Self.printable(escaped))' in string")
                    }
                case 0x00..<0x20:
                    throw self.error("unescaped control character in string")
                default:
                    self.emitAndAdvance()
                }
            }
            throw self.error("unexpected end of input: unterminated string")
        }

        mutating func number() throws(SyntaxError) {
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

        static func isHexDigit(_ byte: UInt8) -> Bool {
            Self.isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
        }

        static func printable(_ byte: UInt8) -> String {
            (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
        }
    }
}

extension JSONText {
    /// `string` as a JSON string literal, quotes included.
    public static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
