// Fuzz target: UTF8Validator.
//
// Oracle: the validator agrees with the standard library's decoder (`String(validating:as:)`) on
// whether the bytes are well-formed UTF-8, and feeding them in pieces (split points taken from the
// input) gives the same answer as feeding them at once.
//
// Input: byte 0 = how many split points; the next ones (one byte each) = split positions, scaled to
// the payload; the rest = the payload.
import CFuzzDriver
import Switchboard

@main
enum FuzzMain {
    static func main() { switchboard_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let first = input.first else { return 0 }
    let splitCount = min(Int(first % 8), input.count - 1)
    let splitBytes = input[1..<(1 + splitCount)]
    let payload = Array(input[(1 + splitCount)...])

    let expected = String(validating: payload, as: UTF8.self) != nil

    var whole = UTF8Validator()
    let oneShot = whole.feed(payload) && whole.isComplete
    if oneShot != expected {
        fatalError("UTF8Validator says \(oneShot ? "valid" : "invalid"), the standard library says \(expected ? "valid" : "invalid"): \(payload)")
    }

    let cuts = splitBytes.map { payload.isEmpty ? 0 : Int($0) * payload.count / 256 }.sorted()
    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    for cut in cuts {
        pieces.append(payload[start..<max(start, cut)])
        start = max(start, cut)
    }
    pieces.append(payload[start...])
    var incremental = UTF8Validator()
    var stillValid = true
    for piece in pieces where stillValid {
        stillValid = incremental.feed(piece)
    }
    let pieceWise = stillValid && incremental.isComplete
    if pieceWise != expected {
        fatalError("UTF8Validator fed in pieces \(pieces.map(\.count)) says \(pieceWise ? "valid" : "invalid"), whole input says \(expected ? "valid" : "invalid"): \(payload)")
    }
    return 0
}
