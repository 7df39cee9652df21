// Fuzz target: the configuration file (`ConfigurationFile.apply`, as `switchboard serve --config`
// reads it).
//
// Oracle: arbitrary text gives either a configuration or a thrown `ConfigurationFile.Error` that says
// what is wrong, never a trap; applying the same text twice gives the same outcome.
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
    return 0
}
