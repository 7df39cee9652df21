import CentrifugeProtobuf
import Foundation
import NIOCore
import SwiftProtobuf
import Testing

@testable import Switchboard

// The client protocol's codecs without a socket: the Protobuf format's framing (varint-prefixed
// commands, the 0x00 pong, broken prefixes), every command decoded from bytes the generated
// `client.proto` types wrote, replies and pushes read back with those types, and the JSON format
// decoding the same commands to the same requests.

private typealias PBCommand = Centrifugal_Centrifuge_Protocol_Command
private typealias PBReply = Centrifugal_Centrifuge_Protocol_Reply

/// `value` as an unsigned varint.
private func varint(_ value: UInt64) -> [UInt8] {
    var value = value
    var out: [UInt8] = []
    while value >= 0x80 {
        out.append(UInt8(value & 0x7F) | 0x80)
        value >>= 7
    }
    out.append(UInt8(value))
    return out
}

/// One binary message holding `commands`, each prefixed by its length.
private func message(_ commands: PBCommand...) throws -> ByteBuffer {
    var bytes: [UInt8] = []
    for command in commands {
        let body: [UInt8] = try command.serializedBytes()
        bytes += varint(UInt64(body.count)) + body
    }
    return ByteBuffer(bytes: bytes)
}

/// The one command of a message that holds only `command`.
private func decoded(_ command: PBCommand) throws -> ClientCommand {
    let pieces = try ProtobufFormat.split(try message(command))
    try #require(pieces.count == 1)
    return try #require(try ProtobufFormat.decode(pieces[0]))
}

/// The command a JSON line decodes to.
private func decodedJSON(_ line: String) throws -> ClientCommand {
    try #require(try JSONFormat.decode(Substring(line)))
}

/// The reply in one length-prefixed message from the server; the prefix must cover exactly the rest.
private func parsedReply(_ buffer: ByteBuffer) throws -> PBReply {
    var buffer = buffer
    let length = try #require(ProtobufFormat.readVarint(&buffer))
    #expect(length == UInt64(buffer.readableBytes), "one reply per message, its length exactly")
    return try PBReply(serializedBytes: Array(buffer.readableBytesView))
}

/// Why a message is malformed, or `nil` when it splits.
private func malformedReason(_ bytes: [UInt8]) -> String? {
    do {
        _ = try ProtobufFormat.split(ByteBuffer(bytes: bytes))
        return nil
    } catch {
        guard case .malformed(let reason) = error else { return "not malformed: \(error)" }
        return reason
    }
}

private func request(_ command: ClientCommand) throws -> ClientRequest {
    try command.request.get()
}

private func requestError(_ command: ClientCommand) -> ProtocolError? {
    if case .failure(let error) = command.request { return error }
    return nil
}

