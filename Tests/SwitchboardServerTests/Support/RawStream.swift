import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 request to 127.0.0.1 over a plain socket whose response is read as it streams: the
/// head first, then the body (chunked or with a `Content-Length`) line by line or event by event.
/// Reads block (5 s timeout) on threads of their own, off the test's cooperative threads.
final class RawStream: @unchecked Sendable {
    // @unchecked: used by one test task at a time, one call after the other.
    let status: Int
    /// Header names lower-cased.
    let headers: [String: String]
    private let fd: Int32
    /// Bytes read from the socket and not yet decoded.
    private var raw: [UInt8]
    /// Body bytes decoded and not yet taken.
    private var body: [UInt8] = []
    private var chunked: Bool
    private var remaining: Int?
    /// The body is complete (last chunk, all of `Content-Length`, or end of the connection).
    private(set) var ended = false

    private init(fd: Int32, status: Int, headers: [String: String], rest: [UInt8]) {
        self.fd = fd
        self.status = status
        self.headers = headers
        self.raw = rest
        self.chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
        // Without either, the body runs until the connection ends.
        self.remaining = headers["content-length"].flatMap(Int.init)
        if self.remaining == 0 { self.ended = true }
    }

    deinit { close(self.fd) }

    /// Send the request and read the response head.
    ///
    /// - Parameter receiveBuffer: A small `SO_RCVBUF`, for a client that stops reading.
    static func open(
        port: Int,
        method: String,
        path: String,
        headers: [String: String] = [:],
        body: String? = nil,
        receiveBuffer: Int32? = nil
    ) async throws -> RawStream {
        try await onOwnThread {
            let fd = try connectLoopback(port: port, receiveBuffer: receiveBuffer)
            var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
            for (name, value) in headers { request += "\(name): \(value)\r\n" }
            if let body { request += "Content-Length: \(body.utf8.count)\r\n" }
            request += "\r\n" + (body ?? "")
            let bytes = Array(request.utf8)
            guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
                close(fd)
                throw TestFailure("write() failed")
            }
            var received: [UInt8] = []
            let separator: [UInt8] = Array("\r\n\r\n".utf8)
            while true {
                if let end = Self.find(separator, in: received) {
                    let text = String(decoding: received[..<end], as: UTF8.self)
                    let lines = text.split(separator: "\r\n")
                    guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ")[1]) else {
                        close(fd)
                        throw TestFailure("malformed status line: \(text)")
                    }
                    var fields: [String: String] = [:]
                    for line in lines.dropFirst() {
                        guard let colon = line.firstIndex(of: ":") else { continue }
                        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    }
                    return RawStream(fd: fd, status: status, headers: fields, rest: Array(received[(end + 4)...]))
                }
                guard let more = Self.readSome(fd) else {
                    close(fd)
                    throw TestFailure("connection ended before the response head")
                }
                received += more
            }
        }
    }

    /// The body up to and without the next `separator`, or `nil` once the body has ended without one.
    func next(until separator: String) async throws -> String? {
        let separator = Array(separator.utf8)
        return try await onOwnThread {
            while true {
                if let end = Self.find(separator, in: self.body) {
                    let piece = String(decoding: self.body[..<end], as: UTF8.self)
                    self.body.removeFirst(end + separator.count)
                    return piece
                }
                if self.ended { return nil }
                try self.readBody()
            }
        }
    }

    /// The next newline-delimited line (`uni_http_stream`).
    func nextLine() async throws -> String? { try await self.next(until: "\n") }

    /// The data of the next Server-Sent Event (`uni_sse`), skipping blank lines before it.
    func nextEvent() async throws -> String? {
        while let event = try await self.next(until: "\n\n") {
            let trimmed = event.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard trimmed.hasPrefix("data: ") else { throw TestFailure("not a data event: \(trimmed)") }
            return String(trimmed.dropFirst(6))
        }
        return nil
    }

    /// The rest of the body, once it has ended.
    func rest() async throws -> String {
        try await onOwnThread {
            while !self.ended { try self.readBody() }
            defer { self.body = [] }
            return String(decoding: self.body, as: UTF8.self)
        }
    }

    /// Decode what `raw` holds into `body`, reading from the socket when it holds nothing whole.
    private func readBody() throws {
        if self.decode() { return }
        guard let more = Self.readSome(self.fd) else {
            self.ended = true
            return
        }
        self.raw += more
        _ = self.decode()
    }

    /// Move whole pieces from `raw` to `body`; whether anything moved (or the body ended).
    private func decode() -> Bool {
        if !self.chunked {
            guard !self.raw.isEmpty else { return false }
            let take = min(self.raw.count, self.remaining ?? self.raw.count)
            self.body += self.raw[..<take]
            self.raw.removeFirst(take)
            if let remaining = self.remaining {
                self.remaining = remaining - take
                if self.remaining == 0 { self.ended = true }
            }
            return true
        }
        var moved = false
        let crlf: [UInt8] = [13, 10]
        while let lineEnd = Self.find(crlf, in: self.raw) {
            let sizeText = String(decoding: self.raw[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
            if size == 0 {
                self.ended = true
                return true
            }
            let start = lineEnd + 2
            guard self.raw.count >= start + size + 2 else { break }
            self.body += self.raw[start..<(start + size)]
            self.raw.removeFirst(start + size + 2)
            moved = true
        }
        return moved
    }

    private static func readSome(_ fd: Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &buffer, buffer.count)
        return n > 0 ? Array(buffer[0..<n]) : nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
