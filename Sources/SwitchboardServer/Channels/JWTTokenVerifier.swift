import Foundation
import JWTKit
public import Switchboard

/// Verifies connection and subscription tokens as JWTs: HS256 with a shared secret, RS256 and ES256
/// with public keys. Claims: `sub` (user), `exp`, `nbf`, `iat`, `aud`, `iss` (checked by
/// ``TokenRules``), `info` (any JSON), `channels` (connection tokens: channels to subscribe on
/// connect), `channel` (subscription tokens: the channel granted).
///
/// Each algorithm is tied to its key: a token is verified only with the key of the algorithm its
/// header names (`HS256` the HMAC secret, `RS256` the RSA key, `ES256` the ECDSA key), and a header
/// naming any other algorithm, or one whose key is not configured, is refused. (Trying every key
/// whatever the header says would let a token claim one algorithm and be checked by another.)
public struct JWTTokenVerifier: TokenVerifier {
    /// The keys tokens may be signed with.
    public struct Keys: Sendable, Equatable {
        /// HS256 shared secret (at least 32 bytes).
        public var hmacSecret: String?
        /// RS256 public key, PEM.
        public var rsaPublicKeyPEM: String?
        /// ES256 public key, PEM.
        public var ecdsaPublicKeyPEM: String?

        /// Keys; none by default (no token can be checked).
        public init(hmacSecret: String? = nil, rsaPublicKeyPEM: String? = nil, ecdsaPublicKeyPEM: String? = nil) {
            self.hmacSecret = hmacSecret
            self.rsaPublicKeyPEM = rsaPublicKeyPEM
            self.ecdsaPublicKeyPEM = ecdsaPublicKeyPEM
        }

        /// No key is set.
        public var isEmpty: Bool { self.hmacSecret == nil && self.rsaPublicKeyPEM == nil && self.ecdsaPublicKeyPEM == nil }
    }

    /// Why keys could not be loaded.
    public struct KeyError: Error, CustomStringConvertible {
        /// What is wrong with the key.
        public let description: String
    }

    /// One key collection per algorithm (`alg` header value), each holding only that algorithm's key.
    private let keys: [String: JWTKeyCollection]
    private let rules: TokenRules

    /// The shortest HS256 secret accepted (jwt-kit asserts on shorter ones).
    public static let minimumSecretLength = 32

    /// - Parameters:
    ///   - keys: The keys; each verifies only tokens of its own algorithm.
    ///   - rules: The audience and issuer tokens must name, if any (``TokenRules``).
    public init(keys: Keys, rules: TokenRules = TokenRules()) async throws(KeyError) {
        var collections: [String: JWTKeyCollection] = [:]
        if let secret = keys.hmacSecret {
            guard secret.utf8.count >= Self.minimumSecretLength else {
                throw KeyError(description: "the HMAC secret must be at least \(Self.minimumSecretLength) bytes long")
            }
            collections["HS256"] = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        do {
            if let pem = keys.rsaPublicKeyPEM {
                collections["RS256"] = await JWTKeyCollection().add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
            }
            if let pem = keys.ecdsaPublicKeyPEM {
                collections["ES256"] = await JWTKeyCollection().add(ecdsa: try ES256PublicKey(pem: pem))
            }
        } catch {
            throw KeyError(description: "cannot read a public key: \(error)")
        }
        self.keys = collections
        self.rules = rules
    }

    public func verifyConnectToken(_ token: String) async throws(TokenError) -> ConnectCredentials {
        let (claims, expiresIn) = try await self.verify(token)
        return ConnectCredentials(
            user: claims.sub ?? "",
            expiresIn: expiresIn,
            info: claims.info?.jsonText,
            channels: claims.channels ?? []
        )
    }

    public func verifySubscriptionToken(_ token: String) async throws(TokenError) -> SubscriptionCredentials {
        let (claims, expiresIn) = try await self.verify(token)
        guard let channel = claims.channel, !channel.isEmpty else { throw .invalid("the subscription token has no 'channel' claim") }
        return SubscriptionCredentials(user: claims.sub ?? "", channel: channel, expiresIn: expiresIn, info: claims.info?.jsonText)
    }

    /// The token's claims once its signature and registered claims hold, with the time left before it expires.
    private func verify(_ token: String) async throws(TokenError) -> (Claims, Duration?) {
        guard !self.keys.isEmpty else { throw .invalid("the server has no token keys configured") }
        guard let algorithm = Self.algorithm(of: token) else { throw .invalid("malformed token") }
        guard let keys = self.keys[algorithm] else {
            throw .invalid("algorithm '\(algorithm.prefix(16))' is not accepted (no key for it)")
        }
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .invalid("bad signature")
        } catch let error as JWTError where error.errorType == .malformedToken {
            throw .invalid("malformed token")
        } catch {
            throw .invalid("cannot verify the token")
        }
        let registered = TokenRules.Claims(exp: claims.exp, nbf: claims.nbf, iat: claims.iat, aud: claims.aud?.value, iss: claims.iss)
        return (claims, try self.rules.check(registered, now: Date().timeIntervalSince1970))
    }

    /// The `alg` of a token's header, or `nil` if the header cannot be read.
    static func algorithm(of token: String) -> String? {
        guard let end = token.firstIndex(of: ".") else { return nil }
        var base64 = token[..<end].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return (try? JSONDecoder().decode(Header.self, from: data))?.alg
    }

    private struct Header: Decodable {
        var alg: String
    }

    /// The claims read from a token. The registered ones are checked by ``TokenRules`` after the
    /// signature, so that an expired token gets its own error and no claim value can trap.
    struct Claims: JWTPayload {
        var sub: String?
        var exp: Double?
        var nbf: Double?
        var iat: Double?
        var aud: AudienceClaim?
        var iss: String?
        var info: JSONValue?
        var channels: [String]?
        var channel: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
