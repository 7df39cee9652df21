import Logging
import NIOConcurrencyHelpers
import Switchboard
import SwitchboardServer
import Testing

/// `/metrics` on a live server: what a scrape shows after real clients connected, subscribed,
/// published and were disconnected; 404 when metrics are off.
@Suite struct MetricsTests {
    /// The samples of an exposition, by series (`name{label="value",…}` as written).
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    static func scrape(_ server: TestServer) async throws -> [String: Double] {
        let response = try await rawHTTP(port: server.port, path: "/metrics")
        #expect(response.status == 200)
        #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        return Self.samples(response.body)
    }

    @Test func scrapeCountsClientsChannelsCommandsAndMessages() async throws {
        try await withServer({ $0.prometheus = true }) { server in
            let before = try await Self.scrape(server)
            #expect(before["centrifugo_node_num_clients"] == 0)
            #expect(before["centrifugo_node_messages_sent_count{type=\"publication\"}"] == 0)
            #expect(before["centrifugo_transport_messages_sent{transport=\"websocket\"}"] == 0, "registered before anything happens")
            #expect(before["centrifugo_node_build{version=\"\(SwitchboardServer.version)\"}"] == 1)

            let client = try await TestClient.connect(server.url("/connection/websocket"))
            try await client.send(#"{"id":1,"connect":{}}"#)
            _ = try await client.nextText()
            try await client.send(#"{"id":2,"subscribe":{"channel":"rooms:lobby"}}"#)
            _ = try await client.nextText()
            try await client.send(#"{"id":3,"publish":{"channel":"rooms:lobby","data":{"text":"hi"}}}"#)
            _ = try await client.nextText()  // the push
            _ = try await client.nextText()  // the publish reply
            let chat = try await TestClient.connect(server.url("/ws/7"))
            try await chat.send("hello")
            _ = try await chat.nextText()  // You wrote: hello
            _ = try await chat.nextText()  // Client #7 says: hello

            let during = try await Self.scrape(server)
            #expect(during["centrifugo_node_num_clients"] == 1, "protocol sessions only")
            #expect(during["centrifugo_node_num_users"] == 1)
            #expect(during["switchboard_node_num_connections"] == 2, "every WebSocket")
            #expect(during["centrifugo_node_num_channels"] == 2, "rooms:lobby and the tutorial chat")
            #expect(during["centrifugo_node_num_subscriptions"] == 2)
            #expect(during["centrifugo_node_messages_sent_count{type=\"publication\"}"] == 2)
            #expect(during["centrifugo_node_messages_received_count{type=\"publication\"}"] == 2)
            #expect(during["centrifugo_node_messages_sent_count{type=\"join\"}"] == 1, "rooms push joins")
            for method in ["connect", "subscribe", "publish"] {
                #expect(during["centrifugo_client_command_duration_seconds_count{method=\"\(method)\"}"] == 1, "\(method)")
            }
            #expect(during["centrifugo_client_command_duration_seconds_count{method=\"history\"}"] == 0)
            #expect(during["centrifugo_transport_messages_received{transport=\"websocket\"}"] == 3)
            #expect(during["centrifugo_transport_messages_sent{transport=\"websocket\"}"] == 4, "3 replies and the push")
            #expect(during["centrifugo_transport_messages_received{transport=\"websocket_raw\"}"] == 1)
            #expect(during["centrifugo_transport_messages_sent{transport=\"websocket_raw\"}"] == 2)
            #expect(during["switchboard_engine_publish_duration_seconds_count"] == 2)
            #expect(during["switchboard_engine_publish_errors_total"] == 0)
            #expect(during["centrifugo_api_command_duration_seconds_count{method=\"publish\",protocol=\"http\"}"] == 0)

            // A protocol violation: the server disconnects with 3501.
            try await client.send("[1,2")
            #expect(try await client.closedByServer()?.closeCode == .unknown(3501))
            #expect(await eventually { server.server.service.sessions.counts.clients == 0 })
            let after = try await Self.scrape(server)
            #expect(after["centrifugo_client_num_server_disconnects{code=\"3501\"}"] == 1)
            #expect(after["centrifugo_node_num_clients"] == 0)
            #expect(after["centrifugo_node_num_channels"] == 1)
            try await chat.close()
        }
    }

    @Test func metricsAreNotFoundWhenOff() async throws {
        try await withServer { server async throws in
            #expect(server.server.prometheus == nil)
            #expect(try await rawHTTP(port: server.port, path: "/metrics").status == 404)
        }
    }

    @Test func theConfigurationFileTurnsMetricsAndJSONLogsOn() throws {
        func apply(_ text: String) throws -> SwitchboardConfiguration {
            var configuration = SwitchboardConfiguration()
            try ConfigurationFile.apply(text, to: &configuration)
            return configuration
        }
        #expect(try apply(#"{"prometheus":true}"#).prometheus)
        #expect(try apply(#"{"prometheus":{"enabled":true}}"#).prometheus, "Centrifugo v6's shape")
        #expect(try !apply(#"{}"#).prometheus, "off by default")
        let logs = try apply(#"{"log_format":"json","log_level":"debug"}"#)
        #expect(logs.logFormat == .json && logs.logLevel == .debug)
        #expect(throws: ConfigurationFile.Error.self) { try apply(#"{"prometheus":{"enable":true}}"#) }
        #expect(throws: ConfigurationFile.Error.self) { try apply(#"{"log_format":"xml"}"#) }
        #expect(throws: ConfigurationFile.Error.self) { try apply(#"{"log_level":"loud"}"#) }
    }

    @Test func jsonLogLinesCarryTimestampLevelLabelMessageAndMetadata() throws {
        let lines = NIOLockedValueBox<[String]>([])
        var handler = JSONLogHandler(label: "switchboard") { line in lines.withLockedValue { $0.append(line) } }
        handler.logLevel = .debug
        let logger = Logger(label: "switchboard") { _ in handler }
        logger.debug("WebSocket connection closed", metadata: ["close.code": "1000", "nested": ["a": "b\"quoted\n"]])
        logger.trace("not written")
        let written = lines.withLockedValue { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("\n") && line.dropLast().firstIndex(of: "\n") == nil, "one line")
        let json = try JSONValue.parse(String(line.dropLast()))
        #expect(json["level"] == .string("debug"))
        #expect(json["label"] == .string("switchboard"))
        #expect(json["message"] == .string("WebSocket connection closed"))
        #expect(json["metadata"]?["close.code"] == .string("1000"))
        #expect(json["metadata"]?["nested"]?["a"] == .string("b\"quoted\n"))
        let timestamp = try #require(json["timestamp"]?.stringValue)
        #expect(timestamp.count == 24 && timestamp.hasSuffix("Z"), "\(timestamp)")
    }

    @Test func enginePublishFailuresAreCountedAndAnswered() async throws {
        try await withServer(engine: SuspendingEngine(publishFailure: EngineError("database unreachable")), { $0.prometheus = true }) { server in
            let client = try await TestClient.connect(server.url("/connection/websocket"))
            try await client.send(#"{"id":1,"connect":{}}"#)
            _ = try await client.nextText()
            try await client.send(#"{"id":2,"publish":{"channel":"rooms:lobby","data":{"text":"hi"}}}"#)
            let reply = try JSONValue.parse(try await client.nextText())
            #expect(reply["error"]?["code"] == .integer(100), "the client is told, nothing is dropped silently")
            let samples = try await Self.scrape(server)
            #expect(samples["switchboard_engine_publish_errors_total"] == 1)
            #expect(samples["switchboard_engine_publish_duration_seconds_count"] == 0)
            #expect(samples["centrifugo_client_command_duration_seconds_count{method=\"publish\"}"] == 1)
            #expect(samples["centrifugo_node_messages_sent_count{type=\"publication\"}"] == 0)
            try await client.close()
        }
    }
}
