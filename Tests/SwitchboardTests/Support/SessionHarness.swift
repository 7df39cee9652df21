import CentrifugeProtobuf
import Foundation
import NIOCore
import Synchronization
import SwiftProtobuf

@testable import Switchboard

/// A ``ClientSession`` driven without a socket: commands go in with ``send(_:)``, and what the
/// session queues in its connection's outbox comes out with ``next(within:)``.
final class SessionHarness: Sendable {
    /// One thing the session sent: a message, or the close of the connection.
    enum Output: Sendable, Equatable {
        case message(OutboundMessage)
        case close(CloseReason?)

        var text: String? {
            guard case .message(let message) = self else { return nil }
            return String(buffer: message.bytes)
        }

        var json: JSONValue? { self.text.flatMap { try? JSONValue.parse($0) } }

        var closeCode: UInt16? {
            guard case .close(let reason) = self else { return nil }
            return reason?.code
        }

        /// The Protobuf reply the message holds (one length-prefixed `Reply`).
        var protobufReply: Centrifugal_Centrifuge_Protocol_Reply? {
            guard case .message(let message) = self else { return nil }
            var bytes = message.bytes
            guard ProtobufFormat.readVarint(&bytes) != nil else { return nil }
            return try? Centrifugal_Centrifuge_Protocol_Reply(serializedBytes: Array(bytes.readableBytesView))
        }
    }

    let outbox = Outbox(limit: 1 << 20)
    let service: ChannelService
    let session: ClientSession
    private let pending = Mutex<[Output]>([])

    init(
        hooks: Hooks = Hooks(),
        format: ProtocolFormat = .json,
        transport: ClientSession.Transport = .bidirectional,
        request: ConnectionRequest = ConnectionRequest(),
        transportName: String? = nil,
        channels: ChannelConfiguration = SessionHarness.channels,
        settings: ProtocolSettings = ProtocolSettings(allowAnonymous: true, pingInterval: nil)
    ) {
        self.service = ChannelService(engine: MemoryEngine(), channels: channels, verifier: StubVerifier(), settings: settings, hooks: hooks)
        self.session = ClientSession(
            connection: Connection(id: ConnectionID(rawValue: 1), outbox: self.outbox),
            service: self.service,
            format: format,
            transport: transport,
            request: request,
            transportName: transportName
        )
    }

    /// `rooms`: clients subscribe and publish; `closed`: neither (the hooks decide); both keep history.
    static var channels: ChannelConfiguration {
        var channels = ChannelConfiguration()
        var rooms = ChannelOptions()
        rooms.allowSubscribeForClient = true
        rooms.allowPublishForClient = true
        rooms.allowHistoryForSubscriber = true
        rooms.historySize = 10
        rooms.historyTTL = .seconds(60)
        channels.namespaces["rooms"] = rooms
        var closed = ChannelOptions()
        closed.allowHistoryForSubscriber = true
        closed.historySize = 10
        closed.historyTTL = .seconds(60)
        channels.namespaces["closed"] = closed
        return channels
    }

    /// Send JSON commands (one message; several commands one per line).
    func send(_ lines: String...) {
        self.session.receive(.text(lines.joined(separator: "\n")))
    }

    /// Send Protobuf commands in one message.
    func send(_ commands: Centrifugal_Centrifuge_Protocol_Command...) throws {
        var buffer = ByteBuffer()
        for command in commands {
            let bytes: [UInt8] = try command.serializedBytes()
            var length = UInt64(bytes.count)
            while length >= 0x80 {
                buffer.writeInteger(UInt8(length & 0x7F | 0x80))
                length >>= 7
            }
            buffer.writeInteger(UInt8(length))
            buffer.writeBytes(bytes)
        }
        self.session.receive(.binary(buffer))
    }

    /// The next thing the session sent, or `nil` if nothing came within `within`.
    func next(within: Duration = .seconds(5)) async -> Output? {
        let deadline = ContinuousClock.now + within
        while true {
            if let output = self.take() { return output }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The next message as JSON (`nil` for a close, or nothing).
    func nextJSON(within: Duration = .seconds(5)) async -> JSONValue? {
        await self.next(within: within)?.json
    }

    private func take() -> Output? {
        self.pending.withLock { pending in
            if pending.isEmpty {
                let batch = self.outbox.drain()
                pending.append(contentsOf: batch.messages.map(Output.message))
                if batch.isLast { pending.append(.close(batch.close)) }
            }
            return pending.isEmpty ? nil : pending.removeFirst()
        }
    }
}

/// Tokens for tests: `user:<id>` is a connection token of user `<id>`; `sub:<user>:<channel>` a
/// subscription token; anything else is invalid.
struct StubVerifier: TokenVerifier {
    func verifyConnectToken(_ token: String) async throws(TokenError) -> ConnectCredentials {
        guard token.hasPrefix("user:") else { throw .invalid("not a test token") }
        return ConnectCredentials(user: String(token.dropFirst(5)))
    }

    func verifySubscriptionToken(_ token: String) async throws(TokenError) -> SubscriptionCredentials {
        let parts = token.split(separator: ":", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "sub" else { throw .invalid("not a test token") }
        return SubscriptionCredentials(user: parts[1], channel: parts[2])
    }
}

/// A value the hooks record and the test reads.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func record(_ value: Value) { self.values.withLock { $0.append(value) } }
    var all: [Value] { self.values.withLock { $0 } }
    var count: Int { self.all.count }
}

struct HookFailure: Error {}
