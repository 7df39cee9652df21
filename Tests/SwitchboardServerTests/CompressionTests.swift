import Foundation
import NIOCore
import Switchboard
import Testing

@testable import SwitchboardServer

/// permessage-deflate against a real server on loopback, with a raw client that compresses its own
/// frames and reads the server's RSV1 bit.
///
/// Serialized: the broadcast test counts the process's compressions before and after.
@Suite(.serialized) struct CompressionTests {
    static let offer = ["Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"]
    static let long = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 20)

    private func compressed(_ text: String) throws -> [UInt8] {
        let deflated = try #require(MessageDeflate.compress(ByteBuffer(string: text), windowBits: 15))
        return Array(deflated.readableBytesView)
    }

    private func inflated(_ payload: [UInt8]) throws -> String {
        String(buffer: try MessageInflater(noContextTakeover: true).inflate(ByteBuffer(bytes: payload), limit: 1 << 20, allocator: ByteBufferAllocator()))
    }

    @Test func handshakeAnswersTheOfferOnlyWhenCompressionIsOn() async throws {
        try await withServer({ $0.compression.isEnabled = true }) { server in
            let raw = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            #expect(raw.responseHead.lowercased().contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover\r\n"))
            let declined = try await RawWebSocket.connect(
                port: server.port,
                path: "/echo",
                headers: ["Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=99"]
            )
            #expect(!declined.responseHead.lowercased().contains("sec-websocket-extensions"))
        }
        try await withServer { server in
            let raw = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            #expect(!raw.responseHead.lowercased().contains("sec-websocket-extensions"), "compression is off by default")
        }
    }

    @Test func compressedMessagesRoundTripThroughEcho() async throws {
        try await withServer({ $0.compression.isEnabled = true }) { server in
            let raw = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            // Compressed in, compressed out (over the 128-byte threshold).
            try await raw.sendFrame(first: 0xC1, payload: try self.compressed(Self.long))
            let echo = try await raw.readDataFrame()
            #expect(echo.first == 0xC1, "FIN + RSV1 + text")
            #expect(try self.inflated(echo.payload) == Self.long)
            // Uncompressed in is fine too; a short message goes out plain.
            try await raw.sendText("short")
            let short = try await raw.readDataFrame()
            #expect(short.first == 0x81)
            #expect(String(decoding: short.payload, as: UTF8.self) == "short")
            // A compressed message in two fragments: RSV1 on the first only.
            let bytes = try self.compressed(Self.long)
            try await raw.sendFrame(first: 0x41, payload: Array(bytes[..<10]))
            try await raw.sendFrame(first: 0x80, payload: Array(bytes[10...]))
            #expect(try self.inflated(try await raw.readDataFrame().payload) == Self.long)
        }
    }

    @Test func aZipBombClosesWith1009() async throws {
        try await withServer({
            $0.compression.isEnabled = true
            $0.maxMessageSize = 65536
        }) { server in
            let raw = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            let bomb = try #require(MessageDeflate.compress(ByteBuffer(repeating: UInt8(ascii: "a"), count: 8 << 20), windowBits: 15, level: 9))
            #expect(bomb.readableBytes < 16 << 10, "8 MiB in a few KiB")
            try await raw.sendFrame(first: 0xC1, payload: Array(bomb.readableBytesView))
            #expect(try await raw.readCloseFrame().code == 1009)
        }
    }

    @Test func rsv1MisuseClosesWith1002() async throws {
        try await withServer({ $0.compression.isEnabled = true }) { server in
            // Not negotiated: this client offered nothing.
            let plain = try await RawWebSocket.connect(port: server.port, path: "/echo")
            try await plain.sendFrame(first: 0xC1, payload: try self.compressed("hello"))
            #expect(try await plain.readCloseFrame().code == 1002)
            // On a continuation frame.
            let continuation = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            try await continuation.sendFrame(first: 0x01, payload: Array("hel".utf8))
            try await continuation.sendFrame(first: 0xC0, payload: Array("lo".utf8))
            #expect(try await continuation.readCloseFrame().code == 1002)
            // On a control frame.
            let ping = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            try await ping.sendFrame(first: 0xC9, payload: [])
            #expect(try await ping.readCloseFrame().code == 1002)
            // RSV2 is never allowed.
            let rsv2 = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            try await rsv2.sendFrame(first: 0xA1, payload: Array("x".utf8))
            #expect(try await rsv2.readCloseFrame().code == 1002)
            // Compressed bytes that are not DEFLATE.
            let corrupt = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            try await corrupt.sendFrame(first: 0xC2, payload: [0xFF, 0xFF, 0xFF])
            #expect(try await corrupt.readCloseFrame().code == 1007)
            // Compressed text that inflates to invalid UTF-8.
            let utf8 = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            let bad = try #require(MessageDeflate.compress(ByteBuffer(bytes: [0x61, 0xC3, 0x28, 0x62]), windowBits: 15))
            try await utf8.sendFrame(first: 0xC1, payload: Array(bad.readableBytesView))
            #expect(try await utf8.readCloseFrame().code == 1007)
        }
        // Compression off: RSV1 is a protocol error even after an offer.
        try await withServer { server in
            let raw = try await RawWebSocket.connect(port: server.port, path: "/echo", headers: Self.offer)
            try await raw.sendFrame(first: 0xC1, payload: try self.compressed("hello"))
            #expect(try await raw.readCloseFrame().code == 1002)
        }
    }

    @Test func aBroadcastIsCompressedOnceForEverySubscriber() async throws {
        try await withServer({ $0.compression.isEnabled = true }) { server in
            let count = 40
            var clients: [RawWebSocket] = []
            for index in 0..<count {
                // Half of them allowed only a 1 KiB window: they share the frame all the same.
                let offer = index.isMultiple(of: 2) ? Self.offer : ["Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=10"]
                clients.append(try await RawWebSocket.connect(port: server.port, path: "/ws/\(index)", headers: offer))
            }
            #expect(await eventually { server.chatMembers == count })
            let before = MessageDeflate.compressions.withLockedValue { $0 }
            server.sayInChat(Self.long)
            var frames: Set<[UInt8]> = []
            for client in clients {
                // Skip the (short, uncompressed) join announcements.
                var frame = try await client.readDataFrame()
                while frame.first & 0x40 == 0 { frame = try await client.readDataFrame() }
                #expect(frame.first == 0xC1)
                frames.insert(frame.payload)
            }
            #expect(frames.count == 1, "every subscriber got the same compressed bytes")
            #expect(try self.inflated(try #require(frames.first)).contains(Self.long))
            #expect(MessageDeflate.compressions.withLockedValue { $0 } - before == 1, "one compression for \(count) subscribers")
        }
    }

    @Test func aMessageIsCompressedOnceAndEveryCopySharesTheFrame() throws {
        let before = MessageDeflate.compressions.withLockedValue { $0 }
        let compression = OutboundCompression(minimumSize: 128, windowBits: 15)
        let message = OutboundMessage.text(Self.long)
        let copies = Array(repeating: message, count: 50)
        let frames = copies.map { compression.frame(for: $0) }
        // Every frame is the same storage: compressed once, shared.
        let addresses = Set(frames.map { frame in frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } })
        #expect(addresses.count == 1)
        let frame = try #require(frames.first)
        #expect(frame.getInteger(at: 0, as: UInt8.self) == 0xC1, "FIN + RSV1 + text")
        #expect(frame.readableBytes < message.frame.readableBytes)
        // Another connection with a smaller window reads the same frame: the message is shorter than 2^10.
        let small = OutboundCompression(minimumSize: 128, windowBits: 10)
        #expect(small.frame(for: message).withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == addresses.first)
        #expect(MessageDeflate.compressions.withLockedValue { $0 } - before == 1)
    }

    @Test func configurationFileAndDefaults() throws {
        #expect(SwitchboardConfiguration().compression == WebSocketCompression(isEnabled: false, minimumSize: 128, level: 1))
        var configuration = SwitchboardConfiguration()
        let file = #"{"websocket_compression": true, "websocket_compression_min_size": 512, "websocket_compression_level": 6}"#
        try ConfigurationFile.apply(document: try JSONValue.parse(file), to: &configuration)
        #expect(configuration.compression == WebSocketCompression(isEnabled: true, minimumSize: 512, level: 6))
        #expect(throws: (any Error).self) {
            try ConfigurationFile.apply(document: try JSONValue.parse(#"{"websocket_compression_level": 10}"#), to: &configuration)
        }
        #expect(throws: (any Error).self) {
            try ConfigurationFile.apply(document: try JSONValue.parse(#"{"websocket_compression_min_size": -1}"#), to: &configuration)
        }
    }
}
