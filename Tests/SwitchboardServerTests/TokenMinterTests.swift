import Switchboard
import SwitchboardServer
import Testing

/// `switchboard gentoken`'s signer against the server's verifier.
@Suite struct TokenMinterTests {
    static let secret = "minter-tests-secret-0123456789abcdef"

    @Test func mintedTokensAreWhatTheVerifierReads() async throws {
        let minter = try await TokenMinter(hmacSecret: Self.secret)
        let verifier = try await JWTTokenVerifier(keys: .init(hmacSecret: Self.secret))
        let token = try await minter.sign(.init(user: "28282", ttl: 3600, channels: ["a", "b"], info: .object(["n": .integer(1)])))
        let credentials = try await verifier.verifyConnectToken(token)
        #expect(credentials.user == "28282")
        #expect(credentials.channels == ["a", "b"])
        #expect(credentials.info == #"{"n":1}"#)
        let left = try #require(credentials.expiresIn)
        #expect(left > .seconds(3590) && left <= .seconds(3600))

        let forever = try await verifier.verifyConnectToken(minter.sign(.init(user: "u")))
        #expect(forever.expiresIn == nil && forever.channels.isEmpty && forever.info == nil)

        let subscription = try await verifier.verifySubscriptionToken(minter.sign(.init(user: "u", ttl: 60, channel: "room")))
        #expect(subscription.channel == "room" && subscription.user == "u")
    }

    @Test func expiredAndForeignTokensAreRefused() async throws {
        let minter = try await TokenMinter(hmacSecret: Self.secret)
        let verifier = try await JWTTokenVerifier(keys: .init(hmacSecret: Self.secret))
        let old = try await minter.sign(.init(user: "u", ttl: 10, issuedAt: 1_000_000))
        await #expect(throws: TokenError.expired) { () async throws in _ = try await verifier.verifyConnectToken(old) }
        let other = try await TokenMinter(hmacSecret: "another-secret-0123456789abcdef0123").sign(.init(user: "u"))
        await #expect(throws: TokenError.invalid("bad signature")) { () async throws in _ = try await verifier.verifyConnectToken(other) }
    }

    @Test func shortSecretsAreRefused() async {
        await #expect(throws: JWTTokenVerifier.KeyError.self) { () async throws in _ = try await TokenMinter(hmacSecret: "short") }
    }
}
