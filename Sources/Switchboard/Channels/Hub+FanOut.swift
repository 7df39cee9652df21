// Fan-out: enqueueing one channel event for its subscribers, framed once per format.
extension Hub {
    static func fanOut(_ publication: Publication, channel: String, in state: inout ChannelState) {
        guard !state.subscribers.isEmpty else { return }
        var delta = Self.beginDeltaFanOut(publication, channel: channel, in: &state)
        Self.fanOut(
            to: state.targets,
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
        to targets: [FanOutTarget],
        held: inout [String: [Held]],
        floors: inout [String: UInt64],
        except excluded: String?,
        push: PushEvent,
        channel: String,
        joinLeave: ChannelOptions
    ) {
        var none: DeltaFanOut?
        Self.fanOut(to: targets, held: &held, floors: &floors, except: excluded, push: push, channel: channel, joinLeave: joinLeave, delta: &none)
    }

    /// Enqueue one event for subscribers, framed once per format that is needed; subscribers whose
    /// subscribe is not complete get it held back (with `offset`, for a publication).
    static func fanOut(
        to targets: [FanOutTarget],
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
        // The targets are read in place: copying each out (as iterating a dictionary of subscribers
        // did) retains and releases its strings and outbox, on cold cache lines when there are
        // thousands (docs/BENCHMARKS.md, 2026-12-01). The client id is read only where an exception
        // needs it.
        targets.withUnsafeBufferPointer { targets in
            for index in targets.indices {
                if let excluded, targets[index].client == excluded { continue }
                if !toEveryone, !targets[index].pushJoinLeave { continue }
                if anyFloor, let floor = floors[targets[index].client] {
                    let client = targets[index].client
                    if offset! <= floor { continue }
                    floors[client] = nil
                }
                let message: OutboundMessage
                switch targets[index].format {
                case .protocolPush(let format):
                    if delta != nil, let whole = delta!.subscribers[targets[index].client] {
                        let client = targets[index].client
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
                case .plainText:
                    if textMessage == nil { textMessage = plainText() }
                    guard let text = textMessage! else { continue }
                    message = text
                }
                if anyHeld, held[targets[index].client] != nil {
                    held[targets[index].client]!.append(Held(offset: offset, message: message))
                } else {
                    _ = targets[index].outbox.enqueue(message)
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

/// What fan-out needs of one subscriber: its outbox, how it wants events framed, and its client id
/// for the exceptions (held, floored, delta).
struct FanOutTarget {
    let client: String
    /// Kept alive by the subscriber in ``Hub/ChannelState/subscribers``, which ``Hub/ChannelState/add(_:)``
    /// and ``Hub/ChannelState/drop(_:)`` keep in step with ``Hub/ChannelState/targets`` under the
    /// channel's lock; unowned, so that fan-out reads it without a retain.
    unowned(unsafe) let outbox: Outbox
    let format: Subscriber.Format
    let pushJoinLeave: Bool

    init(_ subscriber: Subscriber) {
        self.client = subscriber.client
        self.outbox = subscriber.outbox
        self.format = subscriber.format
        self.pushJoinLeave = subscriber.pushJoinLeave
    }
}

extension Hub.ChannelState {
    /// List a subscriber (replacing one with the same client id), waiting for a whole publication
    /// if it negotiated delta compression.
    mutating func add(_ subscriber: Subscriber) {
        let client = subscriber.client
        self.subscribers[client] = subscriber
        if let slot = self.targetSlots[client] {
            self.targets[slot] = FanOutTarget(subscriber)
        } else {
            self.targetSlots[client] = self.targets.count
            self.targets.append(FanOutTarget(subscriber))
        }
        self.deltaSubscribers[client] = subscriber.delta ? true : nil
    }

    /// Unlist a subscriber, returning it if it was listed.
    mutating func drop(_ client: String) -> Subscriber? {
        self.deltaSubscribers[client] = nil
        if let slot = self.targetSlots.removeValue(forKey: client) {
            let last = self.targets.removeLast()
            if slot < self.targets.count {
                self.targets[slot] = last
                self.targetSlots[last.client] = slot
            }
        }
        return self.subscribers.removeValue(forKey: client)
    }
}
