import Testing

@testable import Switchboard

/// Issue 11 (bugs 5 and 10): a token's registered claims, whatever their values.
@Suite struct TokenRulesTests {
    let now = 1_800_000_000.0
    let rules = TokenRules()

    func check(_ claims: TokenRules.Claims, _ rules: TokenRules? = nil) -> Result<Duration?, TokenError> {
        Result { () throws(TokenError) in try (rules ?? self.rules).check(claims, now: self.now) }
    }

    @Test func anyExpiryIsHandledWithoutTrapping() {
        let tenYears = TokenRules.maximumLifetime
        // exp = 10^16 used to crash the server converting it to milliseconds.
        for exp in [1e16, 1e300, Double.greatestFiniteMagnitude, 9.3e18, 1.9e19] {
            #expect(check(.init(exp: exp)) == .success(tenYears), "exp \(exp) is clamped to 10 years")
        }
        #expect(check(.init(exp: now + 3600.5)) == .success(.milliseconds(3_600_500)))
        for exp in [-1e16, -Double.greatestFiniteMagnitude, -1.5, 0, now - 0.001, now] {
            #expect(check(.init(exp: exp)) == .failure(.expired), "exp \(exp)")
        }
        for exp in [Double.infinity, -Double.infinity, Double.nan] {
            #expect(check(.init(exp: exp)) == .failure(.invalid("'exp' is not a number")))
        }
        #expect(check(.init()) == .success(nil), "no exp: no expiry")
    }

    @Test func notBeforeAndIssuedAtAreHonouredWithALeeway() {
        #expect(check(.init(nbf: now + 3600)) == .failure(.invalid("not valid yet ('nbf' is in the future)")))
        #expect(check(.init(nbf: 1e300)) == .failure(.invalid("not valid yet ('nbf' is in the future)")))
        #expect(check(.init(nbf: now + 29)) == .success(nil), "within the leeway")
        #expect(check(.init(nbf: -1e300)) == .success(nil))
        #expect(check(.init(iat: now + 3600)) == .failure(.invalid("issued in the future ('iat')")))
        #expect(check(.init(iat: now + 29)) == .success(nil))
        #expect(check(.init(iat: -1e16)) == .success(nil))
        #expect(check(.init(nbf: .nan)) == .failure(.invalid("'nbf' is not a number")))
        // An invalid token is refused as invalid even when it has expired too: no refresh is asked for.
        #expect(check(.init(exp: now - 10, nbf: now + 3600)) == .failure(.invalid("not valid yet ('nbf' is in the future)")))
    }

    @Test func audienceAndIssuerWhenSet() {
        let strict = TokenRules(audience: "switchboard", issuer: "https://auth.example")
        #expect(check(.init(aud: ["switchboard"], iss: "https://auth.example"), strict) == .success(nil))
        #expect(check(.init(aud: ["other", "switchboard"], iss: "https://auth.example"), strict) == .success(nil))
        #expect(check(.init(iss: "https://auth.example"), strict) == .failure(.invalid("'aud' does not include 'switchboard'")))
        #expect(check(.init(aud: ["other"], iss: "https://auth.example"), strict) == .failure(.invalid("'aud' does not include 'switchboard'")))
        #expect(check(.init(aud: ["switchboard"]), strict) == .failure(.invalid("'iss' is not 'https://auth.example'")))
        #expect(check(.init(aud: ["switchboard"], iss: "https://evil.example"), strict) == .failure(.invalid("'iss' is not 'https://auth.example'")))
        #expect(check(.init(aud: ["x"], iss: "y")) == .success(nil), "not checked unless configured")
    }
}
