import ArgumentParser
import SwitchboardServer

/// `switchboard version` and `switchboard --version`: one line naming the release
/// (``SwitchboardServer/version``, the constant the protocol and the API report too), the Swift
/// compiler it was built with and the platform.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version of Switchboard and of the Swift it was built with.")

    func run() {
        print(Self.text)
    }

    static var text: String {
        "switchboard \(SwitchboardServer.version) (Swift \(Self.swiftVersion), \(Self.platform))"
    }

    /// The version of the compiler that built the binary, known at build time.
    static var swiftVersion: String {
        #if compiler(>=6.4)
            "6.4 or later"
        #elseif compiler(>=6.3)
            "6.3"
        #elseif compiler(>=6.2)
            "6.2"
        #else
            "6.1 or earlier"
        #endif
    }

    static var platform: String {
        #if os(Linux)
            let system = "linux"
        #elseif os(macOS)
            let system = "macos"
        #else
            let system = "unknown"
        #endif
        #if arch(x86_64)
            return "\(system) x86_64"
        #elseif arch(arm64)
            return "\(system) arm64"
        #else
            return system
        #endif
    }
}
