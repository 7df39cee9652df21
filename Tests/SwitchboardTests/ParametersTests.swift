import Switchboard
import Testing

/// Reading command parameters the way protobuf's JSON mapping writes them (client protocol and server API).
@Suite struct ParametersTests {
    private func parameters(_ text: String) throws -> Parameters {
        Parameters(try JSONValue.parse(text))
    }

    @Test func nullIsAbsent() throws {
        let params = try self.parameters(#"{"token":null,"recover":null,"limit":null,"since":null,"data":null}"#)
        #expect(try params.string("token") == nil)
        #expect(try params.bool("recover") == false)
        #expect(try params.integer("limit") == nil)
        #expect(try params.position("since") == nil)
        #expect(params["data"] == nil)
        #expect(throws: ProtocolError.badRequest("'token' is required (a string)")) { try params.requiredString("token") }
    }

    @Test func integersMayBeQuoted() throws {
        let params = try self.parameters(#"{"limit":"5","since":{"offset":"18446744073709551615","epoch":"e"}}"#)
        #expect(try params.integer("limit") == 5)
        #expect(try params.position("since") == StreamPosition(offset: .max, epoch: "e"))
        #expect(try self.parameters(#"{"since":{"epoch":"e"}}"#).position("since") == StreamPosition(offset: 0, epoch: "e"))
    }

    @Test func errorsNameTheParameter() throws {
        #expect(throws: ProtocolError.badRequest("'limit' must be an integer")) { try self.parameters(#"{"limit":"five"}"#).integer("limit") }
        #expect(throws: ProtocolError.badRequest("'limit' must be an integer")) { try self.parameters(#"{"limit":1.5}"#).integer("limit") }
        #expect(throws: ProtocolError.badRequest("'reverse' must be true or false")) { try self.parameters(#"{"reverse":"yes"}"#).bool("reverse") }
        #expect(throws: ProtocolError.badRequest("'since.offset' must be an integer")) { try self.parameters(#"{"since":{"offset":-1}}"#).position("since") }
        #expect(throws: ProtocolError.badRequest("'since.epoch' must be a string")) { try self.parameters(#"{"since":{"epoch":7}}"#).position("since") }
        #expect(throws: ProtocolError.badRequest("'since' must be an object with 'offset' and 'epoch'")) { try self.parameters(#"{"since":3}"#).position("since") }
        #expect(throws: ProtocolError.badRequest("'channel' is required (a string)")) { try self.parameters(#"{"channel":""}"#).requiredString("channel") }
        #expect(try self.parameters(#"{"user":""}"#).requiredString("user", allowEmpty: true) == "")
    }
}
