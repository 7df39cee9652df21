import NIOCore
import SwitchboardRedis
import Testing

/// The RESP parser on every reply type, on bytes split anywhere and merged together, and on bytes
/// that are not RESP.
@Suite struct RESPParserTests {
    let parser = RESPParser()

    func parseAll(_ text: String, parser: RESPParser = RESPParser()) throws -> [RESPValue] {
        var buffer = ByteBuffer(string: text)
        var values: [RESPValue] = []
        while let value = try parser.parse(&buffer) { values.append(value) }
        #expect(buffer.readableBytes == 0, "left over: \(String(buffer: buffer))")
        return values
    }

    static let cases: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("+\r\n", .simpleString("")),
        ("-ERR unknown command 'FOO'\r\n", .error(RedisError("ERR unknown command 'FOO'"))),
        ("-NOSCRIPT No matching script. Please use EVAL.\r\n", .error(RedisError("NOSCRIPT No matching script. Please use EVAL."))),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        ("$6\r\nfoobar\r\n", .bulkString(ByteBuffer(string: "foobar"))),
        ("$0\r\n\r\n", .bulkString(ByteBuffer())),
        ("$4\r\na\r\nb\r\n", .bulkString(ByteBuffer(string: "a\r\nb"))),  // binary-safe: CRLF inside
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("_\r\n", .null),
        ("*0\r\n", .array([])),
        ("*2\r\n$3\r\nfoo\r\n:7\r\n", .array([.bulkString(ByteBuffer(string: "foo")), .integer(7)])),
        ("*2\r\n*1\r\n+a\r\n*0\r\n", .array([.array([.simpleString("a")]), .array([])])),
        ("*3\r\n$1\r\nx\r\n$-1\r\n-ERR in array\r\n", .array([.bulkString(ByteBuffer(string: "x")), .null, .error(RedisError("ERR in array"))])),
        (",3.14\r\n", .double(3.14)),
        (",inf\r\n", .double(.infinity)),
        (",-inf\r\n", .double(-.infinity)),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
        ("!21\r\nSYNTAX invalid syntax\r\n", .error(RedisError("SYNTAX invalid syntax"))),
        ("=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", text: "Some string")),
        ("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", .map([.simpleString("first"), .integer(1), .simpleString("second"), .integer(2)])),
        ("~2\r\n+a\r\n+b\r\n", .set([.simpleString("a"), .simpleString("b")])),
        (">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n", .push([.bulkString(ByteBuffer(string: "message")), .bulkString(ByteBuffer(string: "ch")), .bulkString(ByteBuffer(string: "hello"))])),
        // An attribute is read and dropped: the value after it is the reply.
        ("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:5\r\n", .integer(5)),
    ]

    @Test func everyReplyType() throws {
        for (text, expected) in Self.cases {
            #expect(try self.parseAll(text) == [expected], "\(text.debugDescription)")
        }
    }

    @Test func aValueSplitAtEveryByteIsIncompleteUntilItsLastByte() throws {
        for (text, expected) in Self.cases {
            let bytes = Array(text.utf8)
            for cut in 0..<bytes.count {
                var buffer = ByteBuffer(bytes: bytes[..<cut])
                #expect(try self.parser.parse(&buffer) == nil, "\(text.debugDescription) cut at \(cut)")
                #expect(buffer.readableBytes == cut, "an incomplete value consumes nothing")
                buffer.writeBytes(bytes[cut...])
                #expect(try self.parser.parse(&buffer) == expected, "\(text.debugDescription) cut at \(cut)")
                #expect(buffer.readableBytes == 0)
            }
        }
    }

    @Test func valuesMergedInOneReadComeOutInOrder() throws {
        let text = Self.cases.map(\.0).joined()
        let values = try self.parseAll(text)
        #expect(values.count == Self.cases.count)
        for (value, expected) in zip(values, Self.cases.map(\.1)) {
            #expect(value == expected)
        }
        // And the same stream fed a few bytes at a time.
        var buffer = ByteBuffer()
        var fed: [RESPValue] = []
        for chunk in Array(text.utf8).chunks(of: 7) {
            buffer.writeBytes(chunk)
            while let value = try self.parser.parse(&buffer) { fed.append(value) }
        }
        #expect(fed == values)
    }

    @Test(arguments: [
        ("?what\r\n", "unknown type byte"),
        ("+OK\n", "CRLF"),
        (":12a\r\n", "not an integer"),
        ("$3\r\nfoobar\r\n", "CRLF"),
        ("$-2\r\n", "bulk length"),
        ("*-5\r\n", "aggregate"),
        ("#x\r\n", "boolean"),
        (",pi\r\n", "double"),
        ("_x\r\n", "null"),
        ("=2\r\nab\r\n", "verbatim"),
    ])
    func bytesThatAreNotRESPAreAnError(_ text: String, _ reason: String) {
        var buffer = ByteBuffer(string: text)
        #expect {
            _ = try self.parser.parse(&buffer)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func aPeerCannotMakeItHoldMoreThanTheLimits() throws {
        var limits = RESPParser.Limits()
        limits.maxBulkLength = 10
        limits.maxElements = 3
        limits.maxDepth = 2
        limits.maxLineLength = 16
        let parser = RESPParser(limits: limits)
        for (text, reason) in [
            ("$11\r\n", "bulk length"),
            ("*4\r\n", "aggregate"),
            ("%2\r\n", "aggregate"),
            ("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "nested"),
            ("+" + String(repeating: "x", count: 40), "longer than"),  // no CRLF yet, already too long
        ] {
            var buffer = ByteBuffer(string: text)
            #expect(throws: RESPProtocolError.self, "\(text.debugDescription)") { _ = try parser.parse(&buffer) }
            buffer = ByteBuffer(string: text)
            do { _ = try parser.parse(&buffer) } catch { #expect("\(error)".contains(reason), "\(error)") }
        }
        // Within the limits, fine.
        #expect(try self.parseAll("*3\r\n$10\r\n0123456789\r\n*1\r\n:1\r\n_\r\n", parser: parser).count == 1)
        // A claimed length far beyond what arrived reserves nothing big and waits.
        var buffer = ByteBuffer(string: "*16000000\r\n:1\r\n")
        #expect(try RESPParser().parse(&buffer) == nil)
    }

    @Test func commandsAreArraysOfBulkStrings() {
        var buffer = ByteBuffer()
        RESPCommand("SET", "key", "va\r\nlue").write(into: &buffer)
        RESPCommand([ByteBuffer(string: "PING")]).write(into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n*1\r\n$4\r\nPING\r\n")
        #expect(RESPCommand("AUTH", "secret").name == "AUTH")
        #expect(RedisError("NOSCRIPT No matching script").code == "NOSCRIPT")
        #expect(RedisError("oops").code == nil)
    }
}

extension Array {
    fileprivate func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: self.count, by: size).map { self[$0..<Swift.min($0 + size, self.count)] }
    }
}
