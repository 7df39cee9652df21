#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging
import Synchronization
import Switchboard

/// How the server writes its logs.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's text lines: `2026-12-01T10:00:00+0000 info switchboard : key=value Message`.
    case text
    /// One JSON object per line, for log collectors (``JSONLogHandler``).
    case json
}

/// A swift-log handler that writes one JSON object per line to standard error:
///
/// ```json
/// {"timestamp":"2026-12-01T10:00:00.123Z","level":"info","label":"switchboard","message":"Switchboard listening","metadata":{"address":"http://127.0.0.1:8000"}}
/// ```
///
/// `metadata` is there only when there is some; nested metadata becomes nested objects and arrays.
/// Each line is written with one `write` call under a process-wide lock, so lines from several
/// threads never interleave.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// A handler for `label`, writing to standard error (or to `write`, for tests).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write ?? Self.writeToStandardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level
        let message = event.message
        let explicit = event.metadata
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit { merged.merge(explicit) { _, new in new } }
        var members: [JSONValue.Member] = [
            .init(key: "timestamp", value: .string(Self.timestamp())),
            .init(key: "level", value: .string(level.rawValue)),
            .init(key: "label", value: .string(self.label)),
            .init(key: "message", value: .string(message.description)),
        ]
        if !merged.isEmpty {
            members.append(.init(key: "metadata", value: .object(merged.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: Self.json($0.value)) })))
        }
        self.write(JSONValue.object(members).jsonText + "\n")
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let array): .array(array.map(Self.json))
        case .dictionary(let dictionary): .object(dictionary.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: Self.json($0.value)) })
        }
    }

    /// Now, in UTC, to the millisecond: `2026-12-01T10:00:00.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millis = Int32(now.tv_nsec / 1_000_000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(millis, 3))Z"
    }

    private static let lock = Mutex(())

    @Sendable private static func writeToStandardError(_ line: String) {
        lock.withLock { _ in
            var line = line
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = systemWrite(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }
}

extension LogFormat {
    /// A swift-log handler factory for `LoggingSystem.bootstrap`: every logger at `level`.
    public func makeHandler(level: Logger.Level) -> @Sendable (String) -> any LogHandler {
        switch self {
        case .text:
            return { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            return { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
