/// How the registered claims of a connection or subscription token (RFC 7519 section 4.1) are
/// checked once its signature is good: `exp`, `nbf` and `iat` against the clock, `aud` and `iss`
/// against the server's settings.
///
/// A pure value: the caller reads the claims and passes the time, so any value a token may carry
/// (huge, negative, fractional) is checked here without arithmetic that could trap.
///
/// - `exp` in the past: ``TokenError/expired`` (the client may fetch a new token). An `exp` further
///   ahead than ``maximumLifetime`` counts as that far ahead.
/// - `nbf` more than ``leeway`` ahead of now: not valid yet. `iat` more than ``leeway`` ahead of
///   now: issued in the future. Both ``TokenError/invalid(_:)``.
/// - ``audience``, when set: `aud` (a string or a list of strings) must contain it.
/// - ``issuer``, when set: `iss` must equal it.
public struct TokenRules: Sendable, Equatable {
    /// Clock skew allowed between the token's issuer and this server, for `nbf` and `iat`.
    public static let leeway: Duration = .seconds(30)
    /// The longest a token is treated as valid for: a later `exp` counts as this far ahead
    /// (10 years; the protocol's `ttl` is a 32-bit count of seconds, so this also keeps it in range).
    public static let maximumLifetime: Duration = .seconds(10 * 365 * 86_400)

    /// The registered claims of one token, as read from it. Times are seconds since 1970.
    public struct Claims: Sendable, Equatable {
        /// `exp`: when the token expires.
        public var exp: Double?
        /// `nbf`: when the token becomes valid.
        public var nbf: Double?
        /// `iat`: when the token was issued.
        public var iat: Double?
        /// `aud`: one string or several.
        public var aud: [String]?
        /// `iss`: who issued the token.
        public var iss: String?

        /// Claims as read from a token.
        public init(exp: Double? = nil, nbf: Double? = nil, iat: Double? = nil, aud: [String]? = nil, iss: String? = nil) {
            self.exp = exp
            self.nbf = nbf
            self.iat = iat
            self.aud = aud
            self.iss = iss
        }
    }

    /// When set, a token's `aud` must contain this value.
    public var audience: String?
    /// When set, a token's `iss` must equal this value.
    public var issuer: String?

    /// Rules; no audience or issuer required by default.
    public init(audience: String? = nil, issuer: String? = nil) {
        self.audience = audience
        self.issuer = issuer
    }

    /// Check a token's claims at `now` (seconds since 1970).
    ///
    /// - Returns: The time left before the token expires, at most ``maximumLifetime``; `nil` when it
    ///   has no `exp`.
    /// - Throws: ``TokenError/invalid(_:)`` for a claim that does not hold, ``TokenError/expired`` for
    ///   a token past its `exp` (checked last, so a client is never asked to refresh a token that is
    ///   wrong in another way).
    public func check(_ claims: Claims, now: Double) throws(TokenError) -> Duration? {
        for (name, value) in [("exp", claims.exp), ("nbf", claims.nbf), ("iat", claims.iat)] {
            if let value, !value.isFinite { throw .invalid("'\(name)' is not a number") }
        }
        if let audience = self.audience, !(claims.aud ?? []).contains(audience) {
            throw .invalid("'aud' does not include \(Self.quoted(audience))")
        }
        if let issuer = self.issuer, claims.iss != issuer {
            throw .invalid("'iss' is not \(Self.quoted(issuer))")
        }
        let leeway = Self.seconds(Self.leeway)
        if let nbf = claims.nbf, nbf > now + leeway { throw .invalid("not valid yet ('nbf' is in the future)") }
        if let iat = claims.iat, iat > now + leeway { throw .invalid("issued in the future ('iat')") }
        guard let exp = claims.exp else { return nil }
        let left = exp - now
        guard left > 0 else { throw .expired }
        // `left` is finite and positive here; bounded, it converts to an integer without trapping.
        let milliseconds = min(left, Self.seconds(Self.maximumLifetime)) * 1000
        return .milliseconds(Int64(milliseconds.rounded(.down)))
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// A value quoted for a reason or an error message (close reasons are short: long values are
    /// cut, so a client's own input is never echoed back whole).
    static func quoted(_ value: String) -> String {
        value.utf8.count <= 40 ? "'\(value)'" : "'\(value.prefix(37))...'"
    }
}
