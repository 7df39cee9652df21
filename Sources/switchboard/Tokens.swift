import ArgumentParser
import Foundation
import Switchboard
import SwitchboardServer

/// Where the token commands get their keys: the same `--config` file, flag and environment
/// variables as `switchboard serve`, so a token minted or checked here is one the server takes.
struct TokenKeyOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Configuration file (.json, .yaml/.yml or .toml) holding the token keys. [env: SWITCHBOARD_CONFIG]")
    var config: String?

    @Option(help: "HS256 secret (at least 32 bytes); wins over the file. [env: SWITCHBOARD_TOKEN_HMAC_SECRET]")
    var tokenHmacSecret: String?

    /// The server's configuration as `serve` would resolve it from these options and the environment.
    func configuration() throws -> SwitchboardConfiguration {
        var arguments: [String] = []
        if let config { arguments += ["--config", config] }
        if let tokenHmacSecret { arguments += ["--token-hmac-secret", tokenHmacSecret] }
        do {
            return try Serve.parse(arguments).resolve(environment: ProcessInfo.processInfo.environment)
        } catch let error as ValidationError {
            throw CommandFailure(error.message)
        }
    }

    /// A minter with the configured HMAC secret.
    func minter() async throws -> TokenMinter {
        guard let secret = try self.configuration().tokenKeys.hmacSecret else {
            throw CommandFailure(
                "no HMAC secret: give --token-hmac-secret, SWITCHBOARD_TOKEN_HMAC_SECRET, or --config with a file setting token_hmac_secret_key"
            )
        }
        do {
            return try await TokenMinter(hmacSecret: secret)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// The claims both token commands take.
struct TokenClaimOptions: ParsableArguments {
    @Option(name: [.short, .customLong("user")], help: "The user ID (`sub`); empty for an anonymous user.")
    var user: String = ""

    @Option(name: [.short, .customLong("ttl")], help: "Seconds until the token expires; 0 for a token that never expires.")
    var ttl: Int = 7 * 86_400

    @Option(help: "JSON attached to the user (`info`), e.g. '{\"name\":\"Ada\"}'.")
    var info: String?

    func validate() throws {
        guard self.ttl >= 0, self.ttl <= 10 * 365 * 86_400 else { throw ValidationError("--ttl must be between 0 and 315360000 seconds, got \(self.ttl)") }
        if let info, (try? JSONValue.parse(info)) == nil { throw ValidationError("--info must be valid JSON, got '\(info)'") }
    }

    func claims(channels: [String] = [], channel: String? = nil) throws -> TokenMinter.Claims {
        let info = try self.info.map { text in try JSONValue.parse(text) }
        return TokenMinter.Claims(user: self.user, ttl: self.ttl == 0 ? nil : self.ttl, channels: channels, channel: channel, info: info)
    }

    /// "user "42", expires in 3600 s" for the description line on stderr.
    var summary: String {
        "user \"\(self.user)\", " + (self.ttl == 0 ? "never expires" : "expires in \(self.ttl) s")
    }
}

/// `switchboard gentoken -u USER`: a connection token (HS256 JWT) for the configured secret.
struct GenToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gentoken",
        abstract: "Print a connection token (HS256 JWT) signed with the configured HMAC secret.",
        discussion: "The token alone goes to standard output (TOKEN=$(switchboard gentoken -u 42)); what it says goes to standard error."
    )

    @OptionGroup var claims: TokenClaimOptions
    @OptionGroup var keys: TokenKeyOptions

    @Option(help: "Comma-separated channels the server subscribes the connection to (`channels`).")
    var channels: String?

    func run() async throws {
        let channels = (self.channels ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let token = try await self.keys.minter().sign(self.claims.claims(channels: channels))
        let extra = channels.isEmpty ? "" : ", channels \(channels.joined(separator: ","))"
        FileHandle.standardError.write(Data("HS256 connection token for \(self.claims.summary)\(extra):\n".utf8))
        print(token)
    }
}

/// `switchboard gensubtoken -u USER -s CHANNEL`: a subscription token for one channel.
struct GenSubToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gensubtoken",
        abstract: "Print a subscription token (HS256 JWT) for one channel, signed with the configured HMAC secret."
    )

    @OptionGroup var claims: TokenClaimOptions
    @OptionGroup var keys: TokenKeyOptions

    @Option(name: [.customShort("s"), .customLong("channel")], help: "The channel the token grants (`channel`).")
    var channel: String

    func validate() throws {
        guard !self.channel.isEmpty else { throw ValidationError("--channel must not be empty") }
    }

    func run() async throws {
        let token = try await self.keys.minter().sign(self.claims.claims(channel: self.channel))
        FileHandle.standardError.write(Data("HS256 subscription token for channel \"\(self.channel)\", \(self.claims.summary):\n".utf8))
        print(token)
    }
}

