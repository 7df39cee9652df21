import HummingbirdWSClient
import NIOCore
import Testing

@Suite struct EchoEndpointTests {
    @Test func echoesTextWithPrefixAndBinaryVerbatim() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/ws"))
            try await client.send("hello")
            #expect(try await client.next() == .text("Message text was: hello"))
            try await client.send(binary: [0, 1, 2, 255])
            #expect(try await client.next() == .binary(ByteBuffer(bytes: [0, 1, 2, 255])))
            try await client.send("")
            #expect(try await client.next() == .text("Message text was: "))
            try await client.close()
        }
    }

    @Test func threeHundredMessagesComeBackInOrder() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/ws"))
            for i in 0..<300 { try await client.send("message \(i)") }
            for i in 0..<300 { #expect(try await client.nextText() == "Message text was: message \(i)") }
            try await client.close()
        }
    }

    @Test func rawEchoReturnsMessagesUnchanged() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/echo"))
            try await client.send("héllo 🌍")
            #expect(try await client.next() == .text("héllo 🌍"))
            try await client.send(binary: Array(repeating: 7, count: 40_000))
            #expect(try await client.next() == .binary(ByteBuffer(bytes: Array(repeating: 7, count: 40_000))))
            try await client.close()
        }
    }

    @Test func rawEchoCanBeTurnedOff() async throws {
        try await withServer({ $0.echoEndpoint = false }) { server in
            await #expect(throws: WebSocketClientError.self) { try await TestClient.connect(server.url("/echo")) }
            // The tutorial echo stays.
            let client = try await TestClient.connect(server.url("/ws"))
            try await client.close()
        }
    }
}
