import Testing

@testable import SwitchboardServer

/// How `uni_sse` reads `cf_connect` from a URL: as a form encodes it (`+` is a space), percent-decoded,
/// and never as "absent" when it is there but broken.
@Suite struct ConnectParameterTests {
    @Test func aFormEncodedValueIsDecoded() {
        let query = "x=1&cf_connect=%7B%22data%22%3A%7B%22name%22%3A%22Ann+Lee%22%7D%7D"
        #expect(UnidirectionalRoutes.queryValue("cf_connect", in: query) == .some(.some(#"{"data":{"name":"Ann Lee"}}"#)))
    }

    @Test func anAbsentParameterIsNoValue() {
        #expect(UnidirectionalRoutes.queryValue("cf_connect", in: "x=1") == .some(nil))
        #expect(UnidirectionalRoutes.queryValue("cf_connect", in: "") == .some(nil))
    }

    @Test(arguments: ["cf_connect=%ZZ", "cf_connect=%7", "cf_connect=%FF%FE"])
    func aBrokenValueIsRefusedNotTakenAsAbsent(query: String) {
        #expect(UnidirectionalRoutes.queryValue("cf_connect", in: query) == nil)
    }
}
