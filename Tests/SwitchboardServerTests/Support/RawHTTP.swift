import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A response read by ``rawHTTP(port:method:path:headers:)``.
struct RawHTTPResponse: Sendable {
    let status: Int
    /// Header names lower-cased.
    let headers: [String: String]
    let body: String
}

/// One HTTP/1.1 request to 127.0.0.1 over a plain socket (`Connection: close`), read to the end,
/// with `body` if given (and its `Content-Length`).
/// Runs on a thread of its own (``onOwnThread(_:)``), off the cooperative threads.
func rawHTTP(port: Int, method: String = "GET", path: String, headers: [String: String] = [:], body: String? = nil) async throws -> RawHTTPResponse {
    try await onOwnThread { try blockingHTTP(port: port, method: method, path: path, headers: headers, body: body) }
}

private func blockingHTTP(port: Int, method: String, path: String, headers: [String: String], body: String?) throws -> RawHTTPResponse {
    let fd = try connectLoopback(port: port)
    defer { close(fd) }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    if let body { request += "Content-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + (body ?? "")
    let bytes = Array(request.utf8)
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { throw TestFailure("write() failed") }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("malformed HTTP response: \(text)") }
    let lines = text[..<split.lowerBound].split(separator: "\r\n")
    guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ")[1]) else {
        throw TestFailure("malformed status line")
    }
    var fields: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        fields[name] = fields[name].map { $0 + ", " + value } ?? value
    }
    return RawHTTPResponse(status: status, headers: fields, body: String(text[split.upperBound...]))
}

/// A blocking TCP socket connected to 127.0.0.1:`port`, with a 5 s receive timeout.
///
/// - Parameter receiveBuffer: A small `SO_RCVBUF`, set before connecting so the window stays small.
func connectLoopback(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else {
        close(fd)
        throw TestFailure("connect() failed: errno \(errno)")
    }
    return fd
}
