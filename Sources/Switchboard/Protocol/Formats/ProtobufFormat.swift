import CentrifugeProtobuf
import Foundation
import NIOCore
import SwiftProtobuf

private typealias Proto = CentrifugeProtobufMessages

/// The protocol's Protobuf format (`client.proto`): a binary message holds commands, each prefixed by
/// its length as an unsigned varint; replies and pushes are written the same way, one per message.
///
/// `data`, `info` and `b64data` are bytes on this format's wire. Publication data is JSON on every
/// format (docs/PROTOCOL.md, "Payloads"): a command whose `data` is not JSON is refused with 107.
enum ProtobufFormat {
    // MARK: Framing

    /// Split a binary message into its length-prefixed commands (a message of the single byte 0 is
    /// one empty command: a pong).
    static func split(_ message: ByteBuffer) throws(ClientCommand.DecodeError) -> [ByteBuffer] {
        var buffer = message
        var commands: [ByteBuffer] = []
        while buffer.readableBytes > 0 {
            guard let length = Self.readVarint(&buffer) else {
                throw .malformed("truncated varint length prefix")
            }
            guard length <= UInt64(buffer.readableBytes) else {
                throw .malformed("command of \(length) bytes, but only \(buffer.readableBytes) follow")
            }
            commands.append(buffer.readSlice(length: Int(length))!)
        }
        guard !commands.isEmpty else { throw .malformed("empty binary message") }
        return commands
    }

