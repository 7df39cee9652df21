import Switchboard
import SwitchboardServer
import Testing

/// The client protocol over a live socket. (The full SDK-level suite is Tests/Protocol, in Python.)
@Suite struct ProtocolEndpointTests {
    @Test(arguments: EngineKind.allCases)
    func anonymousClientSubscribesPublishesAndGetsItsPublication(engine: EngineKind) async throws {
        try await withServer(engine: engine.make()) { server in
            let client = try await TestClient.connect(server.url("/connection/websocket"))
            try await client.send(#"{"id":1,"connect":{"data":{"name":"Ann"}}}"#)
            let connect = try JSONValue.parse(try await client.nextText())
            #expect(connect["id"] == .integer(1))
            #expect(connect["connect"]?["client"]?.stringValue?.count == 36)
            #expect(connect["connect"]?["pong"] == .bool(true))

            // Two commands in one frame; replies keep their order.
            try await client.send(#"{"id":2,"subscribe":{"channel":"rooms:lobby","recoverable":true}}"# + "\n" + #"{"id":3,"publish":{"channel":"rooms:lobby","data":{"text":"hi"}}}"#)
            let subscribed = try JSONValue.parse(try await client.nextText())
            #expect(subscribed["id"] == .integer(2))
            #expect(subscribed["subscribe"]?["recoverable"] == .bool(true))
            let epoch = try #require(subscribed["subscribe"]?["epoch"]?.stringValue)
            let push = try JSONValue.parse(try await client.nextText())
            #expect(push["push"]?["pub"]?["data"] == .object(["text": .string("hi")]))
            #expect(push["push"]?["pub"]?["offset"] == .integer(1))
            #expect(push["push"]?["pub"]?["info"]?["conn_info"] == .object(["name": .string("Ann")]))
            #expect(try await client.nextText() == #"{"id":3,"publish":{}}"#)

            try await client.send(#"{"id":4,"history":{"channel":"rooms:lobby","limit":-1}}"#)
            let history = try JSONValue.parse(try await client.nextText())
            #expect(history["history"]?["epoch"]?.stringValue == epoch)
            #expect(history["history"]?["publications"]?.arrayValue?.count == 1)
            try await client.close()
        }
    }

    @Test(arguments: EngineKind.allCases)
    func errorsAreRepliesAndProtocolViolationsClose3501(engine: EngineKind) async throws {
        try await withServer(engine: engine.make()) { server in
            let client = try await TestClient.connect(server.url("/connection/websocket"))
            try await client.send(#"{"id":1,"connect":{}}"#)
            _ = try await client.nextText()
            try await client.send(#"{"id":2,"publish":{"channel":"news","data":1}}"#)
            #expect(try await client.nextText().contains(#""code":103"#), "the default namespace is for the server API only")
            try await client.send(#"{"id":3,"subscribe":{"channel":"nosuch:x"}}"#)
            #expect(try await client.nextText().contains(#""code":102"#))
            try await client.send(#"{"id":4,"subscribe":{"channel":"rooms:a"}}"#)
            _ = try await client.nextText()
            try await client.send(#"{"id":5,"subscribe":{"channel":"rooms:a"}}"#)
            #expect(try await client.nextText().contains(#""code":105"#))
            try await client.send(#"{"id":6,"teleport":{}}"#)
            #expect(try await client.nextText().contains(#""code":104"#))
            try await client.send("[1,2")
            let close = try await client.closedByServer()
            #expect(close?.closeCode == .unknown(3501))
            #expect(close?.reason?.hasPrefix("bad request: invalid JSON") == true)
        }
    }

    /// A channel name with a control character is a bad request (107, not temporary) on every
    /// engine, before any engine sees it; other Unicode is fine.
    @Test(arguments: EngineKind.allCases)
    func channelNamesWithControlCharactersAreBadRequests(engine: EngineKind) async throws {
        try await withServer(engine: engine.make()) { server in
            let client = try await TestClient.connect(server.url("/connection/websocket"))
            try await client.send(#"{"id":1,"connect":{}}"#)
            _ = try await client.nextText()
            for (id, name) in [(2, #"rooms:nul\u0000x"#), (3, #"rooms:tab\tx"#), (4, #"rooms:del\u007f"#)] {
                try await client.send(#"{"id":\#(id),"subscribe":{"channel":"\#(name)"}}"#)
                let reply = try JSONValue.parse(try await client.nextText())
                #expect(reply["error"]?["code"] == .integer(107), "\(name): \(reply)")
                #expect(reply["error"]?["temporary"] == nil)
                #expect(reply["error"]?["message"]?.stringValue?.contains("control character") == true)
            }
            try await client.send(#"{"id":5,"publish":{"channel":"rooms:nul\u0000x","data":1}}"#)
            #expect(try JSONValue.parse(try await client.nextText())["error"]?["code"] == .integer(107))
            try await client.send(#"{"id":6,"subscribe":{"channel":"rooms:ünï 💬"}}"#)
            #expect(try JSONValue.parse(try await client.nextText())["subscribe"] != nil)
            try await client.close()
        }
    }

    @Test func aSessionDisconnectedByTheServerLeavesTheDirectory() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/connection/websocket"))
            try await client.send(#"{"id":1,"connect":{}}"#)
            _ = try await client.nextText()
            let sessions = server.server.service.sessions
            #expect(sessions.counts.clients == 1)
            for session in sessions.sessions(user: "") { session.disconnect(Disconnect.forceDisconnect) }
            #expect(try await client.closedByServer()?.closeCode == .unknown(3503))
            #expect(await eventually { sessions.counts.clients == 0 })
        }
    }

    @Test func withATokenKeyAnonymousConnectsAreRefused() async throws {
        try await withServer({ $0.tokenKeys.hmacSecret = String(repeating: "k", count: 32) }) { server in
            let client = try await TestClient.connect(server.url("/connection/websocket"))
            try await client.send(#"{"id":1,"connect":{}}"#)
            let close = try await client.closedByServer()
            #expect(close?.closeCode == .unknown(3500))
            let forged = try await TestClient.connect(server.url("/connection/websocket"))
            try await forged.send(#"{"id":1,"connect":{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}}"#)
            #expect(try await forged.closedByServer()?.closeCode == .unknown(3500))
        }
    }

    @Test func tutorialChatIsAChannelProtocolClientsCanRead() async throws {
        try await withServer({ configuration in
            var channels = configuration.channels
            var chat = ChannelOptions()
            chat.allowSubscribeForClient = true
            channels.namespaces["tutorial"] = chat
            configuration.channels = channels
            configuration.chatChannel = "tutorial:chat"
        }) { server in
            let reader = try await TestClient.connect(server.url("/connection/websocket"))
            try await reader.send(#"{"id":1,"connect":{}}"#)
            _ = try await reader.nextText()
            try await reader.send(#"{"id":2,"subscribe":{"channel":"tutorial:chat"}}"#)
            _ = try await reader.nextText()
            let member = try await TestClient.connect(server.url("/ws/7"))
            try await member.send("hello")
            #expect(try await member.nextText() == "You wrote: hello")
            #expect(try await member.nextText() == "Client #7 says: hello")
            #expect(try await reader.nextText() == #"{"push":{"channel":"tutorial:chat","pub":{"data":"Client #7 says: hello"}}}"#)
            try await member.close()
            #expect(try await reader.nextText() == #"{"push":{"channel":"tutorial:chat","pub":{"data":"Client #7 left the chat"}}}"#)
            try await reader.close()
        }
    }
}
