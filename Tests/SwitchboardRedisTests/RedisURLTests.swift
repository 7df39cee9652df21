import SwitchboardRedis
import Testing

@Suite struct RedisURLTests {
    @Test func theFormsOperatorsWrite() throws {
        let plain = try RedisURL("redis://localhost")
        #expect(plain == RedisURL.make(host: "localhost", port: 6379, username: nil, password: nil, database: 0, tls: false))
        let full = try RedisURL("rediss://app:p%40ss@redis.internal:6380/3")
        #expect(full == RedisURL.make(host: "redis.internal", port: 6380, username: "app", password: "p@ss", database: 3, tls: true))
        #expect(try RedisURL("redis://:secret@h").password == "secret")
        #expect(try RedisURL("redis://:secret@h").username == nil)
        #expect(try RedisURL("redis://secret@h").password == "secret", "a lone user part is the password, as most clients read it")
        #expect(full.description == "rediss://app:***@redis.internal:6380/3", "never the password")
    }

    @Test(arguments: [
        ("http://h", "scheme"), ("redis://", "host"), ("redis://h/x", "database"), ("redis://h/-1", "database"),
        ("redis://h?timeout=3", "parameter"), ("not a url", "URL"),
    ])
    func mistakesAreNamedWithoutTheURL(_ text: String, _ what: String) {
        #expect {
            _ = try RedisURL(text)
        } throws: { error in
            "\(error)".contains(what)
        }
    }
}

extension RedisURL {
    static func make(host: String, port: Int, username: String?, password: String?, database: Int, tls: Bool) -> RedisURL {
        var url = try! RedisURL("redis://placeholder")
        url.host = host
        url.port = port
        url.username = username
        url.password = password
        url.database = database
        url.tls = tls
        return url
    }
}
