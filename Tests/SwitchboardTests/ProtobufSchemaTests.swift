import CentrifugeProtobuf
import Foundation
import SwiftProtobuf
import Testing

private typealias Command = Centrifugal_Centrifuge_Protocol_Command
private typealias Reply = Centrifugal_Centrifuge_Protocol_Reply

/// The committed Protobuf schema (Sources/CentrifugeProtobuf/client.proto and its generated
/// client.pb.swift): values survive a round trip, and the bytes agree with what the
/// centrifuge-python 0.7.0 SDK (its client_pb2) puts on the wire. The hex fixtures were made with
/// that SDK's client_pb2, by the snippet next to each one; they pin every field number they use.
@Suite struct ProtobufSchemaTests {
    @Test func commandWithConnectAndSubscribeRoundTrips() throws {
        var connect = Command()
        connect.id = 1
        connect.connect.token = "jwt"
        connect.connect.name = "swift"
        connect.connect.subs["news"] = .with {
            $0.recover = true
            $0.offset = 7
            $0.epoch = "ep"
        }
        var subscribe = Command()
        subscribe.id = 2
        subscribe.subscribe = .with {
            $0.channel = "news"
            $0.recover = true
            $0.offset = 5
            $0.epoch = "e"
            $0.joinLeave = true
            $0.flag = 1
        }
        for command in [connect, subscribe] {
            let bytes: [UInt8] = try command.serializedBytes()
            let decoded = try Command(serializedBytes: bytes)
            #expect(decoded == command)
        }
        let decoded = try Command(serializedBytes: try connect.serializedBytes() as [UInt8])
        #expect(decoded.hasConnect && !decoded.hasSubscribe)
        #expect(decoded.connect.subs["news"]?.offset == 7)
    }

    @Test func replyWithPushedPublicationRoundTrips() throws {
        var reply = Reply()
        reply.push.channel = "news"
        reply.push.pub = .with {
            $0.data = Data(#"{"a":1}"#.utf8)
            $0.offset = 9
            $0.tags = ["k": "v"]
            $0.info = .with {
                $0.user = "u"
                $0.client = "c"
            }
        }
        let bytes: [UInt8] = try reply.serializedBytes()
        let decoded = try Reply(serializedBytes: bytes)
        #expect(decoded == reply)
        #expect(decoded.id == 0 && decoded.hasPush && decoded.push.hasPub && !decoded.hasError)
        #expect(decoded.push.pub.info.user == "u")
    }

    /// `pb.Command(id=1, subscribe=pb.SubscribeRequest(channel="news", recover=True, offset=5,
    /// epoch="e", flag=1, positioned=True, recoverable=True, join_leave=True, delta="fossil",
    /// data=b"\x01\x02", token="t"))`
    @Test func subscribeCommandFromCentrifugePython() throws {
        let python = try hex("08012a240a046e65777312017418013201653805420201024801500158016206666f7373696c7001")
        let command = try Command(serializedBytes: python)
        #expect(command.id == 1)
        #expect(command.hasSubscribe && !command.hasConnect)
        let request = command.subscribe
        #expect(request.channel == "news" && request.token == "t")
        #expect(request.recover && request.offset == 5 && request.epoch == "e")
        #expect(request.data == Data([1, 2]))
        #expect(request.positioned && request.recoverable && request.joinLeave)
        #expect(request.delta == "fossil" && request.flag == 1)
        #expect(command.unknownFields.data.isEmpty && request.unknownFields.data.isEmpty)
        #expect(try command.serializedBytes() == python)
    }

    /// `pb.Command(id=2, connect=pb.ConnectRequest(token="jwt", name="py", version="0.7.0",
    /// data=b"{}", subs={"news": pb.SubscribeRequest(recover=True, offset=7, epoch="ep")},
    /// headers={"h": "v"}, flag=3))`
    @Test func connectCommandFromCentrifugePython() throws {
        let python = try hex(
            "080222300a036a777412027b7d1a100a046e65777312081801320265703807220270792a05302e372e3032060a01681201763803")
        let command = try Command(serializedBytes: python)
        #expect(command.id == 2 && command.hasConnect)
        let request = command.connect
        #expect(request.token == "jwt" && request.name == "py" && request.version == "0.7.0")
        #expect(request.data == Data("{}".utf8) && request.headers == ["h": "v"] && request.flag == 3)
        #expect(request.subs.count == 1)
        #expect(request.subs["news"]?.recover == true && request.subs["news"]?.offset == 7 && request.subs["news"]?.epoch == "ep")
        #expect(request.unknownFields.data.isEmpty)
        #expect(try command.serializedBytes() == python)
    }

    /// `pb.Command(id=3, history=pb.HistoryRequest(channel="news", limit=10,
    /// since=pb.StreamPosition(offset=4, epoch="e"), reverse=True))`
    @Test func historyCommandFromCentrifugePython() throws {
        let python = try hex("080352110a046e657773380a420508041201654801")
        let command = try Command(serializedBytes: python)
        #expect(command.id == 3 && command.hasHistory)
        #expect(command.history.channel == "news" && command.history.limit == 10 && command.history.reverse)
        #expect(command.history.since.offset == 4 && command.history.since.epoch == "e")
        #expect(try command.serializedBytes() == python)
    }

    /// What the SDK must decode: the same Reply built here gives client_pb2's bytes for
    /// `pb.Reply(push=pb.Push(channel="news", pub=pb.Publication(data=b'{"a":1}', offset=9,
    /// tags={"k": "v"}, info=pb.ClientInfo(user="u", client="c"), delta=True, time=1700000000000,
    /// channel="news")))`.
    @Test func pushedPublicationMatchesCentrifugePython() throws {
        let python = try hex(
            "223212046e657773222a22077b2261223a317d2a060a017512016330093a060a016b12017640014880d095ffbc3152046e657773")
        var reply = Reply()
        reply.push.channel = "news"
        reply.push.pub = .with {
            $0.data = Data(#"{"a":1}"#.utf8)
            $0.info = .with {
                $0.user = "u"
                $0.client = "c"
            }
            $0.offset = 9
            $0.tags = ["k": "v"]
            $0.delta = true
            $0.time = 1_700_000_000_000
            $0.channel = "news"
        }
        #expect(try reply.serializedBytes() == python)
        #expect(try Reply(serializedBytes: python) == reply)
    }
}

private struct BadHex: Error {}

private func hex(_ text: String) throws -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        guard let byte = UInt8(text[index..<next], radix: 16) else { throw BadHex() }
        bytes.append(byte)
        index = next
    }
    return bytes
}
