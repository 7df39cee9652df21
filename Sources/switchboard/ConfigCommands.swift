import ArgumentParser
import Foundation
import SwitchboardServer

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a configuration file in the format its extension names (`serve`, `checkconfig`, the token commands).
enum ConfigurationLoader {
    static func read(_ path: String, into configuration: inout SwitchboardConfiguration) throws {
        guard let format = ConfigurationFormat(path: path) else {
            throw ValidationError("configuration file '\(path)': the name must end in \(ConfigurationFormat.extensions)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the configuration file '\(path)': \(error.localizedDescription)")
        }
        do {
            try ConfigurationFile.apply(text, format: format, to: &configuration)
        } catch {
            throw ValidationError("configuration file '\(path)': \(error.description)")
        }
    }
}

/// `switchboard checkconfig FILE`: the checks `serve` makes of the file, without serving.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkconfig",
        abstract: "Check a configuration file as serve would read it: print 'valid', or the error and exit 1."
    )

    @Argument(help: "The file (.json, .yaml/.yml or .toml).") var path: String?
    @Option(name: [.short, .customLong("config")], help: "The file, as Centrifugo's checkconfig takes it.") var configOption: String?

    var file: String { self.path ?? self.configOption ?? "" }

    func validate() throws {
        guard (self.path == nil) != (self.configOption == nil) else { throw ValidationError("give the file once: switchboard checkconfig FILE") }
    }

    func run() async throws {
        do {
            // The file alone: no flags, no environment, as `serve --config FILE` would read it.
            let configuration = try Serve.parse(["--config", self.file]).resolve(environment: [:])
            if !configuration.tokenKeys.isEmpty {
                do {
                    _ = try await JWTTokenVerifier(keys: configuration.tokenKeys, rules: configuration.tokenRules)
                } catch {
                    throw ValidationError("configuration file '\(self.file)': \(error.description)")
                }
            }
        } catch let error as ValidationError {
            FileHandle.standardError.write(Data("Error: \(error.message)\n".utf8))
            throw ExitCode.failure
        }
        print("\(self.file): valid")
    }
}

/// `switchboard genconfig [FILE]`: a minimal configuration with fresh secrets.
struct GenConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genconfig",
        abstract: "Write a minimal configuration file with a fresh random HMAC secret and API key (never over an existing file).",
        discussion: "The format follows the extension: .json, .yaml/.yml or .toml. The file is created readable by its owner only."
    )

    @Argument(help: "The file to create (default: config.json).") var path: String?
    @Option(name: [.short, .customLong("config")], help: "The file, as Centrifugo's genconfig takes it.") var configOption: String?

    var file: String { self.path ?? self.configOption ?? "config.json" }

    func validate() throws {
        guard self.path == nil || self.configOption == nil else { throw ValidationError("give the file once: switchboard genconfig [FILE]") }
    }

    func run() throws {
        guard let format = ConfigurationFormat(path: self.file) else {
            throw ValidationError("'\(self.file)': the name must end in \(ConfigurationFormat.extensions)")
        }
        let text = Self.render(format: format, settings: Self.freshSettings())
        // O_EXCL: an existing file (or a link) is never overwritten, even if it appears meanwhile.
        let descriptor = open(self.file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "the file already exists; remove it or choose another name" : String(cString: strerror(errno))
            FileHandle.standardError.write(Data("Error: cannot create '\(self.file)': \(reason)\n".utf8))
            throw ExitCode.failure
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
        print("wrote \(self.file)")
    }

    /// The settings of a new file, in order: secrets are 32 random bytes in hex, the admin password
    /// 16 (so the admin page is on, behind a password nobody guesses).
    static func freshSettings() -> [(key: String, value: String)] {
        [
            ("token_hmac_secret_key", Self.randomHex(bytes: 32)),
            ("api_key", Self.randomHex(bytes: 32)),
            ("admin_password", Self.randomHex(bytes: 16)),
            ("admin_secret", Self.randomHex(bytes: 32)),
        ]
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// String settings (hex, so nothing needs escaping) in `format`.
    static func render(format: ConfigurationFormat, settings: [(key: String, value: String)]) -> String {
        switch format {
        case .json:
            let lines = settings.map { "  \"\($0.key)\": \"\($0.value)\"" }
            return "{\n" + lines.joined(separator: ",\n") + "\n}\n"
        case .yaml:
            return "# Switchboard configuration (docs/CONFIGURATION.md)\n" + settings.map { "\($0.key): \"\($0.value)\"\n" }.joined()
        case .toml:
            return "# Switchboard configuration (docs/CONFIGURATION.md)\n" + settings.map { "\($0.key) = \"\($0.value)\"\n" }.joined()
        }
    }
}
