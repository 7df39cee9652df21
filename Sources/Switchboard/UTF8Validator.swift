/// Validates UTF-8 incrementally, so a message that arrives in fragments is checked as each fragment
/// arrives and invalid text is refused as early as the first bad byte (RFC 6455 section 8.1).
///
/// Follows the well-formed byte sequences of the Unicode Standard, table 3-7: no overlong forms, no
/// surrogates, nothing above U+10FFFF.
public struct UTF8Validator: Sendable {
    /// Bytes still expected to complete the current code point.
    private var remaining = 0
    /// Allowed range of the next byte (it narrows after some lead bytes).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// A validator at the start of a text.
    public init() {}

    /// Whether everything fed so far ends on a code point boundary.
    public var isComplete: Bool { self.remaining == 0 }

    /// Feed the next bytes. Returns `false` at the first byte that cannot be valid UTF-8; the
    /// validator must not be used after that.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            if self.remaining == 0 {
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: self.expect(1, 0x80, 0xBF)
                case 0xE0: self.expect(2, 0xA0, 0xBF)
                case 0xE1...0xEC, 0xEE...0xEF: self.expect(2, 0x80, 0xBF)
                case 0xED: self.expect(2, 0x80, 0x9F)
                case 0xF0: self.expect(3, 0x90, 0xBF)
                case 0xF1...0xF3: self.expect(3, 0x80, 0xBF)
                case 0xF4: self.expect(3, 0x80, 0x8F)
                default: return false
                }
            } else {
                guard byte >= self.lower, byte <= self.upper else { return false }
                self.remaining -= 1
                self.lower = 0x80
                self.upper = 0xBF
            }
        }
        return true
    }

    private mutating func expect(_ count: Int, _ lower: UInt8, _ upper: UInt8) {
        self.remaining = count
        self.lower = lower
        self.upper = upper
    }
}
