import Foundation
import JWTKit
import Switchboard
import SwitchboardServer
import Testing

/// The admin page: off unless a password and a secret are configured; a login that hands out
/// session tokens; the server API behind them.
@Suite struct AdminTests {
    static let password = "correct horse battery staple"
    static let secret = "an admin secret of more than 32 bytes"

    static func withAdmin(prefix: String = "", _ body: (TestServer) async throws -> Void) async throws {
        try await withServer({
            $0.adminPassword = Self.password
            $0.adminSecret = Self.secret
            $0.pathPrefix = prefix
        }, body)
    }

    static func logIn(_ server: TestServer, prefix: String = "", password: String = Self.password) async throws -> RawHTTPResponse {
        try await rawHTTP(
            port: server.port, method: "POST", path: prefix + "/admin/auth",
            headers: ["Content-Type": "application/json"], body: JSONValue.object(["password": .string(password)]).jsonText
        )
    }

    static func call(_ server: TestServer, _ method: String, _ params: JSONValue = .object([]), token: String?, prefix: String = "") async throws -> RawHTTPResponse {
        try await rawHTTP(
            port: server.port, method: "POST", path: "\(prefix)/admin/api/\(method)",
            headers: token.map { ["Authorization": "token \($0)"] } ?? [:], body: params.jsonText
        )
    }

    static func token(_ server: TestServer, prefix: String = "") async throws -> String {
        let response = try await Self.logIn(server, prefix: prefix)
        #expect(response.status == 200)
        guard let token = try JSONValue.parse(response.body)["token"]?.stringValue else { throw TestFailure("no token in \(response.body)") }
        return token
    }

    @Test func isOffWithoutAPasswordAndSecret() async throws {
        try await withServer { server async throws in
            for path in ["/admin", "/static/admin.js", "/static/admin.css"] {
                #expect(try await rawHTTP(port: server.port, path: path).status == 404, "\(path)")
            }
            #expect(try await Self.logIn(server).status == 404)
            #expect(try await Self.call(server, "info", token: "anything").status == 404)
            // The chat page is still there.
            #expect(try await rawHTTP(port: server.port, path: "/").status == 200)
        }
    }

    @Test func aWrongPasswordIsRefusedAndNoTokenOpensTheAPI() async throws {
        try await Self.withAdmin { server async throws in
            let page = try await rawHTTP(port: server.port, path: "/admin")
            #expect(page.status == 200)
            #expect(page.body.contains("Switchboard admin"))
            let wrong = try await Self.logIn(server, password: "wrong")
            #expect(wrong.status == 401)
            #expect(try JSONValue.parse(wrong.body)["token"] == nil)
            #expect(try await Self.call(server, "info", token: nil).status == 401)
            #expect(try await Self.call(server, "info", token: "not.a.token").status == 401)
            // Signed with another secret, or expired: refused.
            let other = await JWTKeyCollection().add(hmac: HMACKey(from: "another secret of more than 32 bytes"), digestAlgorithm: .sha256)
            let forged = try await other.sign(Claims(sub: "admin", exp: .init(value: Date().addingTimeInterval(600))))
            #expect(try await Self.call(server, "info", token: forged).status == 401)
            let keys = await JWTKeyCollection().add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
            let expired = try await keys.sign(Claims(sub: "admin", exp: .init(value: Date().addingTimeInterval(-10))))
            #expect(try await Self.call(server, "info", token: expired).status == 401)
            let valid = try await keys.sign(Claims(sub: "admin", exp: .init(value: Date().addingTimeInterval(600))))
            #expect(try await Self.call(server, "info", token: valid).status == 200)
            // A body that is not a login.
            let garbled = try await rawHTTP(port: server.port, method: "POST", path: "/admin/auth", body: "password=x")
            #expect(garbled.status == 400)
            let huge = try await rawHTTP(port: server.port, method: "POST", path: "/admin/auth", body: String(repeating: "x", count: 64 * 1024))
            #expect(huge.status == 413, "a 64 KiB login is refused, not read (the limit is 4 KiB)")
        }
    }

    @Test func theSessionTokenOpensTheServerAPI() async throws {
        try await Self.withAdmin { server async throws in
            let token = try await Self.token(server)
            let info = try JSONValue.parse(try await Self.call(server, "info", token: token).body)
            let nodes = info["result"]?["nodes"]?.arrayValue ?? []
            #expect(nodes.count == 1)
            #expect(nodes.first?["uid"]?.stringValue == server.server.api.info().identity.id)
            #expect(nodes.first?["engine"]?["ready"] == .bool(true))

            let published = try await Self.call(server, "publish", .object(["channel": .string("rooms:ops"), "data": .object(["text": .string("from admin")])]), token: token)
            #expect(published.status == 200)
            #expect(try JSONValue.parse(published.body)["result"]?["offset"]?.integerValue() == 1)
            let history = try JSONValue.parse(try await Self.call(server, "history", .object(["channel": .string("rooms:ops"), "limit": .integer(10)]), token: token).body)
            #expect(history["result"]?["publications"]?.arrayValue?.first?["data"]?["text"]?.stringValue == "from admin")
            // The server API's own errors come through.
            let unknown = try await Self.call(server, "nonsense", token: token)
            #expect(unknown.status == 404)
        }
    }

    @Test func worksUnderAPathPrefix() async throws {
        try await Self.withAdmin(prefix: "/realtime") { server async throws in
            #expect(try await rawHTTP(port: server.port, path: "/realtime/admin").status == 200)
            #expect(try await rawHTTP(port: server.port, path: "/realtime/static/admin.js").status == 200)
            let token = try await Self.token(server, prefix: "/realtime")
            #expect(try await Self.call(server, "info", token: token, prefix: "/realtime").status == 200)
        }
    }

    @Test(arguments: [
        (password: "pw", secret: nil, message: "admin secret"),
        (password: nil, secret: AdminTests.secret, message: "admin password"),
        (password: "pw", secret: "short", message: "at least 32 bytes"),
        (password: "", secret: AdminTests.secret, message: "must not be empty"),
    ] as [(password: String?, secret: String?, message: String)])
    func refusesHalfASetting(_ setting: (password: String?, secret: String?, message: String)) async throws {
        var configuration = SwitchboardConfiguration(port: 0)
        configuration.adminPassword = setting.password
        configuration.adminSecret = setting.secret
        do {
            _ = try await SwitchboardServer(configuration: configuration, logger: testLogger)
            Issue.record("accepted \(setting)")
        } catch let error as AdminSettingsError {
            #expect(error.message.contains(setting.message), "\(error.message)")
        }
    }

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
