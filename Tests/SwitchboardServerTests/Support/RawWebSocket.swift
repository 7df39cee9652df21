import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A WebSocket peer on a plain TCP socket, for what a well-behaved client library cannot do: it
/// never reads unless asked (so it never answers pings or drains what the server sends), it can drop
/// the TCP connection without a close frame, and it reads the handshake response byte by byte so a
/// frame the server sends right behind the `101` is never lost. (swift-websocket's client 1.6.2
/// sometimes loses such a frame, so tests of immediate refusals read them here.)
///
/// Blocking socket calls run on threads of their own (``onOwnThread(_:)``), one call at a time, never
/// on the cooperative threads, which the in-process server needs.
final class RawWebSocket: @unchecked Sendable {
    private let fd: Int32
    private let calls = NIOLock()

    private init(fd: Int32) {
        self.fd = fd
    }

    /// The server's handshake response head (status line and headers).
    private(set) var responseHead = ""

    deinit { close(self.fd) }

    /// Connect to 127.0.0.1 and complete the WebSocket handshake.
    ///
    /// - Parameter receiveBuffer: A small `SO_RCVBUF`, so that a peer that does not read fills up fast.
    ///   - answerPings: Start answering pings (see ``keepAlive()``) right after the handshake, on the
    ///     socket's own thread, before the test's task resumes (which a busy test process may delay).
    static func connect(
        port: Int,
        path: String,
        headers: [String: String] = [:],
        receiveBuffer: Int32? = nil,
        answerPings: Bool = false
    ) async throws -> RawWebSocket {
        let fd = try connectLoopback(port: port, receiveBuffer: receiveBuffer)
        let raw = RawWebSocket(fd: fd)
        try await raw.blockingCall {
            let request =
                "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + headers.map { "\($0.key): \($0.value)\r\n" }.joined() + "\r\n"
            try raw.writeAll(Array(request.utf8))
            // Read the response head byte by byte, so that no frame after it is consumed.
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while !head.ends(with: [13, 10, 13, 10]) {
                guard read(fd, &byte, 1) == 1 else { throw TestFailure("handshake response ended early") }
                head.append(byte)
            }
            guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
                throw TestFailure("handshake refused: \(String(decoding: head, as: UTF8.self))")
            }
            raw.responseHead = String(decoding: head, as: UTF8.self)
            if answerPings { raw.keepAlive() }
        }
        return raw
    }

    /// Send one masked text frame.
    func sendText(_ text: String) async throws {
        let bytes = Self.maskedFrame(opcode: 0x1, payload: Array(text.utf8))
        try await self.blockingCall { try self.writeAll(bytes) }
    }

    /// Send one masked frame whose first byte (FIN, RSV bits, opcode) is `first`.
    func sendFrame(first: UInt8, payload: [UInt8]) async throws {
        let bytes = Self.maskedFrame(opcode: 0, payload: payload, first: first)
        try await self.blockingCall { try self.writeAll(bytes) }
    }

    /// The next data frame (skipping control frames other than close): its first byte (FIN, RSV
    /// bits, opcode) and payload.
    func readDataFrame() async throws -> (first: UInt8, payload: [UInt8]) {
        try await self.blockingCall {
            while true {
                let frame = try self.readFrame()
                if frame.opcode == 0x8 { throw TestFailure("closed instead of a data frame") }
                if frame.opcode < 0x8 { return (frame.first, frame.payload) }
            }
        }
    }

    /// A client frame (FIN set, masked, or `first` as the first byte) of at most 65535 bytes of payload.
    private static func maskedFrame(opcode: UInt8, payload: [UInt8], first: UInt8? = nil) -> [UInt8] {
        precondition(payload.count < 65536, "frame too long for this helper")
        let mask: [UInt8] = [1, 2, 3, 4]
        var frame: [UInt8] = [first ?? (0x80 | opcode)]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    private let received = NIOLockedValueBox<[String]>([])

    /// Answer pings and collect text messages on a thread of its own, until the connection closes.
    private func keepAlive() {
        Thread {
            while let frame = try? self.readFrame() {
                switch frame.opcode {
                case 0x1: self.received.withLockedValue { $0.append(String(decoding: frame.payload, as: UTF8.self)) }
                case 0x9: try? self.writeAll(Self.maskedFrame(opcode: 0xA, payload: frame.payload))
                case 0x8: return
                default: break
                }
            }
        }.start()
    }

    /// Send text frames from a thread of its own; blocks there (not here) while the server does not
    /// read. Returns a flag that turns true once every frame is written.
    func sendInBackground(_ texts: [String]) -> NIOLockedValueBox<Bool> {
        let done = NIOLockedValueBox(false)
        Thread {
            for text in texts { try? self.writeAll(Self.maskedFrame(opcode: 0x1, payload: Array(text.utf8))) }
            done.withLockedValue { $0 = true }
        }.start()
        return done
    }

    /// Read the next `count` text messages (skipping control frames), waiting up to the socket's
    /// receive timeout for each.
    func readTexts(_ count: Int) async throws -> [String] {
        try await self.blockingCall {
            var texts: [String] = []
            while texts.count < count {
                let frame = try self.readFrame()
                if frame.opcode == 0x8 { throw TestFailure("closed after \(texts.count) messages") }
                if frame.opcode == 0x1 { texts.append(String(decoding: frame.payload, as: UTF8.self)) }
            }
            return texts
        }
    }

    /// The text messages `keepAlive` has collected so far.
    var receivedTexts: [String] { self.received.withLockedValue { $0 } }

    /// Read frames until a close frame arrives and return its code and reason (waits up to the socket's 5 s receive timeout).
    func readCloseFrame() async throws -> (code: UInt16, reason: String) {
        try await self.blockingCall {
            while true {
                let frame = try self.readFrame()
                guard frame.opcode == 0x8 else { continue }
                let payload = frame.payload
                guard payload.count >= 2 else { return (code: 1005, reason: "") }
                return (code: UInt16(payload[0]) << 8 | UInt16(payload[1]), reason: String(decoding: payload[2...], as: UTF8.self))
            }
        }
    }

    /// Read one frame (blocking, on its own thread).
    private func readFrame() throws -> (first: UInt8, opcode: UInt8, payload: [UInt8]) {
        let head = try self.readExactly(2)
        guard head[1] & 0x80 == 0 else { throw TestFailure("server frames must not be masked") }
        var length = Int(head[1] & 0x7F)
        if length == 126 {
            let bytes = try self.readExactly(2)
            length = Int(bytes[0]) << 8 | Int(bytes[1])
        } else if length == 127 {
            length = try self.readExactly(8).reduce(0) { $0 << 8 | Int($1) }
        }
        return (first: head[0], opcode: head[0] & 0x0F, payload: try self.readExactly(length))
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = bytes[offset...].withUnsafeMutableBytes { read(self.fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw TestFailure("connection ended before a close frame (read returned \(n), errno \(errno))") }
            offset += n
        }
        return bytes
    }

    /// Drop the TCP connection with a reset: no close frame, no FIN handshake.
    func abort() {
        var linger = linger(l_onoff: 1, l_linger: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
        shutdown(self.fd, Int32(SHUT_RDWR))
    }

    /// Whether the server has closed the connection: reads (draining whatever is buffered) until
    /// end of stream or an error. Waits up to the socket's 5 s receive timeout for more data.
    func serverHasClosed() async -> Bool {
        (try? await self.blockingCall {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(self.fd, &buffer, buffer.count)
                if n == 0 { return true }
                if n < 0 { return errno == ECONNRESET }
            }
        }) ?? false
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(self.fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw TestFailure("write() failed: errno \(errno)") }
            offset += n
        }
    }

    private func blockingCall<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await onOwnThread { try self.calls.withLock { try work() } }
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        self.count >= suffix.count && Array(self[(self.count - suffix.count)...]) == suffix
    }
}
