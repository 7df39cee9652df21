import PostgresNIO

extension Error {
    /// One line on what went wrong with PostgreSQL, for logs and `/health`: the server's own message,
    /// or the connection's error. (`PSQLError`'s description hides everything; its reflection is a
    /// page long.)
    var postgresReason: String {
        guard let error = self as? PSQLError else { return "\(self)" }
        if let message = error.serverInfo?[.message] { return message }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }
}