@Suite struct ProtobufFramingTests {
    @Test func twoCommandsInOneMessageSplitInOrder() throws {
        var connect = PBCommand()
        connect.id = 1
        connect.connect.token = "a.b.c"
        var subscribe = PBCommand()
        subscribe.id = 2
        subscribe.subscribe.channel = "rooms:lobby"
        let pieces = try ProtobufFormat.split(try message(connect, subscribe))
        #expect(pieces.count == 2)
        let commands = try pieces.map { try #require(try ProtobufFormat.decode($0)) }
        #expect(commands.map(\.id) == [1, 2])
        #expect(commands.map(\.method) == [.connect, .subscribe])
    }

    @Test func aSingleZeroByteIsOneEmptyCommandThatIsAPong() throws {
        let pieces = try ProtobufFormat.split(ByteBuffer(bytes: [0]))
        #expect(pieces.count == 1 && pieces[0].readableBytes == 0)
        #expect(try ProtobufFormat.decode(pieces[0]) == nil)
        // A pong next to a command in one message.
        var ping = PBCommand()
        ping.id = 9
        ping.ping = .init()
        var bytes = [UInt8(0)]
        bytes += Array(try message(ping).readableBytesView)
        let both = try ProtobufFormat.split(ByteBuffer(bytes: bytes))
        #expect(both.count == 2)
        #expect(try ProtobufFormat.decode(both[0]) == nil)
        #expect(try ProtobufFormat.decode(both[1])?.method == .ping)
    }

    @Test(arguments: [[0x80], [0xFF, 0xFF], [0x02, 0x08, 0x01, 0x80]] as [[UInt8]])
    func aTruncatedVarintIsMalformed(bytes: [UInt8]) {
        let reason = malformedReason(bytes)
        #expect(reason?.contains("varint") == true, "\(reason ?? "split")")
    }

    @Test(arguments: [[0x05, 0x08, 0x01], [0x01], [0x02, 0x08, 0x01, 0x0A, 0x08]] as [[UInt8]])
    func aLengthBeyondTheEndIsMalformed(bytes: [UInt8]) {
        let reason = malformedReason(bytes)
        #expect(reason?.contains("follow") == true, "\(reason ?? "split")")
    }

    @Test func anEmptyMessageIsMalformed() {
        #expect(malformedReason([]) != nil)
    }

    @Test func tenByteVarintsWrapWithoutTrappingAndElevenAreRefused() {
        // The largest 10-byte varint: bits past 64 are dropped (as protobuf does), no overflow trap.
        var largest = ByteBuffer(bytes: Array(repeating: 0xFF, count: 9) + [0x01])
        #expect(ProtobufFormat.readVarint(&largest) == UInt64.max)
        #expect(largest.readableBytes == 0)
        var top = ByteBuffer(bytes: Array(repeating: 0x80, count: 9) + [0x7F])
        #expect(ProtobufFormat.readVarint(&top) == 1 << 63)
        // As a length prefix it announces far more than follows.
        #expect(malformedReason(Array(repeating: 0xFF, count: 9) + [0x01, 0x08]) != nil)
        // An eleventh byte is never read: too long.
        var tooLong = ByteBuffer(bytes: Array(repeating: 0x80, count: 10) + [0x00])
        #expect(ProtobufFormat.readVarint(&tooLong) == nil)
        #expect(tooLong.readableBytes == 11, "nothing consumed")
        #expect(malformedReason(Array(repeating: 0x80, count: 10) + [0x00])?.contains("varint") == true)
    }

    @Test func bytesThatAreNoCommandAreMalformed() throws {
        let pieces = try ProtobufFormat.split(ByteBuffer(bytes: [0x03, 0xFF, 0xFF, 0xFF]))
        #expect(throws: ClientCommand.DecodeError.self) { try ProtobufFormat.decode(pieces[0]) }
    }

    @Test func eachFormatRefusesTheOtherKindOfMessage() {
        #expect(throws: ClientCommand.DecodeError.self) { try ProtocolFormat.protobuf.split(.text("{\"id\":1,\"ping\":{}}")) }
        #expect(throws: ClientCommand.DecodeError.self) { try ProtocolFormat.json.split(.binary(ByteBuffer(bytes: [0]))) }
    }

    @Test func negotiation() {
        func negotiated(_ subprotocols: [String], _ query: [String: String] = [:]) -> String {
            let (format, subprotocol) = ProtocolFormat.negotiate(subprotocols: subprotocols, query: query)
            return "\(format) \(subprotocol ?? "-")"
        }
        #expect(negotiated(["centrifuge-protobuf"]) == "Protobuf centrifuge-protobuf")
        #expect(negotiated(["centrifuge-json", "centrifuge-protobuf"]) == "JSON centrifuge-json")
        #expect(negotiated(["other", "centrifuge-protobuf"]) == "Protobuf centrifuge-protobuf")
        #expect(negotiated([], ["format": "protobuf"]) == "Protobuf -")
        #expect(negotiated([], ["cf_protocol": "protobuf"]) == "Protobuf -")
        #expect(negotiated(["centrifuge-json"], ["format": "protobuf"]) == "JSON centrifuge-json")
        #expect(negotiated([]) == "JSON -")
    }
}

@Suite struct ProtobufCommandTests {
    @Test func connect() throws {
        var command = PBCommand()
        command.id = 1
        command.connect.token = "a.b.c"
        command.connect.data = Data(#"{"name": "Ann"}"#.utf8)
        var sub = Centrifugal_Centrifuge_Protocol_SubscribeRequest()
        sub.recover = true
        sub.offset = 4
        sub.epoch = "e1"
        command.connect.subs["rooms:a"] = sub
        guard case .connect(let connect) = try request(try decoded(command)) else { Issue.record("not connect"); return }
        #expect(connect.token == "a.b.c")
        #expect(connect.data?.jsonText == #"{"name":"Ann"}"#)
        #expect(connect.subs == ["rooms:a": SubscriptionPosition(recover: true, position: StreamPosition(offset: 4, epoch: "e1"))])
    }

    @Test func subscribeWithEverything() throws {
        var command = PBCommand()
        command.id = 2
        command.subscribe.channel = "rooms:a"
        command.subscribe.token = "t"
        command.subscribe.recover = true
        command.subscribe.epoch = "e1"
        command.subscribe.offset = 17
        command.subscribe.flag = 3
        command.subscribe.joinLeave = true
        command.subscribe.positioned = true
        command.subscribe.recoverable = true
        let decoded = try decoded(command)
        #expect(decoded.id == 2 && decoded.method == .subscribe)
        guard case .subscribe(let subscribe) = try request(decoded) else { Issue.record("not subscribe"); return }
        #expect(subscribe.channel == "rooms:a" && subscribe.token == "t")
        #expect(subscribe.recovery == SubscriptionPosition(recover: true, position: StreamPosition(offset: 17, epoch: "e1")))
        #expect(subscribe.flag & SubscribeRequest.Flag.rejectUnrecovered != 0)
        #expect(subscribe.joinLeave && subscribe.positioned && subscribe.recoverable)
    }

    @Test func subscribeWithoutRecoverIgnoresThePosition() throws {
        var command = PBCommand()
        command.id = 2
        command.subscribe.channel = "rooms:a"
        command.subscribe.epoch = "e1"
        command.subscribe.offset = 17
        guard case .subscribe(let subscribe) = try request(try decoded(command)) else { Issue.record("not subscribe"); return }
        #expect(subscribe.recovery == SubscriptionPosition())
        #expect(!subscribe.joinLeave && !subscribe.positioned && !subscribe.recoverable && subscribe.flag == 0)
    }

    @Test func subscribeWithoutAChannelIsError107() throws {
        var command = PBCommand()
        command.id = 2
        command.subscribe = .init()
        #expect(requestError(try decoded(command))?.code == 107)
    }

    @Test func publishWithJSONData() throws {
        var command = PBCommand()
        command.id = 3
        command.publish.channel = "rooms:a"
        command.publish.data = Data(#"{ "text" : "héllo", "n": [1, 2] }"#.utf8)
        guard case .publish(let channel, let data) = try request(try decoded(command)) else { Issue.record("not publish"); return }
        #expect(channel == "rooms:a")
        #expect(data == #"{"text":"héllo","n":[1,2]}"#, "compact JSON, as every format stores it")
    }

    @Test(arguments: [[0x00, 0x01, 0x02], Array("not json".utf8), Array(#"{"a": "#.utf8), [0x68, 0xE9, 0x6C]] as [[UInt8]])
    func publishWithBytesThatAreNotJSONIsError107(bytes: [UInt8]) throws {
        var command = PBCommand()
        command.id = 3
        command.publish.channel = "rooms:a"
        command.publish.data = Data(bytes)
        let decoded = try decoded(command)
        #expect(decoded.id == 3 && decoded.method == .publish, "a reply, not a closed connection")
        let error = try #require(requestError(decoded))
        #expect(error.code == 107)
        #expect(error.message.contains("not valid JSON"))
    }

    @Test func publishWithoutDataIsError107() throws {
        var command = PBCommand()
        command.id = 3
        command.publish.channel = "rooms:a"
        #expect(requestError(try decoded(command))?.code == 107)
    }

    @Test func historyWithSince() throws {
        var command = PBCommand()
        command.id = 4
        command.history.channel = "rooms:a"
        command.history.limit = 10
        command.history.reverse = true
        command.history.since.offset = 5
        command.history.since.epoch = "e1"
        guard case .history(let history) = try request(try decoded(command)) else { Issue.record("not history"); return }
        #expect(history.channel == "rooms:a" && history.limit == 10 && history.reverse)
        #expect(history.since == StreamPosition(offset: 5, epoch: "e1"))

        var withoutSince = PBCommand()
        withoutSince.id = 5
        withoutSince.history.channel = "rooms:a"
        withoutSince.history.limit = -1
        guard case .history(let all) = try request(try decoded(withoutSince)) else { Issue.record("not history"); return }
        #expect(all.since == nil && all.limit == -1 && !all.reverse)
    }

    @Test func theOtherMethods() throws {
        var commands: [(PBCommand, ClientCommand.Method)] = []
        var command = PBCommand()
        command.id = 6
        command.unsubscribe.channel = "rooms:a"
        commands.append((command, .unsubscribe))
        command = PBCommand()
        command.id = 7
        command.presence.channel = "rooms:a"
        commands.append((command, .presence))
        command = PBCommand()
        command.id = 8
        command.presenceStats.channel = "rooms:a"
        commands.append((command, .presenceStats))
        command = PBCommand()
        command.id = 9
        command.ping = .init()
        commands.append((command, .ping))
        command = PBCommand()
        command.id = 10
        command.rpc.method = "m"
        commands.append((command, .rpc))
        command = PBCommand()
        command.id = 11
        command.refresh.token = "t2"
        commands.append((command, .refresh))
        command = PBCommand()
        command.id = 12
        command.subRefresh.channel = "rooms:a"
        command.subRefresh.token = "t3"
        commands.append((command, .subRefresh))
        command = PBCommand()
        command.send.data = Data("{}".utf8)
        commands.append((command, .send))
        for (command, method) in commands {
            let decoded = try decoded(command)
            #expect(decoded.method == method)
            #expect(decoded.id == command.id)
            #expect(requestError(decoded) == nil, "\(method)")
        }
    }

    @Test func aCommandWithAnIdButNoMethodIsError104AndWithoutAnIdMalformed() throws {
        var command = PBCommand()
        command.id = 13
        do {
            _ = try decoded(command)
            Issue.record("decoded")
        } catch let error as ClientCommand.DecodeError {
            guard case .reply(let id, let reply) = error else { Issue.record("\(error)"); return }
            #expect(id == 13 && reply.code == 104)
        }
        // Only `send` may leave its id out.
        var ping = PBCommand()
        ping.ping = .init()
        #expect(throws: ClientCommand.DecodeError.self) { try decoded(ping) }
    }
}

@Suite struct ProtobufEncodingTests {
    let info = ClientInfo(user: "u1", client: "c1", connectionInfo: #"{"name":"Ann"}"#, channelInfo: #"{"role":"admin"}"#)

    @Test func aSubscribeReplyReadsBackWithTheGeneratedTypes() throws {
        let publication = Publication(offset: 3, data: #"{"a":1}"#, info: self.info, tags: ["k": "v"])
        let result = SubscribeResult(
            expiresIn: .seconds(90),
            recoverable: true,
            positioned: true,
            position: StreamPosition(offset: 3, epoch: "e1"),
            publications: [publication],
            wasRecovering: true,
            recovered: true
        )
        let reply = try parsedReply(ProtobufFormat.reply(id: 7, .subscribe(result)))
        #expect(reply.id == 7)
        let subscribe = reply.subscribe
        #expect(subscribe.recoverable && subscribe.positioned && subscribe.wasRecovering && subscribe.recovered)
        #expect(subscribe.epoch == "e1" && subscribe.offset == 3)
        #expect(subscribe.expires && subscribe.ttl == 90)
        #expect(subscribe.publications.count == 1)
        let pub = subscribe.publications[0]
        #expect(pub.offset == 3 && pub.data == Data(#"{"a":1}"#.utf8) && pub.tags == ["k": "v"])
        #expect(pub.info.user == "u1" && pub.info.client == "c1")
        #expect(pub.info.connInfo == Data(#"{"name":"Ann"}"#.utf8) && pub.info.chanInfo == Data(#"{"role":"admin"}"#.utf8))
    }

    @Test func aConnectReplyWithServerSideSubscriptions() throws {
        var connect = ConnectResult(client: "c1", version: "1.0", expiresIn: nil, ping: 25, pong: true)
        connect.subs = [("personal:#u1", SubscribeResult())]
        let reply = try parsedReply(ProtobufFormat.reply(id: 1, .connect(connect)))
        #expect(reply.id == 1 && reply.connect.client == "c1" && reply.connect.version == "1.0")
        #expect(reply.connect.ping == 25 && reply.connect.pong && !reply.connect.expires)
        #expect(Array(reply.connect.subs.keys) == ["personal:#u1"])
    }

    @Test func otherReplies() throws {
        let history = try parsedReply(ProtobufFormat.reply(id: 2, .history(HistoryResult(publications: [Publication(offset: 5, data: "[1]")], position: StreamPosition(offset: 5, epoch: "e")))))
        #expect(history.history.publications.map(\.offset) == [5] && history.history.epoch == "e" && history.history.offset == 5)
        let presence = try parsedReply(ProtobufFormat.reply(id: 3, .presence([self.info])))
        #expect(presence.presence.presence["c1"]?.user == "u1")
        let stats = try parsedReply(ProtobufFormat.reply(id: 4, .presenceStats(clients: 3, users: 2)))
        #expect(stats.presenceStats.numClients == 3 && stats.presenceStats.numUsers == 2)
        let ping = try parsedReply(ProtobufFormat.reply(id: 5, .ping))
        #expect(ping.id == 5 && ping.hasPing)
        let publish = try parsedReply(ProtobufFormat.reply(id: 6, .publish))
        #expect(publish.hasPublish && !publish.hasError)
    }

    @Test func anErrorReply() throws {
        let reply = try parsedReply(ProtobufFormat.error(id: 8, .badRequest("'data' is not valid JSON")))
        #expect(reply.id == 8 && reply.error.code == 107 && reply.error.message == "bad request: 'data' is not valid JSON")
        #expect(!reply.error.temporary)
    }

    @Test func pushes() throws {
        let pub = try parsedReply(ProtobufFormat.push(.publication(Publication(offset: 9, data: #""hi""#, info: self.info)), channel: "rooms:a"))
        #expect(pub.id == 0 && pub.push.channel == "rooms:a")
        #expect(pub.push.pub.offset == 9 && pub.push.pub.data == Data(#""hi""#.utf8) && pub.push.pub.info.user == "u1")
        let join = try parsedReply(ProtobufFormat.push(.join(self.info), channel: "rooms:a"))
        #expect(join.push.join.info.client == "c1")
        let leave = try parsedReply(ProtobufFormat.push(.leave(self.info), channel: "rooms:a"))
        #expect(leave.push.leave.info.client == "c1")
        let unsubscribe = try parsedReply(ProtobufFormat.push(.unsubscribe(code: 2000, reason: "server unsubscribe"), channel: "rooms:a"))
        #expect(unsubscribe.push.unsubscribe.code == 2000 && unsubscribe.push.unsubscribe.reason == "server unsubscribe")
        let subscribe = try parsedReply(ProtobufFormat.push(.subscribe(SubscribeResult(recoverable: true, position: StreamPosition(offset: 2, epoch: "e"))), channel: "rooms:b"))
        #expect(subscribe.push.channel == "rooms:b" && subscribe.push.subscribe.recoverable && subscribe.push.subscribe.offset == 2)
    }

    @Test func theFormatPicksTheMessageKind() {
        #expect(ProtocolFormat.protobuf.reply(id: 1, .ping).kind == .binary)
        #expect(ProtocolFormat.json.reply(id: 1, .ping).kind == .text)
        #expect(ProtocolFormat.protobuf.ping.bytes == ByteBuffer(bytes: [0]))
        #expect(ProtocolFormat.json.ping == .text("{}"))
    }
}

/// The same command in both formats decodes to the same request.
@Suite struct FormatsAgreeTests {
    private static func sameRequest(_ protobuf: PBCommand, _ json: String) throws {
        let fromProtobuf = try decoded(protobuf)
        let fromJSON = try decodedJSON(json)
        #expect(fromProtobuf.id == fromJSON.id)
        #expect(fromProtobuf.method == fromJSON.method)
        switch (fromProtobuf.request, fromJSON.request) {
        case (.success(let a), .success(let b)):
            #expect(String(describing: a) == String(describing: b), "\(json)")
        case (.failure(let a), .failure(let b)):
            #expect(a.code == b.code, "\(json)")
        default:
            Issue.record("one format refused what the other took: \(fromProtobuf.request) vs \(fromJSON.request)")
        }
    }

    @Test func subscribe() throws {
        var command = PBCommand()
        command.id = 2
        command.subscribe.channel = "rooms:a"
        command.subscribe.recover = true
        command.subscribe.epoch = "e1"
        command.subscribe.offset = 17
        command.subscribe.flag = 2
        command.subscribe.joinLeave = true
        command.subscribe.recoverable = true
        try Self.sameRequest(command, #"{"id":2,"subscribe":{"channel":"rooms:a","recover":true,"epoch":"e1","offset":"17","flag":2,"join_leave":true,"recoverable":true}}"#)
        command.subscribe.recover = false
        command.subscribe.epoch = ""
        command.subscribe.offset = 0
        try Self.sameRequest(command, #"{"id":2,"subscribe":{"channel":"rooms:a","flag":2,"join_leave":true,"recoverable":true}}"#)
    }

    @Test func recoverWithAnEmptyEpoch() throws {
        var command = PBCommand()
        command.id = 2
        command.subscribe.channel = "rooms:a"
        command.subscribe.recover = true
        command.subscribe.offset = 3
        try Self.sameRequest(command, #"{"id":2,"subscribe":{"channel":"rooms:a","recover":true,"offset":3}}"#)
    }

    @Test func publish() throws {
        var command = PBCommand()
        command.id = 3
        command.publish.channel = "rooms:a"
        command.publish.data = Data(#"{"a": [1, 2], "b": "é"}"#.utf8)
        try Self.sameRequest(command, #"{"id":3,"publish":{"channel":"rooms:a","data":{"a": [1, 2], "b": "é"}}}"#)
    }

    @Test func history() throws {
        var command = PBCommand()
        command.id = 4
        command.history.channel = "rooms:a"
        command.history.limit = 10
        command.history.since.offset = 5
        command.history.since.epoch = "e1"
        command.history.reverse = true
        try Self.sameRequest(command, #"{"id":4,"history":{"channel":"rooms:a","limit":10,"since":{"offset":5,"epoch":"e1"},"reverse":true}}"#)
    }

    @Test func connect() throws {
        var command = PBCommand()
        command.id = 1
        command.connect.token = "a.b.c"
        var sub = Centrifugal_Centrifuge_Protocol_SubscribeRequest()
        sub.recover = true
        sub.offset = 4
        sub.epoch = "e1"
        command.connect.subs["rooms:a"] = sub
        try Self.sameRequest(command, #"{"id":1,"connect":{"token":"a.b.c","subs":{"rooms:a":{"recover":true,"offset":4,"epoch":"e1"}}}}"#)
    }

    @Test func simpleMethods() throws {
        var command = PBCommand()
        command.id = 6
        command.unsubscribe.channel = "rooms:a"
        try Self.sameRequest(command, #"{"id":6,"unsubscribe":{"channel":"rooms:a"}}"#)
        command = PBCommand()
        command.id = 7
        command.presenceStats.channel = "rooms:a"
        try Self.sameRequest(command, #"{"id":7,"presence_stats":{"channel":"rooms:a"}}"#)
        command = PBCommand()
        command.id = 8
        command.ping = .init()
        try Self.sameRequest(command, #"{"id":8,"ping":{}}"#)
        command = PBCommand()
        command.id = 9
        command.subRefresh.channel = "rooms:a"
        command.subRefresh.token = "t"
        try Self.sameRequest(command, #"{"id":9,"sub_refresh":{"channel":"rooms:a","token":"t"}}"#)
    }

    @Test func theSameErrors() throws {
        var command = PBCommand()
        command.id = 3
        command.publish.channel = "rooms:a"
        try Self.sameRequest(command, #"{"id":3,"publish":{"channel":"rooms:a"}}"#)  // no data: 107
        command = PBCommand()
        command.id = 2
        command.subscribe = .init()
        try Self.sameRequest(command, #"{"id":2,"subscribe":{}}"#)  // no channel: 107
    }

    @Test func theEmptyCommandIsAPongInBoth() throws {
        #expect(try JSONFormat.decode("{}") == nil)
        #expect(try ProtobufFormat.decode(ByteBuffer()) == nil)
    }

    @Test func repliesCarryTheSameValues() throws {
        let result = SubscribeResult(recoverable: true, position: StreamPosition(offset: 12, epoch: "e9"), wasRecovering: true, recovered: true)
        let json = JSONFormat.reply(id: 5, .subscribe(result))
        let protobuf = try parsedReply(ProtobufFormat.reply(id: 5, .subscribe(result)))
        #expect(json["id"]?.integerValue(UInt32.self) == protobuf.id)
        let subscribe = try #require(json["subscribe"])
        #expect(subscribe["recoverable"]?.boolValue == protobuf.subscribe.recoverable)
        #expect(subscribe["epoch"]?.stringValue == protobuf.subscribe.epoch)
        #expect(subscribe["offset"]?.integerValue(UInt64.self) == protobuf.subscribe.offset)
        #expect(subscribe["recovered"]?.boolValue == protobuf.subscribe.recovered)
        #expect(subscribe["positioned"] == nil && !protobuf.subscribe.positioned)
    }
}
