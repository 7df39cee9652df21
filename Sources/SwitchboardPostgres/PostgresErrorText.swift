import PostgresNIO
import Switchboard

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

    /// The SQLSTATE of an error PostgreSQL reported, if it is one.
    var postgresSQLState: String? {
        guard let error = self as? PSQLError, error.code == .server else { return nil }
        return error.serverInfo?[.sqlState]
    }

    /// What a client is told of this error from a database call (``EngineError``): PostgreSQL
    /// unreachable, restarting, overloaded or too slow is temporary ("the database is unreachable",
    /// or PostgreSQL's reason); PostgreSQL refusing the statement (a SQLSTATE outside those classes)
    /// is not, and carries PostgreSQL's message, as do errors in reading its answer. Anything else is
    /// taken for a connection problem (temporary), so that clients keep retrying through an outage.
    var engineError: EngineError {
        if let state = self.postgresSQLState {
            let message = self.postgresReason
            if Self.isTransient(sqlState: state) { return EngineError("PostgreSQL is unavailable: \(message)", kind: .unavailable) }
            return EngineError("PostgreSQL refused it: \(message) (SQLSTATE \(state))", kind: .internal)
        }
        if let error = self as? PSQLError {
            switch error.code {
            case .messageDecodingFailure, .unexpectedBackendMessage, .invalidCommandTag, .tooManyParameters:
                return EngineError("PostgreSQL's answer could not be used: \(error.postgresReason)", kind: .internal)
            default:
                return EngineError("the database is unreachable", kind: .unavailable)
            }
        }
        if self is PostgresDecodingError { return EngineError("PostgreSQL's answer could not be read: \(self)", kind: .internal) }
        if let error = self as? PostgresStreamsError { return EngineError("\(error)", kind: .internal) }
        return EngineError("the database is unreachable", kind: .unavailable)
    }

    /// SQLSTATE classes that say "not now" rather than "not this": connection exceptions (08),
    /// transaction rollbacks such as serialization failures and deadlocks (40), insufficient
    /// resources (53), lock not available (55P03), operator intervention such as a shutdown or a
    /// cancelled statement (57) and system errors such as I/O (58).
    private static func isTransient(sqlState state: String) -> Bool {
        ["08", "40", "53", "57", "58"].contains(String(state.prefix(2))) || state == "55P03"
    }
}
