import HummingbirdWSClient
import NIOCore
import NIOWebSocket
@testable import SwitchboardServer
import Testing

@Suite struct HTTPRouteTests {
    @Test func healthReportsOpenConnections() async throws {
        try await withServer { server in
            var response = try await rawHTTP(port: server.port, path: "/health")
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.body == #"{"status":"ok","connections":0}"#)
            // The standalone listener answers as Hummingbird's Application does.
            #expect(response.headers["server"] == "switchboard")
            let date = try #require(response.headers["date"])
            #expect(date.wholeMatch(of: /(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT/) != nil, "\(date)")
            let a = try await TestClient.connect(server.url("/ws"))
            let b = try await TestClient.connect(server.url("/ws/1"))
            #expect(await eventually { server.registry.count == 2 })
            response = try await rawHTTP(port: server.port, path: "/health")
            #expect(response.body == #"{"status":"ok","connections":2}"#)
            try await a.close()
            try await b.close()
        }
    }

    @Test func servesTheChatAppItsClientModuleAndTheTutorialPage() async throws {
        try await withServer { server in
            let page = try await rawHTTP(port: server.port, path: "/")
            #expect(page.status == 200)
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.body.contains(#"<script type="module" src="static/app.js"></script>"#), "relative: the page works under a path prefix")
            let app = try await rawHTTP(port: server.port, path: "/static/app.js")
            #expect(app.status == 200)
            #expect(app.headers["content-type"] == "text/javascript; charset=utf-8")
            #expect(app.body.contains(#"import { Client } from "./switchboard.js";"#))
            let module = try await rawHTTP(port: server.port, path: "/static/switchboard.js")
            #expect(module.status == 200)
            #expect(module.body.contains("export class Client"))

            let tutorial = try await rawHTTP(port: server.port, path: "/tutorial")
            #expect(tutorial.status == 200)
            #expect(tutorial.headers["content-type"] == "text/html; charset=utf-8")
            #expect(tutorial.body.contains(#"<script src="static/tutorial.js"></script>"#))
            let script = try await rawHTTP(port: server.port, path: "/static/tutorial.js")
            #expect(script.status == 200)
            #expect(script.body.contains("document.currentScript.src"), "the endpoint is found relative to the script, wherever it is served from")
            #expect(!script.body.contains("localhost:8000"))

            // Text from the network is shown with textContent only.
            for body in [app.body, module.body, script.body] { #expect(!body.contains("innerHTML")) }
            let css = try await rawHTTP(port: server.port, path: "/static/chat.css")
            #expect(css.headers["content-type"] == "text/css; charset=utf-8")
            #expect(try await rawHTTP(port: server.port, path: "/static/missing.js").status == 404)
            #expect(try await rawHTTP(port: server.port, path: "/index").status == 404)
        }
    }
}

@Suite struct ConnectionLimitTests {
    @Test func connectionPastTheLimitIsClosedWith1013() async throws {
        try await withServer({ $0.maxConnections = 2 }) { server in
            let a = try await TestClient.connect(server.url("/ws"))
            let b = try await TestClient.connect(server.url("/ws/1"))
            #expect(await eventually { server.registry.count == 2 })
            let c = try await RawWebSocket.connect(port: server.port, path: "/ws")
            let close = try await c.readCloseFrame()
            #expect(close.code == 1013)
            #expect(close.reason == "server at connection limit (2); try again later")
            // The existing connections are untouched.
            try await a.send("still here")
            #expect(try await a.nextText() == "Message text was: still here")
            try await b.send("me too")
            #expect(try await b.nextText() == "You wrote: me too")
            // A freed slot can be used again.
            try await a.close()
            #expect(await eventually { server.registry.count == 1 })
            let d = try await TestClient.connect(server.url("/ws"))
            try await d.send("in")
            #expect(try await d.nextText() == "Message text was: in")
            try await d.close()
            try await b.close()
        }
    }
}

@Suite struct OriginPolicyTests {
    @Test func defaultAllowsSameOriginAndNoOriginButRefusesOthers() async throws {
        try await withServer { server in
            await #expect(throws: WebSocketClientError.self) {
                try await TestClient.connect(server.url("/ws"), headers: [.origin: "http://evil.example"])
            }
            let same = try await TestClient.connect(server.url("/ws"), headers: [.origin: "http://127.0.0.1:\(server.port)"])
            try await same.close()
            let none = try await TestClient.connect(server.url("/ws"))
            try await none.close()
            // A refused handshake never reached a handler (the two accepted ones unregister once
            // their close completes on the server, just after the client's close returns).
            #expect(await eventually { server.registry.count == 0 })
        }
    }

    @Test func listedOriginsAndWildcard() async throws {
        try await withServer({ $0.allowedOrigins = try! .parse("https://app.example.com, http://localhost:3000") }) { server in
            let listed = try await TestClient.connect(server.url("/ws"), headers: [.origin: "https://APP.example.com"])
            try await listed.close()
            await #expect(throws: WebSocketClientError.self) {
                try await TestClient.connect(server.url("/ws"), headers: [.origin: "https://other.example.com"])
            }
        }
        try await withServer({ $0.allowedOrigins = .any }) { server in
            let any = try await TestClient.connect(server.url("/ws/1"), headers: [.origin: "http://evil.example"])
            try await any.close()
        }
    }

