import Logging
import NIOConcurrencyHelpers

/// A logger whose lines are kept, for tests of what the server logs.
final class LogCapture: Sendable {
    struct Line: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let box = NIOLockedValueBox<[Line]>([])

    var lines: [Line] { self.box.withLockedValue { $0 } }

    var logger: Logger { Logger(label: "capture") { _ in Handler(capture: self) } }

    fileprivate func append(_ line: Line) { self.box.withLockedValue { $0.append(line) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            self.capture.append(Line(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
        }
    }
}
