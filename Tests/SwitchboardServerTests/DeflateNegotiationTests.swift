import NIOCore
import Switchboard
import Testing

@testable import SwitchboardServer

/// permessage-deflate's handshake (RFC 7692 §5, §7.1): which offers are accepted, and the answer.
@Suite struct DeflateNegotiationTests {
    private func negotiate(_ headers: String...) -> DeflateParameters? {
        DeflateParameters.negotiate(headers)
    }

    @Test func plainOfferIsAcceptedWithServerNoContextTakeover() {
        let accepted = self.negotiate("permessage-deflate")
        #expect(accepted == DeflateParameters())
        #expect(accepted?.responseHeader == "permessage-deflate; server_no_context_takeover")
    }

    @Test func noOfferOrOtherExtensionsMeanNoCompression() {
        #expect(self.negotiate() == nil)
        #expect(self.negotiate("x-webkit-deflate-frame") == nil)
        #expect(self.negotiate("") == nil)
    }

    @Test func contextTakeoverParameters() {
        let both = self.negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(both?.clientNoContextTakeover == true)
        #expect(both?.responseHeader == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        // With a value they are malformed: declined.
        #expect(self.negotiate("permessage-deflate; client_no_context_takeover=1") == nil)
        #expect(self.negotiate("permessage-deflate; server_no_context_takeover=true") == nil)
    }

    @Test func serverMaxWindowBitsNeedsAValueInRangeAndIsEchoed() {
        let ten = self.negotiate("permessage-deflate; server_max_window_bits=10")
        #expect(ten?.serverMaxWindowBits == 10)
        #expect(ten?.responseHeader == "permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
        #expect(self.negotiate("permessage-deflate; server_max_window_bits=8")?.serverMaxWindowBits == 8)
        #expect(self.negotiate(#"permessage-deflate; server_max_window_bits="12""#)?.serverMaxWindowBits == 12)
        for bad in ["", "=", "=7", "=16", "=010", "=09", "=abc", "=1 0", #"="15"#] {
            #expect(self.negotiate("permessage-deflate; server_max_window_bits\(bad)") == nil, "server_max_window_bits\(bad)")
        }
    }

    @Test func clientMaxWindowBitsWithOrWithoutValue() {
        #expect(self.negotiate("permessage-deflate; client_max_window_bits") == DeflateParameters())
        #expect(self.negotiate("permessage-deflate; client_max_window_bits=9") == DeflateParameters())
        // Not named in the answer: the server reads any window up to 15.
        #expect(self.negotiate("permessage-deflate; client_max_window_bits")?.responseHeader == "permessage-deflate; server_no_context_takeover")
        #expect(self.negotiate("permessage-deflate; client_max_window_bits=7") == nil)
        #expect(self.negotiate("permessage-deflate; client_max_window_bits=16") == nil)
    }

    @Test func unknownOrRepeatedParametersDeclineTheOfferAndTheNextOneIsTaken() {
        #expect(self.negotiate("permessage-deflate; mystery") == nil)
        #expect(self.negotiate("permessage-deflate; server_no_context_takeover; server_no_context_takeover") == nil)
        #expect(self.negotiate("permessage-deflate; client_max_window_bits; client_max_window_bits=10") == nil)
        let fallback = self.negotiate("permessage-deflate; server_max_window_bits=20, permessage-deflate; client_no_context_takeover")
        #expect(fallback?.clientNoContextTakeover == true)
        #expect(fallback?.serverWindowBitsOffered == false)
        // Offers in a second header line count too, after the first line's.
        #expect(self.negotiate("permessage-deflate; bogus", "permessage-deflate; server_max_window_bits=11")?.serverMaxWindowBits == 11)
    }

    @Test func malformedHeadersDeclineWithoutCrashing() {
        let junk = [
            ";;;", ",,,", "permessage-deflate;", "permessage-deflate; =", "permessage-deflate; server_max_window_bits=\"",
            "permessage-deflate; server_max_window_bits=\"1\\", "\"permessage-deflate\"", "permessage-deflate; a b",
            "permessage-deflate; server_max_window_bits=\"1\"0\"", String(repeating: "permessage-deflate; x=\"", count: 200),
            "permessage-deflate\u{0}", "permessage-dëflate",
        ]
        for header in junk {
            #expect(self.negotiate(header) == nil, "\(header.prefix(60))")
        }
        // A good offer after a broken one still counts.
        #expect(self.negotiate("permessage-deflate; =, permessage-deflate") == DeflateParameters())
        // Names are case-insensitive tokens; whitespace around them is allowed.
        #expect(self.negotiate("  PerMessage-Deflate ;\tClient_No_Context_Takeover ")?.clientNoContextTakeover == true)
    }

    @Test func offersAreParsedWithQuotedCommas() {
        let offers = ExtensionOffer.parse(#"foo; a="x,y", permessage-deflate; client_max_window_bits"#)
        #expect(offers.map(\.name) == ["foo", "permessage-deflate"])
        #expect(offers[0].isWellFormed == false)  // "x,y" is not a token once unquoted
        #expect(offers[1].parameters.map(\.name) == ["client_max_window_bits"])
    }
}

/// The compression itself: one compressed frame per message, whatever the number of recipients;
/// inflating within the message size limit.
@Suite struct MessageDeflateTests {
    private static let chat = String(repeating: #"{"user":"alice","text":"hello everyone, how is it going?"}"#, count: 8)

    @Test func smallOrIncompressibleMessagesGoOutPlain() {
        let compression = OutboundCompression(minimumSize: 128, windowBits: 15)
        let short = OutboundMessage.text("hi there")
        #expect(compression.frame(for: short) == short.frame)
        // Random bytes do not shrink: compressing them would only cost the client an inflate.
        let noise = OutboundMessage.binary(ByteBuffer(bytes: (0..<600).map { _ in UInt8.random(in: 0...255) }))
        #expect(compression.frame(for: noise) == noise.frame)
        // A client that allowed only a 256-byte window gets large messages plain (zlib cannot do 256).
        let big = OutboundMessage.text(Self.chat)
        #expect(OutboundCompression(minimumSize: 0, windowBits: 8).frame(for: big) == big.frame)
    }

    @Test func roundTripThroughTheInflater() throws {
        let compressed = try #require(MessageDeflate.compress(ByteBuffer(string: Self.chat), windowBits: 15))
        let inflater = MessageInflater(noContextTakeover: false)
        for _ in 0..<3 {
            let inflated = try inflater.inflate(compressed, limit: 1 << 16, allocator: ByteBufferAllocator())
            #expect(String(buffer: inflated) == Self.chat)
        }
    }

    @Test func aZipBombStopsAtTheLimit() throws {
        // 16 MiB of zeros deflate to about 16 KiB.
        let zeros = ByteBuffer(repeating: 0, count: 16 << 20)
        let bomb = try #require(MessageDeflate.compress(zeros, windowBits: 15, level: 9))
        #expect(bomb.readableBytes < 64 << 10)
        let inflater = MessageInflater(noContextTakeover: true)
        #expect(throws: MessageInflater.Failure.tooLarge) { try inflater.inflate(bomb, limit: 65536, allocator: ByteBufferAllocator()) }
        // Exactly at the limit is fine.
        let exact = try #require(MessageDeflate.compress(ByteBuffer(repeating: 0, count: 65536), windowBits: 15))
        #expect(try inflater.inflate(exact, limit: 65536, allocator: ByteBufferAllocator()).readableBytes == 65536)
        #expect(throws: MessageInflater.Failure.corrupt) { try inflater.inflate(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF]), limit: 100, allocator: ByteBufferAllocator()) }
    }
}
