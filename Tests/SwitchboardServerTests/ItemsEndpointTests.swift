import HummingbirdWSClient
import Testing

@Suite struct ItemsEndpointTests {
    @Test func tokenAndQueryParameter() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/items/foo/ws?token=some-key-token&q=42"))
            try await client.send("hi")
            #expect(try await client.nextText() == "Session cookie or query token value is: some-key-token")
            #expect(try await client.nextText() == "Query parameter q is: 42")
            #expect(try await client.nextText() == "Message text was: hi, for item ID: foo")
            try await client.close()
        }
    }

    @Test func sessionCookieWithoutQ() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/items/bar/ws"), headers: [.cookie: "session=cookie-value"])
            try await client.send("one")
            #expect(try await client.nextText() == "Session cookie or query token value is: cookie-value")
            #expect(try await client.nextText() == "Message text was: one, for item ID: bar")
            try await client.send("two")
            #expect(try await client.nextText() == "Session cookie or query token value is: cookie-value")
            #expect(try await client.nextText() == "Message text was: two, for item ID: bar")
            try await client.close()
        }
    }

    @Test func cookieWinsOverToken() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/items/x/ws?token=tok"), headers: [.cookie: "session=ses"])
            try await client.send("m")
            #expect(try await client.nextText() == "Session cookie or query token value is: ses")
            try await client.close()
        }
    }

    @Test func missingCredentialsClose1008() async throws {
        try await withServer { server in
            let client = try await RawWebSocket.connect(port: server.port, path: "/items/foo/ws?q=1")
            let close = try await client.readCloseFrame()
            #expect(close.code == 1008)
            #expect(close.reason == "missing credentials: send a 'session' cookie or a 'token' query parameter")
            // An empty cookie does not count, as in the tutorial's `session or token`.
            let empty = try await RawWebSocket.connect(port: server.port, path: "/items/foo/ws", headers: ["Cookie": "session="])
            #expect(try await empty.readCloseFrame().code == 1008)
            #expect(await eventually { server.registry.count == 0 })
        }
    }

    @Test func nonIntegerQCloses1008() async throws {
        try await withServer { server in
            let client = try await RawWebSocket.connect(port: server.port, path: "/items/foo/ws?token=t&q=abc")
            let close = try await client.readCloseFrame()
            #expect(close.code == 1008)
            #expect(close.reason == "query parameter 'q' must be an integer, got 'abc'")
        }
    }

    @Test func binaryMessageCloses1003() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/items/foo/ws?token=t"))
            try await client.send(binary: [1, 2, 3])
            let close = try await client.closedByServer()
            #expect(close?.closeCode == .unacceptableData)
            #expect(close?.reason == "binary messages are not supported on this endpoint; send text")
        }
    }
}
