// Fuzz target: the JSON parser (`JSONValue.parse` and `JSONText.compact`, the two modes of
// `JSONParser`).
//
// Oracles:
// * both modes agree on whether the text is JSON, and fail with the same error;
// * round trip: a parsed value, written out (`jsonText`) and parsed again, is the same value, and
//   writing that out again gives the same text;
// * the compacted text parses to the same value as the original.
import CFuzzDriver
import Switchboard

@main
enum FuzzMain {
    static func main() { switchboard_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The parser's entry points take a String (its callers hold text): invalid UTF-8 becomes U+FFFD
    // here as it does in the server before the parser sees it.
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)

    let value: Result<JSONValue, JSONText.SyntaxError> = Result { () throws(JSONText.SyntaxError) in try JSONValue.parse(text) }
    let compact: Result<String, JSONText.SyntaxError> = Result { () throws(JSONText.SyntaxError) in try JSONText.compact(text) }

    switch (value, compact) {
    case (.failure(let valueError), .failure(let compactError)):
        if valueError != compactError {
            fatalError("the parser's two modes fail differently: value mode \(valueError), compact mode \(compactError), input \(text.debugDescription)")
        }
    case (.success, .failure(let error)), (.failure(let error), .success):
        fatalError("the parser's two modes disagree on validity (\(error)): \(text.debugDescription)")
    case (.success(let value), .success(let compacted)):
        let written = value.jsonText
        let reparsed: JSONValue
        do {
            reparsed = try JSONValue.parse(written)
        } catch {
            fatalError("written-out value does not parse (\(error)): \(written.debugDescription) from \(text.debugDescription)")
        }
        if reparsed != value {
            fatalError("round trip changed the value: \(text.debugDescription) → \(written.debugDescription)")
        }
        if reparsed.jsonText != written {
            fatalError("writing is not stable: \(written.debugDescription) → \(reparsed.jsonText.debugDescription)")
        }
        guard let fromCompact = try? JSONValue.parse(compacted), fromCompact == value else {
            fatalError("compacted text \(compacted.debugDescription) does not parse to the same value as \(text.debugDescription)")
        }
    }
    return 0
}
