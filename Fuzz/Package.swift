// swift-tools-version:6.2
// Coverage-guided fuzz targets (libFuzzer) for the parsers that read untrusted bytes.
//
// A package of its own so that only these executables are built with `-sanitize=fuzzer,address`
// and `-parse-as-library`. Each target defines `LLVMFuzzerTestOneInput` and a `@main` that hands
// over to libFuzzer (CFuzzDriver). Build and run through scripts/fuzz.sh; docs/FUZZING.md describes
// each target and its oracle.
//
// The targets use `@testable import` to reach internal entry points (`JSONFormat.decode`, `ProtobufFormat`,
// `WebSocketConnectionHandler`) without widening their access: scripts/fuzz.sh builds in debug, where
// SwiftPM compiles every module with testing enabled.
import PackageDescription

/// A fuzz target: libFuzzer's driver and the core module, plus `more`.
func fuzzTarget(_ name: String, _ more: [Target.Dependency] = []) -> Target {
    .executableTarget(name: name, dependencies: ["CFuzzDriver", .product(name: "Switchboard", package: "switchboard")] + more)
}

let server = Target.Dependency.product(name: "SwitchboardServer", package: "switchboard")

let package = Package(
    name: "switchboard-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "switchboard", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"6.0.0"),
    ],
    targets: [
        // libFuzzer's driver, called from each target's `@main` (see its header for why).
        .target(name: "CFuzzDriver"),
        // Light targets: only the core module (NIOCore, swift-log).
        fuzzTarget("FuzzJSON"),
        fuzzTarget("FuzzUTF8"),
        fuzzTarget("FuzzClientCommand"),
        fuzzTarget("FuzzProtobufCommands", [.product(name: "NIOCore", package: "swift-nio")]),
        // Server targets: SwitchboardServer pulls in Hummingbird, jwt-kit and swift-crypto.
        fuzzTarget("FuzzConfiguration", [server]),
        fuzzTarget(
            "FuzzJWT",
            [server, .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        fuzzTarget(
            "FuzzWebSocketFrames",
            [
                server,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
    ]
)
