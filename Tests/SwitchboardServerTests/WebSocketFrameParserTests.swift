import NIOCore
import NIOWebSocket
import Switchboard
import Testing

@testable import SwitchboardServer

/// A client frame: masked with `mask`, header bits as given.
private func clientFrame(
    _ opcode: UInt8,
    _ payload: [UInt8],
    fin: Bool = true,
    rsv: UInt8 = 0,
    masked: Bool = true,
    mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
) -> [UInt8] {
    var frame: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
    let maskBit: UInt8 = masked ? 0x80 : 0
    if payload.count < 126 {
        frame.append(maskBit | UInt8(payload.count))
    } else if payload.count < 65536 {
        frame += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    } else {
        frame.append(maskBit | 127)
        frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
    }
    guard masked else { return frame + payload }
    return frame + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
}

/// Feed `bytes` in pieces of `step` bytes, keeping unread bytes for the next piece, as the
/// connection handler does; returns every event.
private func feedInPieces(_ parser: inout WebSocketFrameParser, _ bytes: [UInt8], step: Int) -> [WebSocketFrameParser.Event] {
    var events: [WebSocketFrameParser.Event] = []
    var pending = ByteBuffer()
    var index = 0
    while index < bytes.count {
        pending.writeBytes(bytes[index..<min(index + step, bytes.count)])
        index += step
        events += parser.feed(&pending)
        pending.discardReadBytes()
    }
    return events
}

/// The data pieces of `events`, joined.
private func payload(of events: [WebSocketFrameParser.Event]) -> [UInt8] {
    events.flatMap { event -> [UInt8] in
        if case .data(let piece, _) = event { return Array(piece.readableBytesView) }
        return []
    }
}

private func violation(_ events: [WebSocketFrameParser.Event]) -> UInt16? {
    for case .violation(let reason) in events { return reason.code }
    return nil
}

/// Bytes that break the protocol, and the close code they get.
private let violations: [([UInt8], UInt16)] = [
    (clientFrame(0x1, [1], rsv: 0x40), 1002),  // RSV1 without an extension
    (clientFrame(0x1, [1], rsv: 0x10), 1002),  // RSV3
    (clientFrame(0x3, [1]), 1002),  // reserved data opcode
    (clientFrame(0xB, [1]), 1002),  // reserved control opcode
    (clientFrame(0x1, [1], masked: false), 1002),  // unmasked
    (clientFrame(0x9, [1], fin: false), 1002),  // fragmented ping
    (clientFrame(0x9, Array(repeating: 0, count: 126)), 1002),  // ping over 125 bytes
    (clientFrame(0x0, [1]), 1002),  // continuation of nothing
    (clientFrame(0x1, [1], fin: false) + clientFrame(0x1, [1]), 1002),  // new message inside one
    (clientFrame(0x2, Array(repeating: 0, count: 101)), 1009),  // over the frame size
    ([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1], 1002),  // 64-bit length with its top bit set
]

@Suite struct WebSocketFrameParserTests {
    @Test func wholeFrameComesOutAsOnePiece() {
        var parser = WebSocketFrameParser(maxFrameSize: 1 << 16)
        var buffer = ByteBuffer(bytes: clientFrame(0x1, Array("hello".utf8)))
        let events = parser.feed(&buffer)
        #expect(events == [
            .dataFrame(.init(fin: true, opcode: .text, length: 5)),
            .data(ByteBuffer(string: "hello"), frameEnd: true),
        ])
        #expect(buffer.readableBytes == 0)
    }

    @Test(arguments: [1, 2, 3, 7, 13, 64])
    func bytesArrivingInPiecesGiveTheSamePayload(step: Int) {
        let message = (0..<300).map { UInt8($0 % 251) }
        var parser = WebSocketFrameParser(maxFrameSize: 1 << 16)
        let bytes = clientFrame(0x2, message, fin: false) + clientFrame(0x9, [1, 2, 3]) + clientFrame(0x0, message)
        let events = feedInPieces(&parser, bytes, step: step)
        #expect(payload(of: events) == message + message)
        let headers = events.compactMap { event -> WebSocketFrameParser.Header? in
            if case .dataFrame(let header) = event { return header }
            return nil
        }
        #expect(headers == [.init(fin: false, opcode: .binary, length: 300), .init(fin: true, opcode: .continuation, length: 300)])
        #expect(events.contains(.control(.ping, ByteBuffer(bytes: [1, 2, 3]))))
        let ends = events.filter { if case .data(_, true) = $0 { return true } else { return false } }
        #expect(ends.count == 2)
        #expect(violation(events) == nil)
    }

    @Test func payloadPiecesComeOutBeforeTheFrameIsComplete() {
        var parser = WebSocketFrameParser(maxFrameSize: 1 << 16)
        let bytes = clientFrame(0x1, Array(repeating: UInt8(ascii: "a"), count: 1000))
        var buffer = ByteBuffer(bytes: bytes[0..<108])  // header (8) and 100 payload bytes
        let events = parser.feed(&buffer)
        #expect(events.count == 2)
        #expect(events.last == .data(ByteBuffer(repeating: UInt8(ascii: "a"), count: 100), frameEnd: false))
    }

    @Test func emptyDataFrameHasOneEmptyPiece() {
        var parser = WebSocketFrameParser(maxFrameSize: 10)
        var buffer = ByteBuffer(bytes: clientFrame(0x1, []))
        #expect(parser.feed(&buffer) == [.dataFrame(.init(fin: true, opcode: .text, length: 0)), .data(ByteBuffer(), frameEnd: true)])
    }

    @Test func controlFrameWaitsUntilWhole() {
        var parser = WebSocketFrameParser(maxFrameSize: 10)
        let bytes = clientFrame(0x8, [0x03, 0xE8, 0x62, 0x79, 0x65])
        var buffer = ByteBuffer(bytes: bytes.dropLast())
        #expect(parser.next(&buffer) == nil)
        #expect(buffer.readableBytes == bytes.count - 1)  // nothing consumed
        buffer.writeInteger(bytes.last!)
        #expect(parser.feed(&buffer) == [.control(.connectionClose, ByteBuffer(bytes: [0x03, 0xE8, 0x62, 0x79, 0x65]))])
    }

    @Test(arguments: violations)
    func violationsAreReportedOnceAndEndTheParse(bytes: [UInt8], code: UInt16) {
        var parser = WebSocketFrameParser(maxFrameSize: 100)
        var buffer = ByteBuffer(bytes: bytes + clientFrame(0x1, [1]))
        let events = parser.feed(&buffer)
        #expect(violation(events) == code)
        #expect(events.filter { if case .violation = $0 { return true } else { return false } }.count == 1)
        #expect(parser.hasFailed)
        var more = ByteBuffer(bytes: clientFrame(0x1, [1]))
        #expect(parser.next(&more) == nil)
    }

    @Test func oversizeFrameFailsOnItsHeaderBeforeThePayloadArrives() {
        var parser = WebSocketFrameParser(maxFrameSize: 1000)
        var buffer = ByteBuffer(bytes: clientFrame(0x2, Array(repeating: 0, count: 70000)).prefix(14))
        #expect(violation(parser.feed(&buffer)) == 1009)
    }

    @Test func unmaskMatchesBytewiseXORAtEveryOffsetAndLength() {
        let key: [UInt8] = [0x11, 0xA2, 0x5C, 0xF0]
        let keyWord = UInt32(key[0]) << 24 | UInt32(key[1]) << 16 | UInt32(key[2]) << 8 | UInt32(key[3])
        for length in 0..<40 {
            for offset in 0..<8 {
                let bytes = (0..<length).map { UInt8(($0 * 37 + 11) & 0xFF) }
                var buffer = ByteBuffer(bytes: bytes)
                WebSocketFrameParser.unmask(&buffer, key: keyWord, offset: offset)
                let expected = bytes.enumerated().map { $0.element ^ key[($0.offset + offset) % 4] }
                #expect(Array(buffer.readableBytesView) == expected, "length \(length) offset \(offset)")
            }
        }
    }
}

