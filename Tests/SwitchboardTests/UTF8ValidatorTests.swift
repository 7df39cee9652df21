import Testing

@testable import Switchboard

@Suite struct UTF8ValidatorTests {
    @Test(arguments: ["", "plain ASCII", "héllo", "κόσμε", "日本語", "🌍 emoji", "\u{10FFFF}", "\u{FFFD}"])
    func acceptsValidText(_ text: String) {
        var validator = UTF8Validator()
        let accepted = validator.feed(text.utf8)
        #expect(accepted)
        #expect(validator.isComplete)
    }

    @Test(arguments: [
        [0xC0, 0xAF],  // overlong '/'
        [0xE0, 0x80, 0xAF],  // overlong
        [0xED, 0xA0, 0x80],  // surrogate U+D800
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],  // invalid lead byte
        [0x80],  // lone continuation byte
        [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],  // Autobahn 6.3.1
    ] as [[UInt8]])
    func refusesInvalidBytes(_ bytes: [UInt8]) {
        var validator = UTF8Validator()
        let accepted = validator.feed(bytes)
        #expect(!accepted)
    }

    @Test func validatesAcrossFragmentsAndFailsFast() {
        let bytes = Array("κόσμε".utf8)
        var validator = UTF8Validator()
        // Split inside a code point: each part is fine, the whole is complete only at the end.
        let first = validator.feed(bytes[0..<3])
        #expect(first)
        #expect(!validator.isComplete)
        let rest = validator.feed(bytes[3...])
        #expect(rest)
        #expect(validator.isComplete)
        // A bad byte is caught in the fragment that carries it, before the message ends.
        var failing = UTF8Validator()
        let lead = failing.feed([0xCE])
        let broken = failing.feed([0x41])
        #expect(lead)
        #expect(!broken)
    }
}
