import Switchboard
import Testing

/// Which format a WebSocket handshake selects (docs/PROTOCOL.md, "Formats and negotiation").
@Suite struct ProtocolNegotiationTests {
    @Test func theProtobufSubprotocolSelectsProtobufAndIsAnswered() {
        let chosen = ProtocolFormat.negotiate(subprotocols: ["centrifuge-protobuf"], query: [:])
        #expect(chosen.format == .protobuf && chosen.subprotocol == "centrifuge-protobuf")
    }

    @Test func theJSONSubprotocolSelectsJSONEvenWithAProtobufQuery() {
        let chosen = ProtocolFormat.negotiate(subprotocols: ["centrifuge-json"], query: ["format": "protobuf"])
        #expect(chosen.format == .json && chosen.subprotocol == "centrifuge-json")
    }

    @Test func theFirstKnownSubprotocolWins() {
        let chosen = ProtocolFormat.negotiate(subprotocols: ["graphql-ws", "centrifuge-json", "centrifuge-protobuf"], query: [:])
        #expect(chosen.format == .json && chosen.subprotocol == "centrifuge-json")
    }

    @Test(arguments: [["format": "protobuf"], ["cf_protocol": "protobuf"]])
    func olderSDKsSelectProtobufWithAQueryParameter(query: [String: String]) {
        let chosen = ProtocolFormat.negotiate(subprotocols: [], query: query)
        #expect(chosen.format == .protobuf && chosen.subprotocol == nil)
    }

    @Test func nothingSelectsJSONWithoutASubprotocol() {
        let chosen = ProtocolFormat.negotiate(subprotocols: ["graphql-ws"], query: ["format": "json"])
        #expect(chosen.format == .json && chosen.subprotocol == nil)
    }
}