    /// Read an unsigned varint (at most 10 bytes), or `nil` when it is cut short or too long.
    static func readVarint(_ buffer: inout ByteBuffer) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var reader = buffer
        while shift < 64, let byte = reader.readInteger(as: UInt8.self) {
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                buffer = reader
                return value
            }
            shift += 7
        }
        return nil
    }

    /// `bytes` prefixed by their length.
    private static func delimited(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count + 5)
        var length = UInt64(bytes.count)
        while length >= 0x80 {
            buffer.writeInteger(UInt8(length & 0x7F | 0x80))
            length >>= 7
        }
        buffer.writeInteger(UInt8(length))
        buffer.writeBytes(bytes)
        return buffer
    }

    private static func delimited(_ reply: Proto.Reply) -> ByteBuffer {
        // Serializing a message of the generated types cannot fail (no required fields, no Any).
        let bytes: [UInt8] = (try? reply.serializedBytes()) ?? []
        return Self.delimited(bytes)
    }

    // MARK: Decoding

    /// Decode one command, or `nil` for an empty one (a pong).
    static func decode(_ bytes: ByteBuffer) throws(ClientCommand.DecodeError) -> ClientCommand? {
        if bytes.readableBytes == 0 { return nil }
        let command: Proto.Command
        do {
            command = try Proto.Command(serializedBytes: Array(bytes.readableBytesView))
        } catch {
            throw .malformed("invalid Protobuf command: \(error)")
        }
        let id = command.id
        let decoded: (ClientCommand.Method, () throws(ProtocolError) -> ClientRequest)
        if command.hasConnect {
            decoded = (.connect, { () throws(ProtocolError) in .connect(try Self.connectRequest(command.connect)) })
        } else if command.hasSubscribe {
            decoded = (.subscribe, { () throws(ProtocolError) in .subscribe(try Self.subscribeRequest(command.subscribe)) })
        } else if command.hasUnsubscribe {
            decoded = (.unsubscribe, { () throws(ProtocolError) in .unsubscribe(channel: try Self.channel(command.unsubscribe.channel)) })
        } else if command.hasPublish {
            decoded = (.publish, { () throws(ProtocolError) in
                let publish = command.publish
                let channel = try Self.channel(publish.channel)
                guard !publish.data.isEmpty else { throw .badRequest("'data' is required") }
                return .publish(channel: channel, data: try Self.json(publish.data, field: "data").jsonText)
            })
        } else if command.hasPresence {
            decoded = (.presence, { () throws(ProtocolError) in .presence(channel: try Self.channel(command.presence.channel)) })
        } else if command.hasPresenceStats {
            decoded = (.presenceStats, { () throws(ProtocolError) in .presenceStats(channel: try Self.channel(command.presenceStats.channel)) })
        } else if command.hasHistory {
            decoded = (.history, { () throws(ProtocolError) in
                let history = command.history
                return .history(HistoryRequest(
                    channel: try Self.channel(history.channel),
                    limit: Int(history.limit),
                    since: history.hasSince ? StreamPosition(offset: history.since.offset, epoch: history.since.epoch) : nil,
                    reverse: history.reverse
                ))
            })
        } else if command.hasPing {
            decoded = (.ping, { () throws(ProtocolError) in .ping })
        } else if command.hasSend {
            decoded = (.send, { () throws(ProtocolError) in .send })
        } else if command.hasRpc {
            decoded = (.rpc, { () throws(ProtocolError) in
                let rpc = command.rpc
                return .rpc(method: rpc.method, data: rpc.data.isEmpty ? nil : try Self.json(rpc.data, field: "data"))
            })
        } else if command.hasRefresh {
            decoded = (.refresh, { () throws(ProtocolError) in
                guard !command.refresh.token.isEmpty else { throw .badRequest("'token' is required") }
                return .refresh(token: command.refresh.token)
            })
        } else if command.hasSubRefresh {
            decoded = (.subRefresh, { () throws(ProtocolError) in
                let subRefresh = command.subRefresh
                let channel = try Self.channel(subRefresh.channel)
                guard !subRefresh.token.isEmpty else { throw .badRequest("'token' is required") }
                return .subRefresh(channel: channel, token: subRefresh.token)
            })
        } else {
            // Only an id: a method this server does not know (or none at all).
            let error = ProtocolError.methodNotFound("the command names no method this server knows")
            if id > 0 { throw .reply(id: id, error) }
            throw .malformed(error.message)
        }
        let (method, request) = decoded
        if id == 0, method != .send { throw .malformed("'\(method.rawValue)' needs an 'id'") }
        return ClientCommand(id: id, method: method, request: Result(catching: request))
    }

    private static func channel(_ channel: String) throws(ProtocolError) -> String {
        guard !channel.isEmpty else { throw .badRequest("'channel' is required (a string)") }
        return channel
    }

    /// Bytes that must hold JSON.
    private static func json(_ data: Data, field: String) throws(ProtocolError) -> JSONValue {
        guard let text = String(data: data, encoding: .utf8) else { throw .badRequest("'\(field)' is not valid JSON: not UTF-8") }
        do {
            return try JSONValue.parse(text)
        } catch {
            throw .badRequest("'\(field)' is not valid JSON: \(error)")
        }
    }

    private static func connectRequest(_ connect: Proto.ConnectRequest) throws(ProtocolError) -> ConnectRequest {
        var request = ConnectRequest(token: connect.token)
        if !connect.data.isEmpty { request.data = try Self.json(connect.data, field: "data") }
        request.name = connect.name
        request.version = connect.version
        for (channel, sub) in connect.subs {
            request.subs[channel] = SubscriptionPosition(recover: sub.recover, position: StreamPosition(offset: sub.offset, epoch: sub.epoch))
        }
        return request
    }

    private static func subscribeRequest(_ subscribe: Proto.SubscribeRequest) throws(ProtocolError) -> SubscribeRequest {
        var request = SubscribeRequest(channel: try Self.channel(subscribe.channel), token: subscribe.token)
        request.recovery = SubscriptionPosition(
            recover: subscribe.recover,
            position: subscribe.recover ? StreamPosition(offset: subscribe.offset, epoch: subscribe.epoch) : StreamPosition(offset: 0, epoch: "")
        )
        request.positioned = subscribe.positioned
        request.recoverable = subscribe.recoverable
        request.joinLeave = subscribe.joinLeave
        request.flag = subscribe.flag
        request.delta = subscribe.delta
        if !subscribe.data.isEmpty { request.data = try Self.json(subscribe.data, field: "data") }
        return request
    }

    // MARK: Encoding

    static func reply(id: UInt32, _ result: ReplyResult) -> ByteBuffer {
        var reply = Proto.Reply()
        reply.id = id
        switch result {
        case .connect(let connect): reply.connect = Self.connectResult(connect)
        case .subscribe(let subscribe): reply.subscribe = Self.subscribeResult(subscribe)
        case .unsubscribe: reply.unsubscribe = Proto.UnsubscribeResult()
        case .publish: reply.publish = Proto.PublishResult()
        case .presence(let members):
            var presence = Proto.PresenceResult()
            for member in members { presence.presence[member.client] = Self.clientInfo(member) }
            reply.presence = presence
        case .presenceStats(let clients, let users):
            var stats = Proto.PresenceStatsResult()
            stats.numClients = UInt32(clamping: clients)
            stats.numUsers = UInt32(clamping: users)
            reply.presenceStats = stats
        case .history(let history):
            var result = Proto.HistoryResult()
            result.publications = history.publications.map { Self.publication($0) }
            result.epoch = history.position.epoch
            result.offset = history.position.offset
            reply.history = result
        case .ping: reply.ping = Proto.PingResult()
        case .refresh(let refresh):
            var result = Proto.RefreshResult()
            result.client = refresh.client
            result.version = refresh.version
            (result.expires, result.ttl) = Self.expiry(refresh.expiresIn)
            reply.refresh = result
        case .subRefresh(let expiresIn):
            var result = Proto.SubRefreshResult()
            (result.expires, result.ttl) = Self.expiry(expiresIn)
            reply.subRefresh = result
        case .rpc(let data):
            var result = Proto.RPCResult()
            if let data { result.data = Data(data.jsonText.utf8) }
            reply.rpc = result
        }
        return Self.delimited(reply)
    }

    static func error(id: UInt32, _ error: ProtocolError) -> ByteBuffer {
        var reply = Proto.Reply()
        reply.id = id
        var body = Proto.Error()
        body.code = UInt32(clamping: error.code)
        body.message = error.message
        body.temporary = error.temporary
        reply.error = body
        return Self.delimited(reply)
    }

    static func push(_ event: PushEvent, channel: String) -> ByteBuffer {
        var push = Proto.Push()
        push.channel = channel
        switch event {
        case .publication(let publication): push.pub = Self.publication(publication)
        case .join(let info):
            var join = Proto.Join()
            join.info = Self.clientInfo(info)
            push.join = join
        case .leave(let info):
            var leave = Proto.Leave()
            leave.info = Self.clientInfo(info)
            push.leave = leave
        case .unsubscribe(let code, let reason):
            var unsubscribe = Proto.Unsubscribe()
            unsubscribe.code = UInt32(clamping: code)
            unsubscribe.reason = reason
            push.unsubscribe = unsubscribe
        case .subscribe(let result):
            var subscribe = Proto.Subscribe()
            subscribe.recoverable = result.recoverable
            subscribe.positioned = result.positioned
            subscribe.epoch = result.position?.epoch ?? ""
            subscribe.offset = result.position?.offset ?? 0
            push.subscribe = subscribe
        case .connect(let result):
            let connectResult = Self.connectResult(result)
            var connect = Proto.Connect()
            connect.client = connectResult.client
            connect.version = connectResult.version
            connect.expires = connectResult.expires
            connect.ttl = connectResult.ttl
            connect.subs = connectResult.subs
            connect.ping = connectResult.ping
            connect.pong = connectResult.pong
            connect.data = connectResult.data
            push.connect = connect
        case .disconnect(let reason):
            var disconnect = Proto.Disconnect()
            disconnect.code = UInt32(reason.code)
            disconnect.reason = reason.reason
            disconnect.reconnect = reason.code < 3500
            push.disconnect = disconnect
        }
        var reply = Proto.Reply()
        reply.push = push
        return Self.delimited(reply)
    }

    /// A publication push whose data is `patch`, a delta against the previous publication.
    static func deltaPush(_ publication: Publication, patch: [UInt8], channel: String) -> ByteBuffer {
        var push = Proto.Push()
        push.channel = channel
        push.pub = Self.publication(publication, patch: patch)
        var reply = Proto.Reply()
        reply.push = push
        return Self.delimited(reply)
    }

    private static func connectResult(_ connect: ConnectResult) -> Proto.ConnectResult {
        var result = Proto.ConnectResult()
        result.client = connect.client
        result.version = connect.version
        (result.expires, result.ttl) = Self.expiry(connect.expiresIn)
        result.ping = UInt32(clamping: connect.ping ?? 0)
        result.pong = connect.pong
        for (channel, sub) in connect.subs { result.subs[channel] = Self.subscribeResult(sub) }
        if let data = connect.data { result.data = Data(data.jsonText.utf8) }
        return result
    }

    private static func subscribeResult(_ subscribe: SubscribeResult) -> Proto.SubscribeResult {
        var result = Proto.SubscribeResult()
        (result.expires, result.ttl) = Self.expiry(subscribe.expiresIn)
        result.recoverable = subscribe.recoverable
        result.positioned = subscribe.positioned
        result.epoch = subscribe.position?.epoch ?? ""
        result.offset = subscribe.position?.offset ?? 0
        result.publications = subscribe.publications.map { Self.publication($0) }
        result.wasRecovering = subscribe.wasRecovering
        result.recovered = subscribe.recovered
        result.delta = subscribe.delta
        if let data = subscribe.data { result.data = Data(data.jsonText.utf8) }
        return result
    }

    private static func publication(_ publication: Publication, patch: [UInt8]? = nil) -> Proto.Publication {
        var result = Proto.Publication()
        if let patch {
            result.data = Data(patch)
            result.delta = true
        } else {
            result.data = Data(publication.data.utf8)
        }
        result.offset = publication.offset
        if let info = publication.info { result.info = Self.clientInfo(info) }
        result.tags = publication.tags
        return result
    }

    private static func clientInfo(_ info: ClientInfo) -> Proto.ClientInfo {
        var result = Proto.ClientInfo()
        result.user = info.user
        result.client = info.client
        if let connectionInfo = info.connectionInfo { result.connInfo = Data(connectionInfo.utf8) }
        if let channelInfo = info.channelInfo { result.chanInfo = Data(channelInfo.utf8) }
        return result
    }

    private static func expiry(_ expiresIn: Duration?) -> (Bool, UInt32) {
        guard let expiresIn else { return (false, 0) }
        return (true, UInt32(clamping: JSONFormat.ttlSeconds(expiresIn)))
    }
}

