import Testing

@testable import Switchboard

@Suite struct JSONTextTests {
    @Test(arguments: [
        ("{}", "{}"),
        (" [ ] ", "[]"),
        ("{ \"a\" : [1, 2.0, -3e+5, 0.5E-2] , \"b\":{\"c\" : null}}", "{\"a\":[1,2.0,-3e+5,0.5E-2],\"b\":{\"c\":null}}"),
        ("\"x  y\\n\\u00e9\"", "\"x  y\\n\\u00e9\""),
        ("true", "true"),
        ("12345678901234567890123", "12345678901234567890123"),
        ("\"héllo 🌍\"", "\"héllo 🌍\""),
    ])
    func compactsValidJSON(input: String, expected: String) throws {
        #expect(try JSONText.compact(input) == expected)
    }

    @Test(arguments: [
        ("", "empty input"),
        ("{bad", "expected a string key"),
        ("[1,]", "expected a JSON value"),
        ("[1 2]", "expected ',' or ']'"),
        ("01", "leading zero"),
        ("1.", "expected a digit"),
        ("\"abc", "unterminated string"),
        ("\"a\\x\"", "invalid escape"),
        ("\"\u{01}\"", "control character"),
        ("tru", "expected 'true'"),
        ("{} {}", "unexpected data after"),
        ("{\"a\" 1}", "expected ':'"),
        ("NaN", "unexpected character 'N'"),
    ])
    func rejectsInvalidJSON(input: String, fragment: String) {
        #expect {
            try JSONText.compact(input)
        } throws: { error in
            (error as? JSONText.SyntaxError)?.message.contains(fragment) == true
        }
    }

    @Test func refusesExcessiveNesting() throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONText.SyntaxError.self) { try JSONText.compact(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try JSONText.compact(fine) == fine)
    }

    @Test func quoteEscapesWhatJSONRequires() {
        #expect(JSONText.quote("a\"b\\c\nd\u{01}é") == "\"a\\\"b\\\\c\\nd\\u0001é\"")
    }
}
