#!/usr/bin/env bash
# Regenerates Sources/CentrifugeProtobuf/client.pb.swift from Sources/CentrifugeProtobuf/client.proto.
#
# Run it only after editing client.proto (for example to follow a change in the upstream
# centrifugal/protocol schema), or after moving the swift-protobuf requirement in Package.swift
# to another version, then commit client.proto and client.pb.swift together. Ordinary builds,
# tests and CI use the committed client.pb.swift and need neither protoc nor protoc-gen-swift.
#
# What it does:
#   1. installs Debian's protobuf-compiler with apt-get (through sudo when not root) if `protoc`
#      is not on PATH;
#   2. builds protoc-gen-swift from swift-protobuf $SWIFT_PROTOBUF_VERSION (the version
#      Package.swift resolves) in .build-protoc-gen-swift/ (git-ignored) and keeps it there, so
#      only the first run pays for the build (about 10 minutes on 2 cores);
#   3. runs protoc with --swift_opt=Visibility=Public into Sources/CentrifugeProtobuf.
#
# Usage: scripts/generate-protobuf.sh            build the plugin if needed, then generate
#        scripts/generate-protobuf.sh --plugin   only build (or find) the plugin
set -euo pipefail

SWIFT_PROTOBUF_VERSION="${SWIFT_PROTOBUF_VERSION:-1.39.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLUGIN_DIR="$ROOT/.build-protoc-gen-swift"
PROTO_DIR="$ROOT/Sources/CentrifugeProtobuf"

ensure_protoc() {
    if command -v protoc >/dev/null 2>&1; then
        return
    fi
    echo "protoc not found: installing Debian's protobuf-compiler" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends protobuf-compiler
}

build_plugin() {
    local pkg="$PLUGIN_DIR/pkg"
    local stamp="$PLUGIN_DIR/version"
    PLUGIN="$PLUGIN_DIR/bin/protoc-gen-swift"
    if [ -x "$PLUGIN" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$SWIFT_PROTOBUF_VERSION" ]; then
        return
    fi
    echo "building protoc-gen-swift $SWIFT_PROTOBUF_VERSION in $PLUGIN_DIR (slow the first time)" >&2
    mkdir -p "$pkg/Sources/Placeholder" "$PLUGIN_DIR/bin"
    # A throwaway package whose only job is to resolve swift-protobuf at exactly this version, so
    # that `swift build --product protoc-gen-swift` builds the dependency's plugin executable.
    cat >"$pkg/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "protoc-gen-swift-builder",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "$SWIFT_PROTOBUF_VERSION"),
    ],
    targets: [
        .target(name: "Placeholder", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    ]
)
SWIFT
    echo "import SwiftProtobuf" >"$pkg/Sources/Placeholder/Placeholder.swift"
    swift build --package-path "$pkg" --scratch-path "$PLUGIN_DIR/build" --product protoc-gen-swift
    cp "$(swift build --package-path "$pkg" --scratch-path "$PLUGIN_DIR/build" --show-bin-path)/protoc-gen-swift" "$PLUGIN"
    echo "$SWIFT_PROTOBUF_VERSION" >"$stamp"
}

build_plugin
if [ "${1:-}" = "--plugin" ]; then
    echo "$PLUGIN"
    exit 0
fi
ensure_protoc

protoc \
    --plugin=protoc-gen-swift="$PLUGIN" \
    --swift_out="$PROTO_DIR" \
    --swift_opt=Visibility=Public \
    -I "$PROTO_DIR" \
    client.proto
echo "generated $PROTO_DIR/client.pb.swift with $(protoc --version) and $("$PLUGIN" --version)" >&2
