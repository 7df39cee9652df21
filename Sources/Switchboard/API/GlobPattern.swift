/// Channel name patterns for the `channels` method: `*` matches any run of characters, `?` one.
public struct GlobPattern: Sendable {
    /// The pattern's characters.
    public let pattern: [Character]

    /// A pattern from its text (`rooms:*`).
    public init(_ pattern: String) {
        self.pattern = Array(pattern)
    }

    /// Whether the whole of `text` matches.
    public func matches(_ text: String) -> Bool {
        let text = Array(text)
        var p = 0
        var t = 0
        var star: Int?
        var mark = 0
        while t < text.count {
            if p < self.pattern.count, self.pattern[p] == "?" || self.pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < self.pattern.count, self.pattern[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if let starAt = star {
                p = starAt + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < self.pattern.count, self.pattern[p] == "*" { p += 1 }
        return p == self.pattern.count
    }
}