@Suite struct MessageAssemblerTests {
    @Test func invalidUTF8FailsInTheFirstPieceBeforeTheFrameEnds() {
        var assembler = MessageAssembler(maxMessageSize: 1 << 16)
        #expect(assembler.frameStarted(.init(fin: true, opcode: .text, length: 1000)) == nil)
        guard case .violation(let reason) = assembler.piece(ByteBuffer(bytes: [0x61, 0xC0, 0x80]), frameEnd: false) else {
            Issue.record("no violation for an overlong encoding")
            return
        }
        #expect(reason.code == 1007)
    }

    @Test func textEndingInsideACharacterFails() {
        var assembler = MessageAssembler(maxMessageSize: 1 << 16)
        _ = assembler.frameStarted(.init(fin: true, opcode: .text, length: 2))
        guard case .violation(let reason) = assembler.piece(ByteBuffer(bytes: [0x61, 0xE2]), frameEnd: true) else {
            Issue.record("no violation for a truncated character")
            return
        }
        #expect(reason.code == 1007)
    }

    @Test func messageTooLargeFailsWhenAFrameAnnouncesIt() {
        var assembler = MessageAssembler(maxMessageSize: 10)
        #expect(assembler.frameStarted(.init(fin: false, opcode: .binary, length: 6)) == nil)
        #expect(assembler.frameStarted(.init(fin: true, opcode: .continuation, length: 5))?.code == 1009)
    }

    @Test func piecesAndFragmentsMakeOneMessage() {
        var assembler = MessageAssembler(maxMessageSize: 100)
        _ = assembler.frameStarted(.init(fin: false, opcode: .text, length: 3))
        guard case .pending = assembler.piece(ByteBuffer(string: "h\u{e9}"), frameEnd: true) else {
            Issue.record("ended early")
            return
        }
        _ = assembler.frameStarted(.init(fin: true, opcode: .continuation, length: 3))
        guard case .pending = assembler.piece(ByteBuffer(string: "ll"), frameEnd: false) else {
            Issue.record("ended early")
            return
        }
        guard case .message(let opcode, let message, _) = assembler.piece(ByteBuffer(string: "o"), frameEnd: true) else {
            Issue.record("no message")
            return
        }
        #expect(opcode == .text)
        #expect(String(buffer: message) == "h\u{e9}llo")
    }

    @Test func oneWholeFrameIsHandedOnAsItIs() {
        var assembler = MessageAssembler(maxMessageSize: 100)
        _ = assembler.frameStarted(.init(fin: true, opcode: .binary, length: 3))
        let piece = ByteBuffer(bytes: [1, 2, 3])
        guard case .message(.binary, let message, _) = assembler.piece(piece, frameEnd: true) else {
            Issue.record("no message")
            return
        }
        #expect(message == piece)
    }
}

@Suite struct WebSocketKeyTests {
    @Test(arguments: ["dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA==", "+/+/+/+/+/+/+/+/+/+/+w=="])
    func sixteenBase64BytesAreAccepted(key: String) {
        #expect(WebSocketAcceptor.isValidKey(key))
    }

    @Test(arguments: ["", "abc", "dGhlIHNhbXBsZSBub25j", "dGhlIHNhbXBsZSBub25jZSE=", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25j!Q==", "dGhlIHNhbXBsZSBub25jZQ==="])
    func anythingElseIsRefused(key: String) {
        #expect(!WebSocketAcceptor.isValidKey(key))
    }
}
