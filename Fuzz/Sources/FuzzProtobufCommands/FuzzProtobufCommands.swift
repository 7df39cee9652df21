// Fuzz target: client protocol commands in the Protobuf format: a binary message through
// `ProtobufFormat.split` (varint length prefixes), then `ProtobufFormat.decode` on each piece, as
// `ClientSession` reads a binary message on a `centrifuge-protobuf` connection.
//
// Oracles: never a trap (a varint of any length, a length past the end, bytes that are no
// `client.proto` Command); the pieces lie inside the message, in order, and their prefixes and
// bodies add up to it exactly; only an empty piece is a pong; a decoded command has an id unless
// it is a `send`; a reply error carries an id; a refused request is a protocol error with a code
// and a message; a publication's data is compact JSON; and the JSON format decodes the same
// publish or subscribe (written as JSON from what was decoded) to the same request.
import CFuzzDriver
import NIOCore
@testable import Switchboard

@main
enum FuzzMain {
    static func main() { switchboard_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let message = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    let pieces: [ByteBuffer]
    do {
        pieces = try ProtobufFormat.split(message)
    } catch {
        guard case .malformed(let reason) = error else { fatalError("split gave a reply error: \(error)") }
        precondition(!reason.isEmpty)
        return 0
    }
    precondition(!pieces.isEmpty, "a message that splits holds at least one command")
    checkFraming(message, pieces)
    for piece in pieces {
        let command: ClientCommand?
        do {
            command = try ProtobufFormat.decode(piece)
        } catch {
            switch error {
            case .malformed(let reason): precondition(!reason.isEmpty)
            case .reply(let id, let error):
                precondition(id > 0, "a reply error needs an id to reply to")
                precondition(error.code == 104 && !error.message.isEmpty)
            }
            continue
        }
        guard let command else {
            precondition(piece.readableBytes == 0, "only an empty command is a pong")
            continue
        }
        precondition(command.id > 0 || command.method == .send, "\(command.method) without an id was accepted")
        check(command)
    }
    return 0
}

/// Re-read the prefixes: each piece is the bytes right after its prefix, and nothing is left over.
func checkFraming(_ message: ByteBuffer, _ pieces: [ByteBuffer]) {
    var rest = message
    for piece in pieces {
        guard let length = ProtobufFormat.readVarint(&rest) else { fatalError("a piece without its prefix") }
        precondition(length == UInt64(piece.readableBytes), "piece of \(piece.readableBytes) bytes under a prefix of \(length)")
        guard let body = rest.readSlice(length: piece.readableBytes) else { fatalError("a piece past the end") }
        precondition(body.readableBytesView.elementsEqual(piece.readableBytesView), "a piece that is not its bytes")
    }
    precondition(rest.readableBytes == 0, "\(rest.readableBytes) bytes after the last piece")
}

func check(_ command: ClientCommand) {
    switch command.request {
    case .failure(let error):
        precondition(error.code >= 100 && error.code <= 112 && !error.message.isEmpty, "\(error)")
    case .success(.publish(let channel, let data)):
        precondition(!channel.isEmpty)
        guard let parsed = try? JSONValue.parse(data), parsed.jsonText == data else {
            fatalError("publication data is not compact JSON: \(data.debugDescription)")
        }
        sameInJSON(command, .object(["channel": .string(channel), "data": parsed]))
    case .success(.subscribe(let subscribe)):
        precondition(!subscribe.channel.isEmpty)
        precondition(subscribe.recovery.recover || subscribe.recovery == SubscriptionPosition())
        sameInJSON(command, .object([
            "channel": .string(subscribe.channel),
            "token": subscribe.token.isEmpty ? nil : .string(subscribe.token),
            "recover": subscribe.recovery.recover ? .bool(true) : nil,
            "offset": subscribe.recovery.recover ? .integer(subscribe.recovery.position.offset) : nil,
            "epoch": subscribe.recovery.recover ? .string(subscribe.recovery.position.epoch) : nil,
            "positioned": .bool(subscribe.positioned),
            "recoverable": .bool(subscribe.recoverable),
            "join_leave": .bool(subscribe.joinLeave),
            "flag": .integer(subscribe.flag),
        ]))
    case .success:
        break
    }
}

/// The JSON format decodes `params` under the same id and method to the same request.
func sameInJSON(_ command: ClientCommand, _ params: JSONValue) {
    let line = JSONValue.object(["id": .integer(command.id), command.method.rawValue: params]).jsonText
    guard let json = try? JSONFormat.decode(Substring(line)), case .success(let request) = json.request,
          case .success(let original) = command.request
    else {
        fatalError("the JSON format refused what the Protobuf format took: \(line)")
    }
    precondition(json.id == command.id && json.method == command.method)
    precondition(String(describing: request) == String(describing: original), "\(request) != \(original)")
}
