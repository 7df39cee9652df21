// Fuzz target: the configuration file (`ConfigurationFile.apply`, as `switchboard serve --config`
// reads it).
//
// Oracle: arbitrary text gives either a configuration or a thrown `ConfigurationFile.Error` that says
// what is wrong, never a trap; applying the same text twice gives the same outcome. Each input is
// also tried with its numbers magnified (see `magnify`).
import CFuzzDriver
import Switchboard
import SwitchboardServer

@main
enum FuzzMain {
    static func main() { switchboard_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    check(text)
    // Byte-level mutation rarely makes a number huge where a setting reads it (it found neither a
    // real nor a planted overflow in minutes), so each input is also tried with every number 1e16
    // times larger.
    let magnified = magnify(text)
    if magnified != text { check(magnified) }
    return 0
}

/// `text` with sixteen zeros after every run of digits.
func magnify(_ text: String) -> String {
    var out = ""
    var inDigits = false
    for character in text {
        let isDigit = character.isASCII && character.isNumber
        if inDigits && !isDigit { out += "0000000000000000" }
        out.append(character)
        inDigits = isDigit
    }
    if inDigits { out += "0000000000000000" }
    return out
}

func check(_ text: String) {
    var first = SwitchboardConfiguration()
    var second = SwitchboardConfiguration()
    let firstOutcome: String
    do {
        try ConfigurationFile.apply(text, to: &first)
        firstOutcome = "ok"
    } catch {
        precondition(!error.description.isEmpty, "an error without a description")
        firstOutcome = error.description
    }
    let secondOutcome: String
    do {
        try ConfigurationFile.apply(text, to: &second)
        secondOutcome = "ok"
    } catch {
        secondOutcome = error.description
    }
    precondition(firstOutcome == secondOutcome, "the same file read twice: \(firstOutcome) / \(secondOutcome)")
}
