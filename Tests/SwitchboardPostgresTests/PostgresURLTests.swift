import SwitchboardPostgres
import Testing

@Suite struct PostgresURLTests {
    @Test func fullURL() throws {
        let url = try PostgresURL("postgres://app:p%40ss@db.internal:6543/chat?sslmode=require")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.username == "app")
        #expect(url.password == "p@ss")
        #expect(url.database == "chat")
        #expect(url.sslMode == "require")
        #expect(url.description == "postgres://app:***@db.internal:6543/chat?sslmode=require", "logs never show the password")
    }

    @Test func defaults() throws {
        let url = try PostgresURL("postgresql://app@127.0.0.1")
        #expect(url.port == 5432)
        #expect(url.password == nil)
        #expect(url.database == nil)
        #expect(url.sslMode == "disable")
    }

    @Test func badURLsSayWhatIsWrongWithoutThePassword() {
        #expect(throws: PostgresURLError.self) { try PostgresURL("mysql://app@host/db") }
        #expect(throws: PostgresURLError.self) { try PostgresURL("postgres://host/db") }
        #expect(throws: PostgresURLError.self) { try PostgresURL("postgres://app@host/db?sslmode=maybe") }
        #expect(throws: PostgresURLError.self) { try PostgresURL("postgres://app@host/db?pool=3") }
        do {
            _ = try PostgresURL("not a url with secret:hunter2@host")
            Issue.record("must be refused")
        } catch {
            #expect(!error.description.contains("hunter2"))
        }
    }
}