/// `switchboard checktoken TOKEN`.
struct CheckToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checktoken",
        abstract: "Verify a connection token with the configured keys (HMAC secret, RSA or ECDSA public key); exit 1 if it is not valid."
    )

    @Argument(help: "The token (a JWT).") var token: String
    @OptionGroup var keys: TokenKeyOptions

    func run() async throws {
        try await TokenCheck.run(token: self.token, keys: self.keys, subscription: false)
    }
}

/// `switchboard checksubtoken TOKEN`.
struct CheckSubToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checksubtoken",
        abstract: "Verify a subscription token with the configured keys; exit 1 if it is not valid."
    )

    @Argument(help: "The token (a JWT).") var token: String
    @OptionGroup var keys: TokenKeyOptions

    func run() async throws {
        try await TokenCheck.run(token: self.token, keys: self.keys, subscription: true)
    }
}

/// The one check both commands share: the server's own verifier, with the server's keys and rules.
enum TokenCheck {
    static func run(token: String, keys options: TokenKeyOptions, subscription: Bool) async throws {
        let configuration = try options.configuration()
        guard !configuration.tokenKeys.isEmpty else {
            throw CommandFailure(
                "no token keys: give --token-hmac-secret, SWITCHBOARD_TOKEN_HMAC_SECRET, or --config with a file setting token_hmac_secret_key, token_rsa_public_key or token_ecdsa_public_key"
            )
        }
        let verifier: JWTTokenVerifier
        do {
            verifier = try await JWTTokenVerifier(keys: configuration.tokenKeys, rules: configuration.tokenRules)
        } catch {
            throw CommandFailure(error.description)
        }
        let kind = subscription ? "subscription" : "connection"
        do {
            if subscription {
                let credentials = try await verifier.verifySubscriptionToken(token)
                print("valid \(kind) token: user \"\(credentials.user)\", channel \"\(credentials.channel)\", \(Self.expiry(credentials.expiresIn))")
                if let info = credentials.info { print("info: \(info)") }
            } else {
                let credentials = try await verifier.verifyConnectToken(token)
                print("valid \(kind) token: user \"\(credentials.user)\", \(Self.expiry(credentials.expiresIn))")
                if !credentials.channels.isEmpty { print("channels: \(credentials.channels.joined(separator: ", "))") }
                if let info = credentials.info { print("info: \(info)") }
            }
        } catch {
            let reason =
                switch error {
                case .expired: "expired"
                case .invalid(let why): why
                }
            FileHandle.standardError.write(Data("invalid \(kind) token: \(reason)\n".utf8))
            throw ExitCode.failure
        }
    }

    static func expiry(_ expiresIn: Duration?) -> String {
        guard let expiresIn else { return "never expires" }
        let seconds = expiresIn.components.seconds
        let date = Date(timeIntervalSinceNow: TimeInterval(seconds))
        return "expires \(ISO8601DateFormatter().string(from: date)) (in \(seconds) s)"
    }
}

/// A command that cannot do its work: ArgumentParser prints "Error: <description>" (without the
/// usage, which was right) and exits with status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