    @Test func parseRejectsMalformedEntries() throws {
        #expect(throws: OriginPolicyError.self) { try OriginPolicy.parse("example.com") }
        #expect(throws: OriginPolicyError.self) { try OriginPolicy.parse("*,http://a.example") }
        #expect(throws: OriginPolicyError.self) { try OriginPolicy.parse("http://a.example/path") }
        #expect(try OriginPolicy.parse("*") == .any)
        #expect(try OriginPolicy.parse("") == .sameOrigin)
    }

    @Test func sameOriginComparesHostAndPort() {
        let policy = OriginPolicy.sameOrigin
        #expect(policy.allows(origin: "http://chat.example.com", host: "chat.example.com:80"))
        #expect(policy.allows(origin: "https://chat.example.com", host: "chat.example.com"))
        #expect(!policy.allows(origin: "http://chat.example.com:8080", host: "chat.example.com"))
        #expect(!policy.allows(origin: "null", host: "chat.example.com"))
        #expect(!policy.allows(origin: "http://a.example", host: nil))
        #expect(policy.allows(origin: nil, host: nil))
        // Non-browser clients that send their ws:// URL as the origin.
        #expect(policy.allows(origin: "ws://127.0.0.1", host: "127.0.0.1:8000"))
        // Several Origin headers: each must be allowed.
        #expect(!policy.allows(origins: ["ws://127.0.0.1", "http://evil.example"], host: "127.0.0.1:8000"))
        #expect(policy.allows(origins: ["ws://127.0.0.1", "http://127.0.0.1:8000"], host: "127.0.0.1:8000"))
    }

    @Test func corsHeadersFollowTheSamePolicy() async throws {
        try await withServer({ $0.allowedOrigins = try! .parse("https://app.example.com") }) { server in
            let allowed = try await rawHTTP(port: server.port, path: "/health", headers: ["Origin": "https://app.example.com"])
            #expect(allowed.headers["access-control-allow-origin"] == "https://app.example.com")
            let refused = try await rawHTTP(port: server.port, path: "/health", headers: ["Origin": "https://evil.example"])
            #expect(refused.status == 200)
            #expect(refused.headers["access-control-allow-origin"] == nil)
            #expect(refused.headers["vary"] == "Origin")

            let preflight = try await rawHTTP(
                port: server.port,
                method: "OPTIONS",
                path: "/health",
                headers: ["Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"]
            )
            #expect(preflight.status == 204)
            #expect(preflight.headers["access-control-allow-origin"] == "https://app.example.com")
            #expect(preflight.headers["access-control-allow-methods"]?.contains("GET") == true)
            let badPreflight = try await rawHTTP(
                port: server.port,
                method: "OPTIONS",
                path: "/health",
                headers: ["Origin": "https://evil.example", "Access-Control-Request-Method": "GET"]
            )
            #expect(badPreflight.status == 403)
            #expect(badPreflight.headers["access-control-allow-origin"] == nil)
        }
    }
}