/// The generated types of `client.proto`, by their protocol names.
enum CentrifugeProtobufMessages {
    typealias Command = Centrifugal_Centrifuge_Protocol_Command
    typealias Reply = Centrifugal_Centrifuge_Protocol_Reply
    typealias Push = Centrifugal_Centrifuge_Protocol_Push
    typealias Error = Centrifugal_Centrifuge_Protocol_Error
    typealias ClientInfo = Centrifugal_Centrifuge_Protocol_ClientInfo
    typealias Publication = Centrifugal_Centrifuge_Protocol_Publication
    typealias Join = Centrifugal_Centrifuge_Protocol_Join
    typealias Leave = Centrifugal_Centrifuge_Protocol_Leave
    typealias Unsubscribe = Centrifugal_Centrifuge_Protocol_Unsubscribe
    typealias Subscribe = Centrifugal_Centrifuge_Protocol_Subscribe
    typealias Connect = Centrifugal_Centrifuge_Protocol_Connect
    typealias Disconnect = Centrifugal_Centrifuge_Protocol_Disconnect
    typealias ConnectRequest = Centrifugal_Centrifuge_Protocol_ConnectRequest
    typealias ConnectResult = Centrifugal_Centrifuge_Protocol_ConnectResult
    typealias RefreshResult = Centrifugal_Centrifuge_Protocol_RefreshResult
    typealias SubscribeRequest = Centrifugal_Centrifuge_Protocol_SubscribeRequest
    typealias SubscribeResult = Centrifugal_Centrifuge_Protocol_SubscribeResult
    typealias SubRefreshResult = Centrifugal_Centrifuge_Protocol_SubRefreshResult
    typealias UnsubscribeResult = Centrifugal_Centrifuge_Protocol_UnsubscribeResult
    typealias PublishResult = Centrifugal_Centrifuge_Protocol_PublishResult
    typealias PresenceResult = Centrifugal_Centrifuge_Protocol_PresenceResult
    typealias PresenceStatsResult = Centrifugal_Centrifuge_Protocol_PresenceStatsResult
    typealias HistoryResult = Centrifugal_Centrifuge_Protocol_HistoryResult
    typealias PingResult = Centrifugal_Centrifuge_Protocol_PingResult
    typealias RPCResult = Centrifugal_Centrifuge_Protocol_RPCResult
}
