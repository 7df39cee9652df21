import Testing

@Suite struct ChatEndpointTests {
    @Test(arguments: EngineKind.allCases)
    func threeClientsChatAndSeeLeave(engine: EngineKind) async throws {
        try await withServer(engine: engine.make()) { server in
            let one = try await TestClient.connect(server.url("/ws/1"))
            let two = try await TestClient.connect(server.url("/ws/2"))
            let three = try await TestClient.connect(server.url("/ws/3"))
            #expect(await eventually { server.chatMembers == 3 })

            try await one.send("hello")
            #expect(try await one.nextText() == "You wrote: hello")
            #expect(try await one.nextText() == "Client #1 says: hello")
            #expect(try await two.nextText() == "Client #1 says: hello")
            #expect(try await three.nextText() == "Client #1 says: hello")

            try await two.close()
            #expect(try await one.nextText() == "Client #2 left the chat")
            #expect(try await three.nextText() == "Client #2 left the chat")

            try await three.send("bye")
            #expect(try await three.nextText() == "You wrote: bye")
            #expect(try await three.nextText() == "Client #3 says: bye")
            #expect(try await one.nextText() == "Client #3 says: bye")
            try await one.close()
            try await three.close()
        }
    }

    @Test func nonIntegerClientIDCloses1008() async throws {
        try await withServer { server in
            let client = try await RawWebSocket.connect(port: server.port, path: "/ws/abc")
            let close = try await client.readCloseFrame()
            #expect(close.code == 1008)
            #expect(close.reason == "client_id must be an integer, got 'abc'")
            #expect(server.chatMembers == 0)
        }
    }

    @Test(arguments: EngineKind.allCases)
    func droppedTCPConnectionIsAnnouncedAsLeft(engine: EngineKind) async throws {
        try await withServer(engine: engine.make()) { server in
            let watcher = try await TestClient.connect(server.url("/ws/1"))
            let dropper = try await RawWebSocket.connect(port: server.port, path: "/ws/7")
            #expect(await eventually { server.chatMembers == 2 })
            dropper.abort()
            #expect(try await watcher.nextText() == "Client #7 left the chat")
            #expect(await eventually { server.registry.count == 1 })
            try await watcher.close()
        }
    }

    @Test(arguments: EngineKind.allCases)
    func binaryMessageCloses1003AndAnnouncesLeave(engine: EngineKind) async throws {
        try await withServer(engine: engine.make()) { server in
            let watcher = try await TestClient.connect(server.url("/ws/1"))
            let sender = try await TestClient.connect(server.url("/ws/5"))
            #expect(await eventually { server.chatMembers == 2 })
            try await sender.send(binary: [0xFF])
            let close = try await sender.closedByServer()
            #expect(close?.closeCode == .unacceptableData)
            #expect(close?.reason == "binary messages are not supported in the chat; send text")
            #expect(try await watcher.nextText() == "Client #5 left the chat")
            try await watcher.close()
        }
    }

    @Test(arguments: EngineKind.allCases)
    func messagesFromEachSenderArriveInOrderNoneLostNoneDuplicated(engine: EngineKind) async throws {
        try await withServer(engine: engine.make()) { server in
            let senders = [try await TestClient.connect(server.url("/ws/1")), try await TestClient.connect(server.url("/ws/2"))]
            let receivers = [try await TestClient.connect(server.url("/ws/3")), try await TestClient.connect(server.url("/ws/4"))]
            #expect(await eventually { server.chatMembers == 4 })
            let count = 300
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, sender) in senders.enumerated() {
                    group.addTask { for i in 0..<count { try await sender.send("s\(index + 1)-\(i)") } }
                }
                try await group.waitForAll()
            }
            var orders: [[String]] = []
            for receiver in receivers {
                var next = [1: 0, 2: 0]
                var order: [String] = []
                for _ in 0..<(2 * count) {
                    let text = try await receiver.nextText()
                    order.append(text)
                    // "Client #N says: sN-i"
                    let payload = text.split(separator: " ").last!.dropFirst()
                    let parts = payload.split(separator: "-").map { Int($0)! }
                    #expect(parts[1] == next[parts[0]], "sender \(parts[0])'s messages must arrive in order")
                    next[parts[0]] = parts[1] + 1
                }
                #expect(next == [1: count, 2: count])
                orders.append(order)
            }
            // Every member sees the room's messages in one order.
            #expect(orders[0] == orders[1])
            // Nothing extra arrives.
            try await Task.sleep(for: .milliseconds(100))
            #expect(receivers.allSatisfy { $0.received == 2 * count })
            for client in senders + receivers { try await client.close() }
        }
    }
}
