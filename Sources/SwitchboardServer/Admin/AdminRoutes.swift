import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import Switchboard

/// The admin page (`/admin`) and what it calls, on only when both an admin password and an admin
/// secret are configured:
///
/// * `POST /admin/auth` with `{"password": "…"}` answers `{"token": "…", "expires_in": 43200}`: a
///   session token (HS256 with the admin secret, valid 12 hours); a wrong password gets 401 after a
///   pause, which slows guessing;
/// * `POST /admin/api/{method}` with `Authorization: token <session token>` (or `Bearer`) is the
///   server API (`/api/{method}`'s methods and replies) for the page, without the API key.
struct AdminRoutes: Sendable {
    /// A session lasts this long; then the page asks for the password again.
    static let sessionLength: Duration = .seconds(12 * 3600)
    /// The largest login body read.
    static let maxLoginBytes = 4096
    /// A wrong password is answered after this pause.
    static let refusalDelay: Duration = .milliseconds(500)

    struct SessionClaims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try self.exp.verifyNotExpired()
        }
    }

    let password: String
    let keys: Task<JWTKeyCollection, Never>
    let api: HTTPServerAPI
    let maxBodySize: Int

    /// The routes for this configuration, or `nil` when the admin page is off.
    ///
    /// - Throws: ``AdminSettingsError`` when only one of password and secret is set, or the secret
    ///   is too short to sign with.
    init?(configuration: SwitchboardConfiguration, api: HTTPServerAPI) throws(AdminSettingsError) {
        switch (configuration.adminPassword, configuration.adminSecret) {
        case (nil, nil): return nil
        case (nil, _?): throw AdminSettingsError(message: "the admin page needs an admin password as well as the admin secret (admin_password, --admin-password)")
        case (_?, nil): throw AdminSettingsError(message: "the admin page needs an admin secret as well as the password (admin_secret, --admin-secret; at least 32 bytes)")
        case (let password?, let secret?):
            guard !password.isEmpty else { throw AdminSettingsError(message: "the admin password must not be empty") }
            guard secret.utf8.count >= JWTTokenVerifier.minimumSecretLength else {
                throw AdminSettingsError(message: "the admin secret must be at least \(JWTTokenVerifier.minimumSecretLength) bytes long")
            }
            self.password = password
            self.keys = Task { await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256) }
        }
        self.api = api
        self.maxBodySize = max(configuration.maxMessageSize, 1 << 20)
    }

    func addRoutes<Context: RequestContext>(to router: some RouterMethods<Context>) {
        router.post("/admin/auth") { request, _ in try await self.authenticate(request) }
        router.post("/admin/api/{method}") { request, context in
            guard await self.session(of: request) else {
                return ServerAPIRoutes.json(.unauthorized, ServerAPIRoutes.error(101, "unauthorized: log in again"))
            }
            return await ServerAPIRoutes.respond(to: request, method: context.parameters.get("method") ?? "", api: self.api, maxBodySize: self.maxBodySize)
        }
    }

    private func authenticate(_ request: Request) async throws -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxLoginBytes)
        } catch {
            return ServerAPIRoutes.json(.contentTooLarge, ServerAPIRoutes.error(107, "bad request: a login is at most \(Self.maxLoginBytes) bytes"))
        }
        guard let given = (try? JSONValue.parse(String(buffer: body)))?["password"]?.stringValue else {
            return ServerAPIRoutes.json(.badRequest, ServerAPIRoutes.error(107, "bad request: send {\"password\": \"…\"}"))
        }
        guard ServerAPIRoutes.constantTimeEqual(given, self.password) else {
            try? await Task.sleep(for: Self.refusalDelay)
            return ServerAPIRoutes.json(.unauthorized, ServerAPIRoutes.error(101, "unauthorized: wrong password"))
        }
        let claims = SessionClaims(sub: "admin", exp: .init(value: Date().addingTimeInterval(Double(Self.sessionLength.components.seconds))))
        let token = try await self.keys.value.sign(claims)
        return ServerAPIRoutes.json(.ok, .object(["token": .string(token), "expires_in": .integer(Self.sessionLength.components.seconds)]))
    }

    /// Whether the request carries a valid session token.
    private func session(of request: Request) async -> Bool {
        guard let authorization = request.headers[.authorization] else { return false }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, ["token", "bearer"].contains(parts[0].lowercased()) else { return false }
        return (try? await self.keys.value.verify(String(parts[1]), as: SessionClaims.self)) != nil
    }
}

/// The admin settings cannot work as given.
public struct AdminSettingsError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { self.message }
}
