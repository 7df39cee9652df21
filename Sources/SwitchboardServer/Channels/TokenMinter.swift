import Foundation
import JWTKit
public import Switchboard

/// Signs connection and subscription tokens with the HMAC secret (HS256), as an application
/// backend would: for `switchboard gentoken` / `gensubtoken` and tests. ``JWTTokenVerifier`` reads
/// the same claims: `sub`, `exp`, `iat`, `info`, `channels` (connection), `channel` (subscription).
public struct TokenMinter: Sendable {
    /// What a token says.
    public struct Claims: Sendable, Equatable {
        /// The user (`sub`); empty for an anonymous user.
        public var user: String
        /// Seconds from `issuedAt` until the token expires (`exp`); `nil` for a token that never expires.
        public var ttl: Int?
        /// Channels the server subscribes a connection to (`channels`, connection tokens).
        public var channels: [String]
        /// The channel a subscription token grants (`channel`).
        public var channel: String?
        /// Any JSON the server attaches to the user (`info`).
        public var info: JSONValue?
        /// When the token is issued (`iat`), seconds since 1970.
        public var issuedAt: Int

        /// Claims of a token issued now.
        public init(user: String, ttl: Int? = nil, channels: [String] = [], channel: String? = nil, info: JSONValue? = nil, issuedAt: Int? = nil) {
            self.user = user
            self.ttl = ttl
            self.channels = channels
            self.channel = channel
            self.info = info
            self.issuedAt = issuedAt ?? Int(Date().timeIntervalSince1970)
        }
    }

    private let keys: JWTKeyCollection

    /// A minter signing with `secret` (at least ``JWTTokenVerifier/minimumSecretLength`` bytes).
    public init(hmacSecret secret: String) async throws(JWTTokenVerifier.KeyError) {
        guard secret.utf8.count >= JWTTokenVerifier.minimumSecretLength else {
            throw JWTTokenVerifier.KeyError(description: "the HMAC secret must be at least \(JWTTokenVerifier.minimumSecretLength) bytes long")
        }
        self.keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// The signed token (a JWT, HS256).
    public func sign(_ claims: Claims) async throws -> String {
        let payload = Payload(
            sub: claims.user,
            iat: claims.issuedAt,
            exp: claims.ttl.map { claims.issuedAt + $0 },
            info: claims.info,
            channels: claims.channels.isEmpty ? nil : claims.channels,
            channel: claims.channel
        )
        return try await self.keys.sign(payload)
    }

    private struct Payload: JWTPayload {
        var sub: String
        var iat: Int
        var exp: Int?
        var info: JSONValue?
        var channels: [String]?
        var channel: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