@Suite struct MessageValidationTests {
    @Test func messageOverTheLimitCloses1009() async throws {
        try await withServer({ $0.maxMessageSize = 1024 }) { server in
            let ok = try await TestClient.connect(server.url("/echo"))
            try await ok.send(String(repeating: "a", count: 1024))
            #expect(try await ok.nextText() == String(repeating: "a", count: 1024))
            try await ok.close()

            let single = try await TestClient.connect(server.url("/echo"))
            try await single.send(String(repeating: "a", count: 1025))
            #expect(try await single.closedByServer()?.closeCode == .messageTooLarge)

            // The same limit holds for a message split into fragments.
            let fragmented = try await TestClient.connect(server.url("/echo"))
            let part = ByteBuffer(string: String(repeating: "b", count: 600))
            try await fragmented.send(frame: WebSocketFrame(fin: false, opcode: .text, data: part))
            try await fragmented.send(frame: WebSocketFrame(fin: true, opcode: .continuation, data: part))
            let close = try await fragmented.closedByServer()
            #expect(close?.closeCode == .messageTooLarge)
            #expect(close?.reason == "message larger than 1024 bytes")
        }
    }

    @Test func invalidUTF8Closes1007() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/ws"))
            try await client.send(frame: WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: [0x68, 0xC3, 0x28])))
            let close = try await client.closedByServer()
            #expect(close?.closeCode == .dataInconsistentWithMessage)
            #expect(close?.reason == "invalid UTF-8 in text message")
        }
    }

    @Test func invalidUTF8InAFragmentClosesBeforeTheMessageEnds() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/echo"))
            // The bad byte is in the first fragment; no final fragment is ever sent.
            try await client.send(frame: WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(bytes: [0x68, 0xFF])))
            #expect(try await client.closedByServer()?.closeCode == .dataInconsistentWithMessage)
        }
    }

    @Test func continuationWithoutAMessageCloses1002() async throws {
        try await withServer { server in
            let client = try await TestClient.connect(server.url("/echo"))
            try await client.send(frame: WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(string: "x")))
            let close = try await client.closedByServer()
            #expect(close?.closeCode == .protocolError)
            #expect(close?.reason == "continuation frame without a message to continue")
        }
    }
}

@Suite struct ShutdownTests {
    @Test func gracefulShutdownCloses1001AndProtocolClients3001() async throws {
        try await withServer { server in
            let chat = try await TestClient.connect(server.url("/ws/1"))
            let echo = try await TestClient.connect(server.url("/ws"))
            let items = try await TestClient.connect(server.url("/items/i/ws?token=t"))
            let protocolClient = try await TestClient.connect(server.url("/connection/websocket"))
            try await protocolClient.send(#"{"id":1,"connect":{}}"#)
            _ = try await protocolClient.nextText()
            #expect(await eventually { server.registry.count == 4 })
            let started = ContinuousClock.now
            await server.shutDown()
            for client in [chat, echo, items] {
                let close = try await client.closedByServer()
                #expect(close?.closeCode == .goingAway)
                #expect(close?.reason == "server shutting down")
            }
            // The protocol's own code, after which its SDKs reconnect.
            let close = try await protocolClient.closedByServer()
            #expect(close?.closeCode == .unknown(3001))
            #expect(close?.reason == "shutdown")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }
}

@Suite struct HTTPDateTests {
    @Test func formatsTheIMFFixdate() {
        #expect(HTTPDateCache.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT", "RFC 9110's example")
        #expect(HTTPDateCache.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }
}
