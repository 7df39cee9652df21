import CentrifugeProtobuf
import Foundation
import NIOCore
import SwiftProtobuf
import Testing

@testable import Switchboard

// Delta compression in the hub's fan-out (Hub+Delta.swift): what subscribers that negotiated
// `delta: "fossil"` get, in both formats, applied with FossilDelta as the SDKs apply it.

private typealias PBReply = Centrifugal_Centrifuge_Protocol_Reply

/// A channel with history whose publications all go as deltas (`delta_publish`).
private let deltaOptions: Switchboard.ChannelOptions = {
    var options = Switchboard.ChannelOptions()
    options.historySize = 10
    options.historyTTL = .seconds(60)
    options.allowedDeltaTypes = [.fossil]
    options.deltaPublish = true
    return options
}()

private func subscriber(_ client: String, _ format: ProtocolFormat = .json, delta: Bool = true) -> Subscriber {
    var subscriber = Subscriber(info: ClientInfo(user: "u", client: client), outbox: Outbox(limit: 1 << 20), format: .protocolPush(format))
    subscriber.tracksPosition = true
    subscriber.delta = delta
    return subscriber
}

/// One publication as a client reads it: its data (bytes) and whether it is a delta.
private struct Received: Equatable {
    var data: [UInt8]
    var delta: Bool
    var offset: UInt64
}

