import Foundation
import Switchboard
import Testing

/// Fossil deltas: what ``FossilDelta/create(from:to:)`` makes, ``FossilDelta/apply(_:to:)`` turns back
/// into the target, for inputs of every shape; malformed deltas are errors; and the committed vectors
/// (`Fixtures/fossil-vectors.json`, which `Tests/Protocol/test_fossil_vectors.py` checks with
/// centrifuge-python's own `apply_delta`) are reproduced byte for byte.
@Suite struct FossilDeltaTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Pairs of (source, target) of every shape the create code has a branch for.
    static var pairs: [(String, [UInt8], [UInt8])] {
        var random = SystemRandomNumberGenerator()
        let big = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        var edited = big
        edited.replaceSubrange(50_000..<50_010, with: [1, 2, 3])
        edited.append(contentsOf: [9, 9, 9])
        let document = #"{"id":42,"name":"Ada","scores":[1,2,3,4,5,6,7,8,9,10],"status":"online","updated":"2026-12-01T13:00:00Z"}"#
        let changed = document.replacingOccurrences(of: "online", with: "away").replacingOccurrences(of: "13:00", with: "13:05")
        return [
            ("empty to empty", [], []),
            ("empty to text", [], bytes("hello")),
            ("text to empty", bytes(String(repeating: "a", count: 100)), []),
            ("shorter than a block", bytes("short"), bytes("shorter")),
            ("identical", bytes(document), bytes(document)),
            ("a JSON document edited", bytes(document), bytes(changed)),
            ("appended", bytes(document), bytes(document + document)),
            ("prepended", bytes(document), bytes("prefix " + document)),
            ("unrelated", bytes(String(repeating: "xyz", count: 40)), bytes(String(repeating: "0123456789", count: 30))),
            ("100 KB of random bytes edited in the middle", big, edited),
            ("bytes above 127", (0..<200).map { UInt8(($0 * 37) & 0xff) }, (0..<220).map { UInt8(($0 * 37 + 5) & 0xff) }),
        ]
    }

    @Test func everyDeltaTurnsTheSourceIntoTheTarget() throws {
        for (name, source, target) in Self.pairs {
            let delta = FossilDelta.create(from: source, to: target)
            #expect(try FossilDelta.apply(delta, to: source) == target, "\(name)")
        }
    }

    @Test func similarPayloadsGiveSmallDeltas() {
        let pairs = Self.pairs
        let (_, source, target) = pairs.first { $0.0 == "a JSON document edited" }!
        let delta = FossilDelta.create(from: source, to: target)
        #expect(delta.count * 3 < target.count, "\(delta.count) bytes for \(target.count)")
        let (_, big, edited) = pairs.first { $0.0.hasPrefix("100 KB") }!
        #expect(FossilDelta.create(from: big, to: edited).count < 200)
    }

    @Test(arguments: [
        ("", "ends early"),
        ("5", "ends early"),
        ("5!", "not followed by a newline"),
        ("5\n5:hello", "no checksum"),
        ("5\n3:hel!", "unknown delta command"),
        ("5\n9:hello", "larger than its size"),
        ("5\n5:hel", "reaches past the delta"),
        ("3\n3@99,", "reaches past the source"),
        ("5\n5:hello0;", "checksum"),
        ("9\n5:helloXhtn;", "checksum"),
        ("5\n5?hello", "unknown delta command"),
    ])
    func malformedDeltasAreErrors(delta: String, problem: String) {
        #expect {
            try FossilDelta.apply(Self.bytes(delta), to: Self.bytes("abc"))
        } throws: { error in
            (error as? FossilDelta.Error)?.description.contains(problem) == true
        }
    }

    // MARK: The committed vectors

    struct Vector: Codable {
        var name: String
        var source: String
        var target: String
        var delta: String
    }

    static let vectorsFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fossil-vectors.json")

    /// Vectors of text pairs (JSON strings), so the Python check reads them as they are.
    static var textPairs: [(String, String, String)] {
        let document = #"{"id":42,"name":"Ada","scores":[1,2,3,4,5,6,7,8,9,10],"status":"online","updated":"2026-12-01T13:00:00Z"}"#
        var rows: [(String, String, String)] = [
            ("empty", "", ""),
            ("short", "short", "shorter"),
            ("identical", document, document),
            ("edited", document, document.replacingOccurrences(of: "online", with: "away").replacingOccurrences(of: "13:00", with: "13:05")),
            ("doubled", document, document + document),
            ("unrelated", String(repeating: "xyz", count: 40), String(repeating: "0123456789", count: 30)),
        ]
        let lines = (0..<200).map { "line \($0): the quick brown fox jumps over the lazy dog" }
        var changed = lines
        changed[10] = "line 10 was changed"
        changed.remove(at: 100)
        changed.insert("a new line in the middle", at: 150)
        rows.append(("a long text edited in three places", lines.joined(separator: "\n"), changed.joined(separator: "\n")))
        return rows
    }

    /// `SWITCHBOARD_WRITE_FOSSIL_VECTORS=1 swift test --filter FossilDeltaTests` writes the file again.
    @Test func theCommittedVectorsAreReproduced() throws {
        let made = Self.textPairs.map { name, source, target in
            Vector(name: name, source: source, target: target, delta: String(decoding: FossilDelta.create(from: Self.bytes(source), to: Self.bytes(target)), as: UTF8.self))
        }
        if ProcessInfo.processInfo.environment["SWITCHBOARD_WRITE_FOSSIL_VECTORS"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(made).write(to: Self.vectorsFile)
        }
        let committed = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: Self.vectorsFile))
        #expect(committed.map(\.name) == made.map(\.name))
        for (vector, mine) in zip(committed, made) {
            #expect(vector.delta == mine.delta, "\(vector.name): create makes the committed delta")
            #expect(try FossilDelta.apply(Self.bytes(vector.delta), to: Self.bytes(vector.source)) == Self.bytes(vector.target), "\(vector.name)")
        }
    }
}
