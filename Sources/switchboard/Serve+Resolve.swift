import ArgumentParser
import Foundation
import SwitchboardServer

/// The parts of `serve`'s resolution that are groups of their own: the proxy, compression, and the
/// environment reader every option uses.
extension Serve {
    /// The proxy flags and variables, over the configuration file's proxy settings.
    func resolveProxy(env: EnvironmentReader, into proxy: inout ProxyConfiguration) throws {
        let endpoints: [(ProxyConfiguration.Kind, String, String?, Double?)] = [
            (.connect, "connect", self.proxyConnectEndpoint, self.proxyConnectTimeout),
            (.refresh, "refresh", self.proxyRefreshEndpoint, self.proxyRefreshTimeout),
            (.rpc, "rpc", self.proxyRPCEndpoint, self.proxyRPCTimeout),
        ]
        for (kind, name, flagEndpoint, flagTimeout) in endpoints {
            let upper = name.uppercased()
            if let url = try flagEndpoint ?? env.string("PROXY_\(upper)_ENDPOINT") {
                proxy.endpoints[kind] = url.isEmpty ? nil : url
            }
            if let seconds = try flagTimeout ?? env.value("PROXY_\(upper)_TIMEOUT", parse: Double.init) {
                guard seconds > 0, seconds <= 60 else {
                    throw ValidationError("proxy-\(name)-timeout must be more than 0 and at most 60 seconds, got \(seconds)")
                }
                proxy.timeouts[kind] = .milliseconds(Int64(seconds * 1000))
            }
        }
        if let list = try self.proxyHTTPHeaders ?? env.string("PROXY_HTTP_HEADERS") {
            let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let bad = names.first(where: { !ProxyConfiguration.isValidHeaderName($0) }) {
                throw ValidationError("proxy-http-headers: '\(bad)' is not an HTTP header name")
            }
            proxy.httpHeaders = names
        }
        if let problem = proxy.problem() { throw ValidationError(problem) }
    }

    /// `--compression`, `--compression-min-size`, `--compression-level` and their variables, over
    /// the configuration file's `websocket_compression*` settings.
    func resolveCompression(env: EnvironmentReader, into compression: inout WebSocketCompression) throws {
        if let text = try self.compression ?? env.string("COMPRESSION") {
            guard let enabled = Self.parseBool(text) else { throw ValidationError("compression must be on or off, got '\(text)'") }
            compression.isEnabled = enabled
        }
        if let size = try self.compressionMinSize ?? env.value("COMPRESSION_MIN_SIZE", parse: Int.init) {
            guard size >= 0 else { throw ValidationError("compression-min-size must be 0 or more bytes, got \(size)") }
            compression.minimumSize = size
        }
        if let level = try self.compressionLevel ?? env.value("COMPRESSION_LEVEL", parse: Int.init) {
            guard (1...9).contains(level) else { throw ValidationError("compression-level must be from 1 to 9, got \(level)") }
            compression.level = level
        }
    }
}

/// Reads `SWITCHBOARD_<NAME>` variables, refusing values that do not parse.
struct EnvironmentReader {
    let environment: [String: String]

    func value<T>(_ name: String, parse: (String) -> T?) throws -> T? {
        let key = "SWITCHBOARD_" + name
        guard let raw = self.environment[key] else { return nil }
        guard let value = parse(raw) else { throw ValidationError("\(key)='\(raw)' is not a valid value") }
        return value
    }

    func string(_ name: String) throws -> String? {
        try self.value(name) { $0 }
    }
}