/// The publications queued in a JSON subscriber's outbox; `asString` checks that data is a JSON
/// string (as a delta subscription gets it) rather than a value.
private func receivedJSON(_ outbox: Outbox, asString: Bool = true) throws -> [Received] {
    try outbox.drain().messages.map { message in
        let push = try JSONValue.parse(String(buffer: message.bytes))
        let pub = try #require(push["push"]?["pub"])
        let data = try #require(pub["data"])
        let bytes: [UInt8]
        if asString {
            bytes = Array(try #require(data.stringValue, "data is a JSON string").utf8)
        } else {
            #expect(data.stringValue == nil)
            bytes = Array(data.jsonText.utf8)
        }
        return Received(data: bytes, delta: pub["delta"]?.boolValue ?? false, offset: pub["offset"]?.integerValue(UInt64.self) ?? 0)
    }
}

private func receivedProtobuf(_ outbox: Outbox) throws -> [Received] {
    try outbox.drain().messages.map { message in
        var buffer = message.bytes
        _ = try #require(ProtobufFormat.readVarint(&buffer))
        let pub = try PBReply(serializedBytes: Array(buffer.readableBytesView)).push.pub
        return Received(data: Array(pub.data), delta: pub.delta, offset: pub.offset)
    }
}

/// What a client makes of `received`, applying each delta to the data before it, as the SDKs do.
private func applied(_ received: [Received]) throws -> [String] {
    var previous: [UInt8] = []
    return try received.map { publication in
        previous = publication.delta ? try FossilDelta.apply(publication.data, to: previous) : publication.data
        return String(decoding: previous, as: UTF8.self)
    }
}

/// Documents that differ in one field, so that each delta is much smaller than the document.
private func document(_ version: Int) -> String {
    #"{"board":"\#(String(repeating: "x", count: 200))","version":\#(version)}"#
}

@Suite struct HubDeltaTests {
    @Test func deltasAfterAWholeFirstPublicationInBothFormatsAndPlainForTheOthers() throws {
        let hub = Hub()
        let json = subscriber("j")
        let protobuf = subscriber("p", .protobuf)
        let plain = subscriber("n", delta: false)
        for member in [json, protobuf, plain] { hub.subscribe("doc", options: deltaOptions, subscriber: member) }
        let documents = (1...5).map(document)
        for text in documents { hub.publish("doc", options: deltaOptions, publication: Publication(data: text)) }

        let fromJSON = try receivedJSON(json.outbox)
        #expect(fromJSON.map(\.delta) == [false, true, true, true, true], "the first publication after subscribing is whole")
        #expect(fromJSON.map(\.offset) == [1, 2, 3, 4, 5])
        #expect(fromJSON.dropFirst().allSatisfy { $0.data.count < 40 }, "a delta is far smaller than the 230-byte document")
        #expect(try applied(fromJSON) == documents)

        let fromProtobuf = try receivedProtobuf(protobuf.outbox)
        #expect(fromProtobuf.map(\.delta) == [false, true, true, true, true])
        #expect(try applied(fromProtobuf) == documents)
        #expect(fromProtobuf.dropFirst().map(\.data) == fromJSON.dropFirst().map(\.data), "one delta, whatever the format")

        let fromPlain = try receivedJSON(plain.outbox, asString: false)
        #expect(fromPlain.map(\.delta) == [false, false, false, false, false])
        #expect(fromPlain.map { String(decoding: $0.data, as: UTF8.self) } == documents, "a subscriber without delta gets data as values")
    }

    @Test func oneDeltaFrameIsSharedByEverySubscriber() throws {
        let hub = Hub()
        let members = (0..<3).map { subscriber("c\($0)") }
        for member in members { hub.subscribe("doc", options: deltaOptions, subscriber: member) }
        hub.publish("doc", options: deltaOptions, publication: Publication(data: document(1)))
        for member in members { _ = member.outbox.drain() }
        hub.publish("doc", options: deltaOptions, publication: Publication(data: document(2)))
        let frames = members.map { $0.outbox.drain().messages[0].frame }
        let addresses = frames.map { $0.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
        #expect(Set(addresses).count == 1, "the delta is framed once and its bytes shared")
    }

    @Test func wholeWhenNotAskedNotSmallerOrNotText() throws {
        var options = deltaOptions
        options.deltaPublish = false
        let hub = Hub()
        let json = subscriber("j")
        let protobuf = subscriber("p", .protobuf)
        hub.subscribe("doc", options: options, subscriber: json)
        hub.subscribe("doc", options: options, subscriber: protobuf)
        var asked = Publication(data: document(2))
        asked.delta = true
        // "é" is C3 A9 and "è" C3 A8: the delta from one to the other inserts A8 alone, which is no text.
        let accents = #""\#(String(repeating: "é", count: 40))""#
        var accentsChanged = Publication(data: #""\#(String(repeating: "é", count: 20))è\#(String(repeating: "é", count: 19))""#)
        accentsChanged.delta = true
        var unrelated = Publication(data: #"[1,2,3]"#)
        unrelated.delta = true
        let sent = [Publication(data: document(1)), asked, Publication(data: document(3)), Publication(data: accents), accentsChanged, unrelated]
        for publication in sent { hub.publish("doc", options: options, publication: publication) }

        let fromJSON = try receivedJSON(json.outbox)
        #expect(fromJSON.map(\.delta) == [false, true, false, false, false, false], "asked, and only then; not text in JSON; not smaller")
        #expect(try applied(fromJSON) == sent.map(\.data))
        let fromProtobuf = try receivedProtobuf(protobuf.outbox)
        #expect(fromProtobuf.map(\.delta) == [false, true, false, false, true, false], "bytes need not be text")
        #expect(try applied(fromProtobuf) == sent.map(\.data))
    }

    @Test func heldAndFlooredPublicationsAreWholeAndDeltasStartAfterTheFirstDirectOne() throws {
        let hub = Hub()
        let early = subscriber("early")
        hub.subscribe("doc", options: deltaOptions, subscriber: early)
        for version in 1...2 { hub.publish("doc", options: deltaOptions, publication: Publication(data: document(version))) }
        // An engine's subscribe: begun, the stream read (up to 3), publications 3 and 4 arrive meanwhile.
        let late = subscriber("late", .protobuf)
        hub.beginSubscribe("doc", options: deltaOptions, subscriber: late)
        for version in 3...4 { hub.publish("doc", options: deltaOptions, publication: Publication(data: document(version))) }
        let outcome = Hub.SubscribeOutcome(position: StreamPosition(offset: 3, epoch: "e"))
        #expect(hub.completeSubscribe("doc", client: "late", outcome: outcome) { _ in nil })
        for version in 5...6 { hub.publish("doc", options: deltaOptions, publication: Publication(data: document(version))) }

        let fromLate = try receivedProtobuf(late.outbox)
        #expect(fromLate.map(\.offset) == [4, 5, 6], "3 was covered by the outcome and dropped")
        #expect(fromLate.map(\.delta) == [false, false, true], "held: whole; the first direct one: whole; then deltas")
        #expect(try applied(fromLate) == (4...6).map(document))
        let fromEarly = try receivedJSON(early.outbox)
        #expect(fromEarly.map(\.delta) == [false, true, true, true, true, true])
        #expect(try applied(fromEarly) == (1...6).map(document))
    }

    @Test func aSubscriberThatLeavesAndComesBackStartsWhole() throws {
        let hub = Hub()
        let member = subscriber("c")
        hub.subscribe("doc", options: deltaOptions, subscriber: member)
        hub.publish("doc", options: deltaOptions, publication: Publication(data: document(1)))
        hub.publish("doc", options: deltaOptions, publication: Publication(data: document(2)))
        #expect(try receivedJSON(member.outbox).map(\.delta) == [false, true])
        hub.unsubscribe("doc", client: "c")
        hub.publish("doc", options: deltaOptions, publication: Publication(data: document(3)))
        hub.subscribe("doc", options: deltaOptions, subscriber: member)
        hub.publish("doc", options: deltaOptions, publication: Publication(data: document(4)))
        hub.publish("doc", options: deltaOptions, publication: Publication(data: document(5)))
        let again = try receivedJSON(member.outbox)
        #expect(again.map(\.delta) == [false, true])
        #expect(try applied(again) == [document(4), document(5)])
    }
}
