extension Duration {
    /// Whole milliseconds (rounded toward zero), for what engines hand to a database or a log line
    /// (SQL `interval` arithmetic, back-off delays).
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
