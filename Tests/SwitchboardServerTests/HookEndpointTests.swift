import Foundation
import HTTPTypes
import Synchronization
import Switchboard
import SwitchboardServer
import Testing

/// The application's hooks over real sockets: every transport hands its HTTP request (headers,
/// cookies, URI, peer address) and its name to the `connect` hook.
@Suite struct HookEndpointTests {
    /// What the `connect` hook saw.
    final class Seen: Sendable {
        private let events = Mutex<[ConnectEvent]>([])
        func record(_ event: ConnectEvent) { self.events.withLock { $0.append(event) } }
        var first: ConnectEvent? { self.events.withLock { $0.first } }
    }

    /// A connect hook that admits everyone as `user-<cookie "session">`, with `{"hi":true}` for the client.
    static func hooks(_ seen: Seen) -> Hooks {
        var hooks = Hooks()
        hooks.connect = Hook { event in
            seen.record(event)
            guard let session = event.request.cookies["session"] else { return .reject(.unauthorized("no session cookie")) }
            return .accept(ConnectGrant(user: "user-\(session)", data: .object(["hi": .bool(true)])))
        }
        return hooks
    }

    @Test func aWebSocketConnectionsUpgradeRequestReachesTheHook() async throws {
        let seen = Seen()
        try await withServer(hooks: Self.hooks(seen)) { server in
            var headers = HTTPFields()
            headers[HTTPField.Name("Cookie")!] = "session=s1; other=x"
            headers[HTTPField.Name("X-App")!] = "demo"
            let client = try await TestClient.connect(server.url("/connection/websocket?v=2"), headers: headers)
            try await client.send(#"{"id":1,"connect":{"name":"test-sdk"}}"#)
            let reply = try JSONValue.parse(try await client.nextText())
            #expect(reply["connect"]?["data"] == .object(["hi": .bool(true)]))
            #expect(server.server.service.sessions.sessions(user: "user-s1").count == 1)
            let event = try #require(seen.first)
            #expect(event.transport == "websocket")
            #expect(event.request.cookies["session"] == "s1")
            #expect(event.request["x-app"] == "demo")
            #expect(event.request.uri == "/connection/websocket?v=2")
            #expect(event.request.remoteAddress == "127.0.0.1")
            #expect(event.name == "test-sdk")
            try await client.close()
        }
    }

    @Test func uniHTTPStreamAndUniWebSocketRequestsReachTheHook() async throws {
        let seen = Seen()
        try await withServer(hooks: Self.hooks(seen)) { server in
            let stream = try await RawStream.open(
                port: server.port, method: "POST", path: "/connection/uni_http_stream", headers: ["Cookie": "session=s2"], body: "{}"
            )
            #expect(stream.status == 200)
            let connect = try JSONValue.parse(try #require(try await stream.nextLine()))
            #expect(connect["connect"]?["data"] == .object(["hi": .bool(true)]))
            let event = try #require(seen.first)
            #expect(event.transport == "uni_http_stream")
            #expect(event.request.cookies["session"] == "s2")
            #expect(event.request.uri == "/connection/uni_http_stream")
            #expect(event.request.remoteAddress == "127.0.0.1")
        }

        let refused = Seen()
        try await withServer(hooks: Self.hooks(refused)) { server in
            // No session cookie: the hook rejects (101), which closes a unidirectional connection with 3500.
            let client = try await TestClient.connect(server.url("/connection/uni_websocket"))
            try await client.send("{}")
            let disconnect = try JSONValue.parse(try await client.nextText())
            #expect(disconnect["disconnect"]?["code"] == .integer(3500))
            #expect(refused.first?.transport == "uni_websocket")
        }
    }
}
