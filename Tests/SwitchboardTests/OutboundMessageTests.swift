import NIOCore
import Testing

@testable import Switchboard

@Suite struct OutboundMessageTests {
    @Test(arguments: [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
    func framesWithTheShortestLengthEncoding(length: Int, headerLength: Int) {
        let payload = ByteBuffer(bytes: (0..<length).map { UInt8($0 % 251) })
        let message = OutboundMessage.binary(payload)
        let frame = Array(message.frame.readableBytesView)
        #expect(frame.count == headerLength + length)
        #expect(frame[0] == 0x82, "FIN and the binary opcode")
        switch headerLength {
        case 2:
            #expect(frame[1] == UInt8(length), "no mask bit: server frames are unmasked")
        case 4:
            #expect(frame[1] == 126)
            #expect(Int(frame[2]) << 8 | Int(frame[3]) == length)
        default:
            #expect(frame[1] == 127)
            #expect(frame[2..<10].reduce(0) { $0 << 8 | Int($1) } == length)
        }
        #expect(message.bytes == payload)
        #expect(message.byteCount == length)
    }

    @Test func textFrameCarriesUTF8() {
        let message = OutboundMessage.text("héllo")
        #expect(Array(message.frame.readableBytesView) == [0x81, 6] + Array("héllo".utf8))
        #expect(message.kind == .text)
        #expect(message != .binary(ByteBuffer(string: "héllo")))
    }
}
