import Foundation
import JWTKit
public import Switchboard

/// Verifies connection and subscription tokens as JWTs: HS256 with a shared secret, RS256 and ES256
/// with public keys. Claims: `sub` (user), `exp` (optional), `info` (any JSON), `channels` (connection
/// tokens: channels to subscribe on connect), `channel` (subscription tokens: the channel granted).
public struct JWTTokenVerifier: TokenVerifier {
    /// The keys tokens may be signed with.
    public struct Keys: Sendable, Equatable {
        /// HS256 shared secret (at least 32 bytes).
        public var hmacSecret: String?
        /// RS256 public key, PEM.
        public var rsaPublicKeyPEM: String?
        /// ES256 public key, PEM.
        public var ecdsaPublicKeyPEM: String?

        public init(hmacSecret: String? = nil, rsaPublicKeyPEM: String? = nil, ecdsaPublicKeyPEM: String? = nil) {
            self.hmacSecret = hmacSecret
            self.rsaPublicKeyPEM = rsaPublicKeyPEM
            self.ecdsaPublicKeyPEM = ecdsaPublicKeyPEM
        }

        public var isEmpty: Bool { self.hmacSecret == nil && self.rsaPublicKeyPEM == nil && self.ecdsaPublicKeyPEM == nil }
    }

    /// Why keys could not be loaded.
    public struct KeyError: Error, CustomStringConvertible {
        public let description: String
    }

    private let keys: JWTKeyCollection
    private let hasKeys: Bool

    /// The shortest HS256 secret accepted (jwt-kit asserts on shorter ones).
    public static let minimumSecretLength = 32

    public init(keys: Keys) async throws(KeyError) {
        let collection = JWTKeyCollection()
        if let secret = keys.hmacSecret {
            guard secret.utf8.count >= Self.minimumSecretLength else {
                throw KeyError(description: "the HMAC secret must be at least \(Self.minimumSecretLength) bytes long")
            }
            await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        do {
            if let pem = keys.rsaPublicKeyPEM {
                await collection.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256, kid: "rs256")
            }
            if let pem = keys.ecdsaPublicKeyPEM {
                await collection.add(ecdsa: try ES256PublicKey(pem: pem), kid: "es256")
            }
        } catch {
            throw KeyError(description: "cannot read a public key: \(error)")
        }
        self.keys = collection
        self.hasKeys = !keys.isEmpty
    }

    public func verifyConnectToken(_ token: String) async throws(TokenError) -> ConnectCredentials {
        let claims = try await self.verify(token)
        return ConnectCredentials(
            user: claims.sub ?? "",
            expiresIn: try Self.expiresIn(claims),
            info: claims.info?.jsonText,
            channels: claims.channels ?? []
        )
    }

    public func verifySubscriptionToken(_ token: String) async throws(TokenError) -> SubscriptionCredentials {
        let claims = try await self.verify(token)
        guard let channel = claims.channel, !channel.isEmpty else { throw .invalid("the subscription token has no 'channel' claim") }
        return SubscriptionCredentials(user: claims.sub ?? "", channel: channel, expiresIn: try Self.expiresIn(claims), info: claims.info?.jsonText)
    }

    private func verify(_ token: String) async throws(TokenError) -> Claims {
        guard self.hasKeys else { throw .invalid("the server has no token keys configured") }
        do {
            // `iteratingKeys`: a token without a `kid` header is tried against every key.
            return try await self.keys.verify(token, as: Claims.self, iteratingKeys: true)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .invalid("bad signature")
        } catch let error as JWTError where error.errorType == .malformedToken {
            throw .invalid("malformed token")
        } catch {
            throw .invalid("cannot verify the token")
        }
    }

    private static func expiresIn(_ claims: Claims) throws(TokenError) -> Duration? {
        guard let exp = claims.exp else { return nil }
        let seconds = exp.value.timeIntervalSinceNow
        guard seconds > 0 else { throw .expired }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The claims read from a token; expiry is checked by the verifier so that an expired token gets
    /// its own error.
    struct Claims: JWTPayload {
        var sub: String?
        var exp: ExpirationClaim?
        var info: JSONValue?
        var channels: [String]?
        var channel: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
