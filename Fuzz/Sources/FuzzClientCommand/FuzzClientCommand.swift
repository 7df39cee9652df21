// Fuzz target: client protocol commands in the JSON format (`JSONFormat.lines`, then
// `JSONFormat.decode` on each line, as `ClientSession` reads a text message), and then every
// parameter accessor (`Parameters`) on the command's parameters object.
//
// Oracles: never a trap; a decoded command has an id unless it is a `send`; a reply error carries
// an id; a refused request is a protocol error with a code and a message; a publication's data is
// compact JSON (it parses, and prints back the same); an integer read through `Parameters.integer`
// is the number the JSON says (compared through `Double`, which every integer converts to with at
// most rounding).
import CFuzzDriver
@testable import Switchboard

/// Keys the protocol reads, plus whatever keys the input itself has.
let protocolKeys = [
    "channel", "token", "data", "offset", "epoch", "since", "limit", "reverse", "recover", "positioned",
    "recoverable", "join_leave", "method", "name", "version", "subs", "delta", "flag", "b64data",
]

@main
enum FuzzMain {
    static func main() { switchboard_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // A message may carry several commands, one per line, as ClientSession splits them.
    for line in JSONFormat.lines(text) {
        let command: ClientCommand?
        do {
            command = try JSONFormat.decode(line)
        } catch {
            switch error {
            case .malformed(let reason): precondition(!reason.isEmpty)
            case .reply(let id, let error):
                precondition(id > 0, "a reply error needs an id to reply to")
                precondition(error.code >= 100 && !error.message.isEmpty)
            }
            continue
        }
        guard let command else { continue }
        precondition(command.id > 0 || command.method == .send, "\(command.method) without an id was accepted")
        check(command.request, line)
        // The parameters object the command was decoded from, through every accessor.
        guard let value = try? JSONValue.parse(String(line)), let params = value[command.method.rawValue] else {
            fatalError("a decoded command whose JSON does not parse again: \(line.debugDescription)")
        }
        guard let members = params.members else { fatalError("parameters are not an object: \(line.debugDescription)") }
        let parameters = Parameters(params)
        for key in Set(protocolKeys + members.map(\.key)) {
            exercise(parameters, key)
        }
    }
    return 0
}

func check(_ request: Result<ClientRequest, ProtocolError>, _ line: Substring) {
    switch request {
    case .failure(let error):
        precondition(error.code >= 100 && error.code <= 112 && !error.message.isEmpty, "\(error)")
    case .success(.publish(let channel, let data)):
        precondition(!channel.isEmpty, "publish to an empty channel: \(line.debugDescription)")
        guard let parsed = try? JSONValue.parse(data), parsed.jsonText == data else {
            fatalError("publication data is not compact JSON: \(data.debugDescription) from \(line.debugDescription)")
        }
    case .success(.subscribe(let subscribe)):
        precondition(!subscribe.channel.isEmpty)
        precondition(subscribe.recovery.recover || subscribe.recovery == SubscriptionPosition())
    case .success:
        break
    }
}

func exercise(_ params: Parameters, _ key: String) {
    _ = try? params.string(key)
    _ = try? params.requiredString(key)
    _ = try? params.requiredString(key, allowEmpty: true)
    _ = try? params.bool(key)
    _ = try? params.position(key)
    check(params, key, Int.self)
    check(params, key, Int32.self)
    check(params, key, UInt32.self)
    check(params, key, UInt64.self)
    check(params, key, Int64.self)
    check(params, key, UInt8.self)
    if let nested = params[key], nested.members != nil {
        let inner = Parameters(nested)
        for member in nested.members ?? [] {
            _ = try? inner.string(member.key)
            _ = try? inner.position(member.key)
            check(inner, member.key, Int.self)
            check(inner, member.key, UInt64.self)
        }
    }
}

func check<T: FixedWidthInteger>(_ params: Parameters, _ key: String, _ type: T.Type) {
    guard let read = try? params.integer(key, as: T.self) else { return }
    let text: String
    switch params[key] {
    case .number(let number)?: text = number
    case .string(let string)?: text = string
    default: fatalError("'\(key)' read as an integer from \(String(describing: params[key]))")
    }
    guard let double = Double(text), double == Double(read) || T(text) == read else {
        fatalError("'\(key)' = \(text.debugDescription) read as \(T.self) \(read)")
    }
}
