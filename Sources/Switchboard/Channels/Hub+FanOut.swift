// Fan-out: enqueueing one channel event for its subscribers, framed once per format.
extension Hub {
    static func fanOut(_ publication: Publication, channel: String, in state: inout ChannelState) {
        guard !state.subscribers.isEmpty else { return }
        var delta = Self.beginDeltaFanOut(publication, channel: channel, in: &state)
        Self.fanOut(
            to: state.subscribers,
            held: &state.held,
            floors: &state.floors,
            except: nil,
            offset: publication.offset,
            push: .publication(publication),
            channel: channel,
            plainText: Self.plainText(publication.data),
            delta: &delta
        )
        state.endDeltaFanOut(delta)
    }

    /// Enqueue a join or leave (an event without delta compression) for subscribers.
    static func fanOut(
        to subscribers: [String: Subscriber],
        held: inout [String: [Held]],
        floors: inout [String: UInt64],
        except excluded: String?,
        push: PushEvent,
        channel: String,
        joinLeave: ChannelOptions
    ) {
        var none: DeltaFanOut?
        Self.fanOut(to: subscribers, held: &held, floors: &floors, except: excluded, push: push, channel: channel, joinLeave: joinLeave, delta: &none)
    }

    /// Enqueue one event for subscribers, framed once per format that is needed; subscribers whose
    /// subscribe is not complete get it held back (with `offset`, for a publication).
    static func fanOut(
        to subscribers: [String: Subscriber],
        held: inout [String: [Held]],
        floors: inout [String: UInt64],
        except excluded: String?,
        offset: UInt64? = nil,
        push: PushEvent,
        channel: String,
        joinLeave: ChannelOptions? = nil,
        plainText: @autoclosure () -> OutboundMessage? = nil,
        delta: inout DeltaFanOut?
    ) {
        // One framed push per format (JSON, Protobuf), made when the first subscriber needs it.
        var jsonPush: OutboundMessage?
        var protobufPush: OutboundMessage?
        var textMessage: OutboundMessage??
        // (The emptiness checks keep the common case, nobody held or floored, to two tests per event.)
        let anyHeld = !held.isEmpty
        let anyFloor = !floors.isEmpty && offset != nil
        let toEveryone = joinLeave?.forcePushJoinLeave ?? true
        for (client, subscriber) in subscribers where client != excluded {
            if !toEveryone, !subscriber.pushJoinLeave { continue }
            if anyFloor, let floor = floors[client] {
                if offset! <= floor { continue }
                floors[client] = nil
            }
            switch subscriber.format {
            case .protocolPush(let format):
                let message: OutboundMessage
                if delta != nil, let whole = delta!.subscribers[client] {
                    // Held back, it may be dropped as covered: whole, and whole again once direct.
                    let direct = !(anyHeld && held[client] != nil)
                    message = delta!.frames.message(format, whole: whole || !direct)
                    if whole, direct { delta!.subscribers[client] = false }
                } else {
                    switch format {
                    case .json:
                        if jsonPush == nil { jsonPush = format.push(push, channel: channel) }
                        message = jsonPush!
                    case .protobuf:
                        if protobufPush == nil { protobufPush = format.push(push, channel: channel) }
                        message = protobufPush!
                    }
                }
                if anyHeld, held[client] != nil {
                    held[client]!.append(Held(offset: offset, message: message))
                } else {
                    _ = subscriber.outbox.enqueue(message)
                }
            case .plainText:
                if textMessage == nil { textMessage = plainText() }
                guard let message = textMessage! else { continue }
                if anyHeld, held[client] != nil {
                    held[client]!.append(Held(offset: offset, message: message))
                } else {
                    _ = subscriber.outbox.enqueue(message)
                }
            }
        }
        // A subscriber whose outbox overflowed stays listed until its connection's session leaves:
        // its outbox refuses everything meanwhile, and leaving then tells the others.
    }

    /// A publication's data as a plain-text subscriber gets it.
    private static func plainText(_ data: String) -> OutboundMessage {
        if data.first == "\"", case .string(let text)? = try? JSONValue.parse(data) { return .text(text) }
        return .text(data)
    }
}
