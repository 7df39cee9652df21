import Switchboard
import TOMLKit
import Yams

/// The syntax of a configuration file, chosen by its extension: `.json`, `.yaml` / `.yml` or
/// `.toml`. Each is read into the same tree of ``JSONValue``s, so the keys, their checks and their
/// errors (``ConfigurationFile``) are one and the same whatever the format.
public enum ConfigurationFormat: String, Sendable, CaseIterable {
    case json
    case yaml
    case toml

    /// The format a file's extension names, or `nil` for any other extension.
    public init?(path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "json": self = .json
        case "yaml", "yml": self = .yaml
        case "toml": self = .toml
        default: return nil
        }
    }

    /// The extensions a configuration file may have, for error messages.
    public static let extensions = ".json, .yaml, .yml or .toml"

    /// The document in `text` as a tree of values; a syntax error names the line and column.
    public func parse(_ text: String) throws(ConfigurationFile.Error) -> JSONValue {
        switch self {
        case .json:
            do {
                return try JSONValue.parse(text)
            } catch {
                throw ConfigurationFile.Error("not valid JSON: \(error)")
            }
        case .yaml: return try Self.parseYAML(text)
        case .toml: return try Self.parseTOML(text)
        }
    }

    // MARK: YAML

    private static func parseYAML(_ text: String) throws(ConfigurationFile.Error) -> JSONValue {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationFile.Error("not valid YAML: \(Self.describe(error))")
        } catch {
            throw ConfigurationFile.Error("not valid YAML: \(error)")
        }
        // An empty document holds no settings.
        guard let root else { return .object([]) }
        return try Self.value(of: root, at: "")
    }

    /// A YAML error on one line: where, and what (Yams's own text adds a multi-line snippet).
    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return "line \(mark.line), column \(mark.column): \(detail)"
        case .duplicatedKeysInMapping(let duplicates, _):
            let keys = duplicates.map { "'\($0)'" }.sorted().joined(separator: ", ")
            return "a key is given twice in one mapping: \(keys)"
        default:
            return "\(error)"
        }
    }

    private static func value(of node: Node, at path: String) throws(ConfigurationFile.Error) -> JSONValue {
        switch node {
        case .mapping(let mapping):
            var members: [JSONValue.Member] = []
            for (key, value) in mapping {
                guard let name = key.scalar?.string else {
                    throw ConfigurationFile.Error("line \(key.mark?.line ?? 0): a key must be a plain name, not a list or mapping")
                }
                members.append(.init(key: name, value: try Self.value(of: value, at: Self.join(path, name))))
            }
            return .object(members)
        case .sequence(let sequence):
            var elements: [JSONValue] = []
            for (index, element) in sequence.enumerated() {
                elements.append(try Self.value(of: element, at: "\(path)[\(index)]"))
            }
            return .array(elements)
        case .scalar(let scalar):
            switch Resolver.default.resolveTag(of: node) {
            case .null: return .null
            case .bool: if let bool = node.bool { return .bool(bool) }
            case .int: if let int = node.int { return .integer(int) }
            case .float: if let double = node.float, double.isFinite { return .number("\(double)") }
            default: break
            }
            return .string(scalar.string)
        case .alias:
            throw ConfigurationFile.Error("'\(path)': YAML aliases are not supported")
        }
    }

    // MARK: TOML

    private static func parseTOML(_ text: String) throws(ConfigurationFile.Error) -> JSONValue {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationFile.Error(
                "not valid TOML: line \(error.source.begin.line), column \(error.source.begin.column): \(Self.oneLine(error.description))"
            )
        } catch {
            throw ConfigurationFile.Error("not valid TOML: \(error)")
        }
        return Self.value(of: table)
    }

    private static func value(of value: any TOMLValueConvertible) -> JSONValue {
        switch value.type {
        case .table:
            guard let table = value.table else { return .null }
            return .object(table.map { key, value in JSONValue.Member(key: key, value: Self.value(of: value)) })
        case .array:
            guard let array = value.array else { return .null }
            return .array(array.map { Self.value(of: $0) })
        case .string: return value.string.map { .string($0) } ?? .null
        case .int: return value.int.map { .integer($0) } ?? .null
        case .double:
            guard let double = value.double, double.isFinite else { return .string(value.debugDescription) }
            return .number("\(double)")
        case .bool: return value.bool.map { .bool($0) } ?? .null
        // No setting takes a date or time: as text, they get the setting's own type error.
        case .date, .time, .dateTime: return .string(value.debugDescription)
        }
    }

    /// `text` on one line: control characters (the newline toml++ quotes) escaped.
    private static func oneLine(_ text: String) -> String {
        var line = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            default: line.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
            }
        }
        return line
    }

    private static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }
}
