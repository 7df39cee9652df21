// Fuzz target: JWT verification (`JWTTokenVerifier.verifyConnectToken` and
// `verifySubscriptionToken`, on jwt-kit), with HS256, RS256 and ES256 keys configured as a server
// would have them.
//
// The first input byte picks a mode:
// 0. the rest is the token text, as a client sends it;
// 1. one segment (header, payload or signature) of a valid token is replaced by the input, raw or
//    base64url-encoded;
// 2. the signature bytes of a valid HS256 or ES256 token are XORed with the input;
// 3. the input is a token's payload (claims), signed with the server's HS256 secret: this reaches
//    the claims decoding behind a good signature.
//
// Oracles: never a trap; in modes 1 and 2 a token whose signed text or signature bytes differ from
// the valid token's is refused (a changed signature never verifies). A signature segment spelled
// differently that decodes to the same bytes (non-canonical base64url) may verify: that is not a
// forgery.
import CFuzzDriver
import Crypto
import Dispatch
import Foundation
import JWTKit
import Switchboard
import SwitchboardServer

let hmacSecret = "fuzzing-secret-of-at-least-32-bytes........"

let es256PrivateKeyPEM = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSUiJLEP/J38vConl
    IZCEvVcEKlSVkp8i7NJmAE2tfrGhRANCAASr+RxdmZEfQl1dSBAnYYlTAEZMBlua
    RNUgCb1dNFZM4M1Tp5hShVwRpV38MEQuV7EsYGG844QicFEClVO+RVLa
    -----END PRIVATE KEY-----
    """

let es256PublicKeyPEM = """
    -----BEGIN PUBLIC KEY-----
    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEq/kcXZmRH0JdXUgQJ2GJUwBGTAZb
    mkTVIAm9XTRWTODNU6eYUoVcEaVd/DBELlexLGBhvOOEInBRApVTvkVS2g==
    -----END PUBLIC KEY-----
    """

let rs256PublicKeyPEM = """
    -----BEGIN PUBLIC KEY-----
    MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtXEgkQCB2DhrTkxB5BSs
    f74SfE+0iDebiFsuXzp6D5Umyo4xZ8nmnZE3Yahm5Er0O90p2bUwrjl7VxHfA7Tl
    xADGioxQXXXEXNT0ldSfU+WWsyM8U9Q2WOr3x9egbha3qmpL8i415GRdTTUHx3ho
    uyk333DmwYVmCZ7a5AAXUDPzgby1ot5ybcm/bHz9wc/2h6dmIBiyxWf4dG4hEt1p
    BrCtCvETM0hoyM0nBMJxqPhzm24PjFFL1pvakviA/3WOweZordcSdQzEs8Zcbuam
    FX17Uv/yFP9mmOlYuxP6HBpdYSYo+ZkZ7Vb+pXv3gYg8nI+xRRQ5lZWgYljRTVTt
    lwIDAQAB
    -----END PUBLIC KEY-----
    """

/// Runs async code from libFuzzer's synchronous callback.
final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

struct FuzzClaims: JWTPayload {
    var sub: String
    var exp: ExpirationClaim
    var info: JSONValue
    var channels: [String]
    var channel: String

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

func base64URL(_ bytes: some Sequence<UInt8>) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// The most lenient reading of base64url: unknown characters fail, padding and leftover bits are
/// ignored. Two spellings with the same result carry the same bytes.
func lenientBase64URLDecode(_ text: Substring) -> [UInt8]? {
    var bits: UInt32 = 0
    var count = 0
    var out: [UInt8] = []
    for byte in text.utf8 {
        let value: UInt8
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"), UInt8(ascii: "+"): value = 62
        case UInt8(ascii: "_"), UInt8(ascii: "/"): value = 63
        case UInt8(ascii: "="): continue
        default: return nil
        }
        bits = bits << 6 | UInt32(value)
        count += 6
        if count >= 8 {
            count -= 8
            out.append(UInt8(truncatingIfNeeded: bits >> UInt32(count)))
            bits &= (1 << UInt32(count)) - 1
        }
    }
    return out
}

func hs256Token(payload: some Sequence<UInt8>) -> String {
    let signingInput = base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + base64URL(payload)
    let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: Array(hmacSecret.utf8)))
    return signingInput + "." + base64URL(mac)
}

struct Setup: Sendable {
    let verifier: JWTTokenVerifier
    /// Valid tokens: HS256 and ES256.
    let tokens: [String]
}

let setup: Setup = blocking {
    do {
        let verifier = try await JWTTokenVerifier(
            keys: .init(hmacSecret: hmacSecret, rsaPublicKeyPEM: rs256PublicKeyPEM, ecdsaPublicKeyPEM: es256PublicKeyPEM)
        )
        let claims = FuzzClaims(
            sub: "fuzz-user", exp: .init(value: Date(timeIntervalSinceNow: 10 * 365 * 86400)),
            info: .object(["name": .string("Fuzz")]), channels: ["news"], channel: "news"
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970  // as JWTs have it (NumericDate)
        let hs256 = hs256Token(payload: try encoder.encode(claims))
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: try ES256PrivateKey(pem: es256PrivateKeyPEM))
        let es256 = try await signer.sign(claims)
        for token in [hs256, es256] {
            guard (try? await verifier.verifyConnectToken(token)) != nil else { fatalError("the harness's own token does not verify: \(token)") }
        }
        return Setup(verifier: verifier, tokens: [hs256, es256])
    } catch {
        fatalError("cannot set up the verifier: \(error)")
    }
}

/// Whether the connect or the subscription verification accepts `token`.
func accepted(_ token: String) -> Bool {
    let verifier = setup.verifier
    return blocking {
        let connect = (try? await verifier.verifyConnectToken(token)) != nil
        let subscription = (try? await verifier.verifySubscriptionToken(token)) != nil
        return connect || subscription
    }
}

@main
enum FuzzMain {
    static func main() { switchboard_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard input.count >= 2 else { return 0 }
    let mode = input[0] % 4
    let selector = input[1]
    let rest = Array(input[2...])

    switch mode {
    case 0:
        _ = accepted(String(decoding: input.dropFirst(), as: UTF8.self))
    case 1:
        let original = setup.tokens[Int(selector >> 7)]
        var segments = original.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let which = Int(selector % 3)
        let replacement = selector & 0x08 != 0 ? base64URL(rest) : String(decoding: rest, as: UTF8.self)
        guard replacement != segments[which] else { return 0 }
        let originalSegments = segments
        segments[which] = replacement
        let token = segments.joined(separator: ".")
        if accepted(token) {
            // Only a respelling of the same signature may verify.
            guard which == 2, let decoded = lenientBase64URLDecode(Substring(replacement)),
                decoded == lenientBase64URLDecode(Substring(originalSegments[2]))
            else { fatalError("a token with a changed \(["header", "payload", "signature"][which]) verified: \(token)") }
        }
    case 2:
        let original = setup.tokens[Int(selector & 1)]
        let segments = original.split(separator: ".", omittingEmptySubsequences: false)
        guard var signature = lenientBase64URLDecode(segments[2]), !rest.isEmpty else { return 0 }
        let start = Int(selector >> 1) % signature.count
        for (offset, byte) in rest.prefix(signature.count).enumerated() {
            signature[(start + offset) % signature.count] ^= byte
        }
        guard signature != lenientBase64URLDecode(segments[2]) else { return 0 }
        let token = segments[0] + "." + segments[1] + "." + base64URL(signature)
        if accepted(token) { fatalError("a token with changed signature bytes verified: \(token)") }
    default:
        let payload = Array(input.dropFirst())
        _ = accepted(hs256Token(payload: payload))
    }
    return 0
}
