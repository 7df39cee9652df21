import Foundation
import Switchboard
import SwitchboardServer
import Testing

/// The unidirectional transports (uni_http_stream, uni_sse, uni_websocket) over real sockets.
@Suite struct UnidirectionalTests {
    static let secret = String(repeating: "k", count: 32)
    /// HS256 with `secret`: `{"sub":"alice","channels":["news"]}` (made with Python's hmac; no `exp`).
    static let aliceToken =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImNoYW5uZWxzIjpbIm5ld3MiXX0.unvVn4rJOF5cHdU5LDcjfV_3iuPKwSZvSYsTO2eoG0k"

    static func configure(_ configuration: inout SwitchboardConfiguration) {
        configuration.tokenKeys.hmacSecret = Self.secret
    }

    static func publish(_ server: TestServer, _ channel: String, _ data: String) throws {
        let options = try server.server.service.options(for: channel).get()
        server.server.service.hub.publish(channel, options: options, publication: Publication(data: data))
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    @Test func httpStreamSendsTheConnectPushThenPublicationsOnePerLine() async throws {
        try await withServer(Self.configure) { server in
            let stream = try await RawStream.open(
                port: server.port, method: "POST", path: "/connection/uni_http_stream", body: #"{"token":"\#(Self.aliceToken)"}"#
            )
            #expect(stream.status == 200)
            #expect(stream.headers["content-type"] == "application/json")
            let connect = try JSONValue.parse(try #require(try await stream.nextLine()))
            #expect(connect["push"] == nil, "unidirectional pushes have no envelope")
            #expect(connect["connect"]?["client"]?.stringValue?.count == 36)
            #expect(connect["connect"]?["subs"]?["news"] != nil)
            #expect(connect["connect"]?["ping"] == .integer(30))
            #expect(server.registry.count == 1)

            try Self.publish(server, "news", #"{"text":"hi"}"#)
            let publication = try JSONValue.parse(try #require(try await stream.nextLine()))
            #expect(publication["channel"] == .string("news"))
            #expect(publication["pub"]?["data"] == .object(["text": .string("hi")]))

            // Shutdown ends the stream with a disconnect push saying so.
            await server.shutDown()
            #expect(try await stream.nextLine() == #"{"disconnect":{"code":3001,"reason":"shutdown"}}"#)
            #expect(try await stream.rest() == "")
        }
    }

    @Test func sseOverGetTakesTheConnectRequestFromTheURL() async throws {
        try await withServer(Self.configure) { server in
            let connect = Self.percentEncoded(#"{"token":"\#(Self.aliceToken)"}"#)
            let stream = try await RawStream.open(port: server.port, method: "GET", path: "/connection/uni_sse?cf_connect=\(connect)")
            #expect(stream.status == 200)
            #expect(stream.headers["content-type"] == "text/event-stream; charset=utf-8")
            #expect(stream.headers["cache-control"]?.contains("no-cache") == true)
            let first = try JSONValue.parse(try #require(try await stream.nextEvent()))
            #expect(first["connect"]?["subs"]?["news"] != nil)
            try Self.publish(server, "news", #""one""#)
            try Self.publish(server, "news", #""two""#)
            let one = try JSONValue.parse(try #require(try await stream.nextEvent()))
            let two = try JSONValue.parse(try #require(try await stream.nextEvent()))
            #expect(one["pub"]?["data"] == .string("one"))
            #expect(two["pub"]?["data"] == .string("two"))
        }
    }

    @Test func aBadTokenEndsTheStreamWithADisconnectPush() async throws {
        try await withServer(Self.configure) { server in
            let stream = try await RawStream.open(port: server.port, method: "POST", path: "/connection/uni_sse", body: #"{"token":"not.a.token"}"#)
            #expect(stream.status == 200)
            let push = try JSONValue.parse(try #require(try await stream.nextEvent()))
            #expect(push["disconnect"]?["code"] == .integer(3500))
            #expect(push["disconnect"]?["reason"]?.stringValue?.hasPrefix("invalid token") == true)
            #expect(try await stream.nextEvent() == nil)
            #expect(await eventually { server.registry.count == 0 })
        }
    }

    @Test func malformedConnectRequestsAreRefusedBeforeStreaming() async throws {
        try await withServer(Self.configure) { server in
            let badQuery = try await RawStream.open(port: server.port, method: "GET", path: "/connection/uni_sse?cf_connect=%7Bnope")
            #expect(badQuery.status == 400)
            #expect(try await badQuery.rest().contains("bad request"))
            let badBody = try await RawStream.open(port: server.port, method: "POST", path: "/connection/uni_http_stream", body: "[1,2]")
            #expect(badBody.status == 400)
            #expect(try await badBody.rest().contains("must be a JSON object"))
            let badType = try await RawStream.open(port: server.port, method: "POST", path: "/connection/uni_http_stream", body: #"{"token":5}"#)
            #expect(badType.status == 400)
            let tooLarge = try await RawStream.open(
                port: server.port, method: "POST", path: "/connection/uni_http_stream",
                body: #"{"data":""# + String(repeating: "x", count: 70_000) + #""}"#
            )
            #expect(tooLarge.status == 413)
            let foreign = try await RawStream.open(
                port: server.port, method: "GET", path: "/connection/uni_sse", headers: ["Origin": "http://evil.example"]
            )
            #expect(foreign.status == 403)
            #expect(server.registry.count == 0)
        }
    }

    @Test func theConnectionLimitCountsStreams() async throws {
        try await withServer({ Self.configure(&$0); $0.maxConnections = 1 }) { server in
            let body = #"{"token":"\#(Self.aliceToken)"}"#
            let first = try await RawStream.open(port: server.port, method: "POST", path: "/connection/uni_http_stream", body: body)
            #expect(first.status == 200)
            _ = try await first.nextLine()
            let second = try await RawStream.open(port: server.port, method: "POST", path: "/connection/uni_http_stream", body: body)
            #expect(second.status == 503)
        }
    }

    /// A stream whose client stops reading overflows its outbox (3008 `slow`); its writer, stuck on
    /// the full socket, cannot deliver that, so the server drops the TCP connection after the close
    /// timeout, and the stream leaves the registry and its channels.
    @Test func aStreamWhoseClientStopsReadingIsDropped() async throws {
        try await withServer({ Self.configure(&$0); $0.outboxLimit = 64 * 1024 }) { server in
            let stream = try await RawStream.open(
                port: server.port, method: "POST", path: "/connection/uni_http_stream",
                body: #"{"token":"\#(Self.aliceToken)"}"#, receiveBuffer: 4096
            )
            #expect(stream.status == 200)
            #expect(server.registry.count == 1)
            let chunk = JSONValue.string(String(repeating: "x", count: 16 * 1024)).jsonText
            let dropped = await eventually(timeout: .seconds(20)) {
                try? Self.publish(server, "news", chunk)
                try? await Task.sleep(for: .milliseconds(5))
                return server.registry.count == 0
            }
            #expect(dropped)
            #expect(server.server.service.hub.presenceStats("news").clients == 0)
        }
    }

    @Test func uniWebSocketPushesWithoutEnvelopeAndClosesOnClientMessages() async throws {
        try await withServer(Self.configure) { server in
            let client = try await TestClient.connect(server.url("/connection/uni_websocket"))
            try await client.send(#"{"token":"\#(Self.aliceToken)"}"#)
            let connect = try JSONValue.parse(try await client.nextText())
            #expect(connect["connect"]?["subs"]?["news"] != nil)
            #expect(connect["connect"]?["pong"] == nil, "a unidirectional client does not answer pings")
            try Self.publish(server, "news", #"{"n":1}"#)
            let publication = try JSONValue.parse(try await client.nextText())
            #expect(publication["channel"] == .string("news"))
            #expect(publication["pub"]?["data"] == .object(["n": .integer(1)]))
            try await client.send("{}")
            // As Centrifugo does (6.5.1 on): the disconnect push, then the close frame with its code.
            let disconnect = try JSONValue.parse(try await client.nextText())
            #expect(disconnect["disconnect"]?["code"] == .integer(3501))
            let close = try await client.closedByServer()
            #expect(close?.closeCode == .unknown(3501))
        }
    }

    @Test func uniWebSocketClosesWithTheConnectErrorsCode() async throws {
        try await withServer(Self.configure) { server in
            let bad = try await TestClient.connect(server.url("/connection/uni_websocket"))
            try await bad.send("not json")
            #expect(try await bad.closedByServer()?.closeCode == .unknown(3501))
            let forged = try await TestClient.connect(server.url("/connection/uni_websocket"))
            try await forged.send(#"{"token":"not.a.token"}"#)
            #expect(try await forged.closedByServer()?.closeCode == .unknown(3500))
        }
    }
}
