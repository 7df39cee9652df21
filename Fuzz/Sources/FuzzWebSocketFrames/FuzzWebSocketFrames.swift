// Fuzz target: the inbound WebSocket frame path, bytes on the wire to whole messages.
//
// The pipeline is the one the server's upgrade builds (the `WebSocketConnectionHandler` alone, with
// its own `WebSocketFrameParser`), in an `EmbeddedChannel`. The input is split into reads at points
// taken from its first byte, as TCP may split it; the first byte's top bit says whether the
// connection negotiated permessage-deflate (RSV1 then marks compressed messages, which are
// inflated within the limit).
//
// Oracles: never a trap; no message larger than the limit is delivered; nothing is delivered after
// the handler has sent its close frame; at most one close frame is sent.
//
// To point this target at another frame decoder, change only `makePipeline` (see docs/FUZZING.md).
import CFuzzDriver
import Foundation
import NIOCore
import NIOEmbedded
import Switchboard
@testable import SwitchboardServer

/// FUZZ_VERBOSE=1 prints the server's frames (to see what a reproducer does).
let verbose = getenv("FUZZ_VERBOSE") != nil

/// The message size limit: small, so that the fuzzer reaches it.
let maxMessageSize = 1024

final class RecordingEndpoint: WebSocketEndpoint, @unchecked Sendable {
    // @unchecked: used on the embedded channel's (the calling) thread only.
    var messages = 0
    /// The server's frames so far, and how many of them were close frames.
    var wire = ServerFrames()
    weak var channel: EmbeddedChannel?

    func receive(_ message: InboundMessage, on connection: Connection) {
        if let channel { self.wire.read(channel) }
        if self.wire.closes > 0 {
            fatalError("message \(self.messages + 1) was delivered after the server's close frame")
        }
        switch message {
        case .text(let text):
            // The bytes delivered are at most the limit; String(buffer:) could only grow them by
            // repairing invalid UTF-8, which the handler must have refused.
            precondition(text.utf8.count <= maxMessageSize, "text message of \(text.utf8.count) bytes delivered")
        case .binary(let data):
            precondition(data.readableBytes <= maxMessageSize, "binary message of \(data.readableBytes) bytes delivered")
        }
        self.messages += 1
    }
}

/// Reads the frames the server wrote (unmasked, so a minimal header parser does) and counts closes.
struct ServerFrames {
    var buffer = ByteBuffer()
    var closes = 0

    mutating func read(_ channel: EmbeddedChannel) {
        while var out = try? channel.readOutbound(as: ByteBuffer.self) {
            self.buffer.writeBuffer(&out)
        }
        while self.buffer.readableBytes >= 2 {
            let view = self.buffer.readableBytesView
            let base = view.startIndex
            let opcode = view[base] & 0x0F
            var length = Int(view[base + 1] & 0x7F)
            var header = 2
            if length == 126 {
                guard view.count >= 4 else { break }
                length = Int(view[base + 2]) << 8 | Int(view[base + 3])
                header = 4
            } else if length == 127 {
                guard view.count >= 10 else { break }
                length = (0..<8).reduce(0) { $0 << 8 | Int(view[base + 2 + $1]) }
                header = 10
            }
            guard view.count >= header + length else { break }
            if opcode == 0x8 {
                self.closes += 1
            }
            if verbose {
                let payload = Array(view[(base + header)..<(base + header + length)])
                FileHandle.standardError.write(Data("server frame: opcode \(opcode), \(length) bytes: \(payload)\n".utf8))
            }
            self.buffer.moveReaderIndex(forwardBy: header + length)
        }
        precondition(self.closes <= 1, "the server sent \(self.closes) close frames")
    }
}

func makePipeline(_ channel: EmbeddedChannel, endpoint: RecordingEndpoint, compressed: Bool) throws {
    // As WebSocketAcceptor.setUpConnection and WebSocketUpgrader build it: the handler alone, which
    // parses the client's bytes itself (WebSocketFrameParser) and drains its outbox.
    var settings = WebSocketConnectionHandler.Settings(maxMessageSize: maxMessageSize, closeTimeout: .seconds(5))
    if compressed {
        settings.deflate = DeflateParameters()
        settings.compression = OutboundCompression(minimumSize: 0, windowBits: 15)
    }
    let wake = OutboxWake(eventLoop: channel.eventLoop)
    let connection = Connection(id: ConnectionID(rawValue: 1), outbox: wake.outbox(limit: 1 << 20))
    let handler = WebSocketConnectionHandler(role: .serve(endpoint, connection, wake), settings: settings)
    wake.attach(handler)
    try channel.pipeline.syncOperations.addHandler(handler)
}

@main
enum FuzzMain {
    static func main() { switchboard_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let first = input.first else { return 0 }
    let wire = input.dropFirst()
    // Low 7 bits 0: everything in one read; otherwise reads of that many bytes. Top bit: deflate.
    let compressed = first & 0x80 != 0
    let chunk = first & 0x7F == 0 ? max(wire.count, 1) : Int(first & 0x7F)

    let channel = EmbeddedChannel()
    let endpoint = RecordingEndpoint()
    do {
        try makePipeline(channel, endpoint: endpoint, compressed: compressed)
    } catch {
        fatalError("cannot build the pipeline: \(error)")
    }
    // Active, as a connected socket is: the handler closes it, which ends the loop below.
    _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
    endpoint.channel = channel
    var start = wire.startIndex
    while start < wire.endIndex, channel.isActive {
        let end = min(start + chunk, wire.endIndex)
        _ = try? channel.writeInbound(ByteBuffer(bytes: wire[start..<end]))
        start = end
        endpoint.wire.read(channel)
    }
    // Run the close timeout the handler scheduled: until it runs, its task keeps the channel alive
    // (on a real event loop it runs after `closeTimeout`), which LeakSanitizer would report.
    channel.embeddedEventLoop.advanceTime(by: .seconds(60))
    _ = try? channel.finish()
    return 0
}
