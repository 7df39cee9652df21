import Testing

@Suite struct JSONEndpointTests {
    @Test func wrapsTheSameValue() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/json/ws"))
            try await client.send(#"{"text": "hi", "n": [1, 2.50, null, true]}"#)
            #expect(try await client.nextText() == #"{"message":{"text":"hi","n":[1,2.50,null,true]}}"#)
            try await client.send("42")
            #expect(try await client.nextText() == #"{"message":42}"#)
            try await client.send(#""é\n""#)
            #expect(try await client.nextText() == #"{"message":"é\n"}"#)
            try await client.close()
        }
    }

    @Test func invalidJSONGetsAnErrorAndTheConnectionStaysOpen() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/json/ws"))
            try await client.send("{not json")
            #expect(try await client.nextText() == #"{"error":{"code":"invalid_json","message":"expected a string key in object at byte 1"}}"#)
            try await client.send(binary: [1])
            #expect(
                try await client.nextText()
                    == #"{"error":{"code":"unsupported_data","message":"binary messages are not accepted; send JSON as a text message"}}"#
            )
            try await client.send("[1]")
            #expect(try await client.nextText() == #"{"message":[1]}"#)
            try await client.close()
        }
    }
}
