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
        var parser = JSONParser(bytes: Array(text.utf8), mode: .compact)
        try parser.document()
        return String(decoding: parser.output, as: UTF8.self)
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
