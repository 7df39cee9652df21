import Switchboard
import Testing

/// What a channel name may hold, on every engine (docs/PROTOCOL.md, "Channels"), and how engine
/// failures reach clients.
@Suite struct ChannelNameTests {
    let channels = ChannelConfiguration(namespaces: ["acc": ChannelOptions()], maxChannelLength: 16)

    @Test(arguments: ["acc:nul\u{0}x", "acc:tab\tx", "acc:line\nx", "acc:esc\u{1B}", "acc:del\u{7F}", "\u{1F}"])
    func controlCharactersAreRefused(name: String) {
        let code = name.unicodeScalars.first { $0.value < 0x20 || $0.value == 0x7F }!.value
        #expect(self.channels.options(for: name) == .failure(.controlCharacter(code)))
    }

    @Test func emptyAndTooLongAreRefusedAndTheLengthIsInBytes() {
        #expect(self.channels.options(for: "") == .failure(.empty))
        #expect(self.channels.options(for: "acc:" + String(repeating: "x", count: 12)) == .success(ChannelOptions()))
        #expect(self.channels.options(for: "acc:" + String(repeating: "x", count: 13)) == .failure(.tooLong(limit: 16)))
        // "é" is two bytes of UTF-8.
        #expect(self.channels.options(for: "acc:" + String(repeating: "é", count: 7)) == .failure(.tooLong(limit: 16)))
    }

    @Test func anyOtherUnicodeIsFine() {
        for name in ["acc:ünï", "acc:💬 room", "acc:a b/c.d", "acc:\u{80}\u{A0}", "x"] {
            #expect(ChannelConfiguration.validate(name: name, maxLength: 255) == nil, "\(name)")
        }
    }

    /// An engine that cannot reach its database says so, temporarily; one whose database refused
    /// the request says why, and not temporarily (SDKs retry temporary errors forever).
    @Test func engineErrorsAreTemporaryOnlyWhenUnavailable() {
        let unreachable = EngineError("publish failed: the database is unreachable")
        #expect(unreachable.kind == .unavailable)
        #expect(unreachable.protocolError == ProtocolError(code: 100, message: "internal server error: publish failed: the database is unreachable", temporary: true))
        #expect(unreachable.protocolError.json["temporary"] == .bool(true))

        let refused = EngineError("publish failed: PostgreSQL refused it: value too long", kind: .internal)
        #expect(refused.protocolError.code == 100)
        #expect(refused.protocolError.temporary == false)
        #expect(refused.protocolError.json["temporary"] == nil)
        #expect(refused.protocolError.message.hasSuffix("value too long"))
    }
}
