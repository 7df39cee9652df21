import Switchboard
import Synchronization
import Testing

/// A hub with a clock the test moves.
private final class ManualClock: Sendable {
    let instant = Mutex(ContinuousClock.now)
    func advance(_ by: Duration) { self.instant.withLock { $0 += by } }
    var now: ContinuousClock.Instant { self.instant.withLock { $0 } }
}

/// A subscriber that asked for join and leave pushes (`join_leave`) unless told otherwise.
private func subscriber(_ client: String, limit: Int = 1 << 16, format: Subscriber.Format = .protocolPush(.json), joinLeave: Bool = true) -> Subscriber {
    var subscriber = Subscriber(info: ClientInfo(user: "u-\(client)", client: client), outbox: Outbox(limit: limit), format: format)
    subscriber.pushJoinLeave = joinLeave
    return subscriber
}

private func texts(_ outbox: Outbox) -> [String] {
    outbox.drain().messages.map { String(buffer: $0.bytes) }
}

/// A chat room's options: presence, join/leave, and history of 10 for a minute.
private let chatRoomOptions: ChannelOptions = {
    var options = ChannelOptions()
    options.presence = true
    options.joinLeave = true
    options.historySize = 10
    options.historyTTL = .seconds(60)
    return options
}()

@Suite struct HubTests {
    var chat: ChannelOptions { chatRoomOptions }

    @Test func publicationsReachEverySubscriberInOneOrderWithOffsets() throws {
        let hub = Hub()
        let members = (0..<3).map { subscriber("c\($0)") }
        for member in members { hub.subscribe("room", options: self.chat, subscriber: member) }
        for member in members { _ = member.outbox.drain() }  // joins
        for i in 1...20 { hub.publish("room", options: self.chat, publication: Publication(data: "\(i)")) }
        let expected = (1...20).map { #"{"push":{"channel":"room","pub":{"data":\#($0),"offset":\#($0)}}}"# }
        for member in members { #expect(texts(member.outbox) == expected) }
    }

    @Test func joinAndLeaveGoToTheOthers() {
        let hub = Hub()
        let a = subscriber("a")
        let b = subscriber("b")
        hub.subscribe("room", options: self.chat, subscriber: a)
        hub.subscribe("room", options: self.chat, subscriber: b)
        #expect(texts(a.outbox) == [#"{"push":{"channel":"room","join":{"info":{"user":"u-b","client":"b"}}}}"#])
        #expect(texts(b.outbox) == [], "no join for oneself")
        #expect(hub.unsubscribe("room", client: "b"))
        #expect(!hub.unsubscribe("room", client: "b"))
        #expect(texts(a.outbox) == [#"{"push":{"channel":"room","leave":{"info":{"user":"u-b","client":"b"}}}}"#])
        var quiet = self.chat
        quiet.joinLeave = false
        hub.subscribe("quiet", options: quiet, subscriber: subscriber("x"))
        hub.subscribe("quiet", options: quiet, subscriber: b)
        #expect(texts(b.outbox) == [])
    }

    @Test func joinAndLeaveGoOnlyToSubscribersThatAskedUnlessTheChannelForcesThem() {
        let hub = Hub()
        let asked = subscriber("asked")
        let silent = subscriber("silent", joinLeave: false)
        hub.subscribe("room", options: self.chat, subscriber: asked)
        hub.subscribe("room", options: self.chat, subscriber: silent)
        hub.subscribe("room", options: self.chat, subscriber: subscriber("c"))
        #expect(texts(asked.outbox).count == 2)
        #expect(texts(silent.outbox) == [], "no join_leave in its subscribe: no joins")
        var forced = self.chat
        forced.forcePushJoinLeave = true
        let unasked = subscriber("unasked", joinLeave: false)
        hub.subscribe("forced", options: forced, subscriber: unasked)
        hub.subscribe("forced", options: forced, subscriber: subscriber("d"))
        #expect(texts(unasked.outbox) == [#"{"push":{"channel":"forced","join":{"info":{"user":"u-d","client":"d"}}}}"#])
    }

    @Test func aRecoveryWithAnEmptyEpochMatchesTheStreamsEpoch() {
        let hub = Hub()
        for i in 1...3 { hub.publish("room", options: self.chat, publication: Publication(data: "\(i)")) }
        let outcome = hub.subscribe("room", options: self.chat, subscriber: subscriber("a"), recoverFrom: .init(offset: 1, epoch: ""))
        #expect(outcome.recovered)
        #expect(outcome.publications.map(\.data) == ["2", "3"])
    }

    @Test func aSubscriberThatRefusesAnUnrecoveredOutcomeGetsItsReplyAndIsNotSubscribed() {
        let hub = Hub()
        var refusing = subscriber("r")
        refusing.refuseUnrecovered = true
        let outcome = hub.subscribe("room", options: self.chat, subscriber: refusing, recoverFrom: .init(offset: 5, epoch: "old")) { outcome in
            .text("reply recovered=\(outcome.recovered)")
        }
        #expect(!outcome.recovered && Hub.refuses(refusing, outcome))
        #expect(texts(refusing.outbox) == ["reply recovered=false"])
        #expect(hub.presence("room").isEmpty, "refused: not in the channel")
        hub.publish("room", options: self.chat, publication: Publication(data: "1"))
        #expect(texts(refusing.outbox) == [])
        // A recoverable position is subscribed as usual.
        let epoch = hub.history("room", options: self.chat, since: nil, limit: 0, reverse: false).map(\.position.epoch)
        let again = hub.subscribe("room", options: self.chat, subscriber: refusing, recoverFrom: .init(offset: 0, epoch: (try? epoch.get()) ?? ""))
        #expect(again.recovered && hub.presence("room").count == 1)
    }

    @Test func insufficientStateClosesOnlySubscribersThatTrackPositions() {
        let hub = Hub()
        var tracking = subscriber("t")
        tracking.tracksPosition = true
        let plain = subscriber("p")
        hub.subscribe("room", options: self.chat, subscriber: tracking)
        hub.subscribe("room", options: self.chat, subscriber: plain)
        hub.insufficientState("room")
        #expect(tracking.outbox.drain().close == Disconnect.insufficientState)
        #expect(plain.outbox.drain().close == nil)
    }

    @Test func recoveryReturnsWhatWasMissedAndTheReplyComesFirst() throws {
        let hub = Hub()
        let first = hub.subscribe("room", options: self.chat, subscriber: subscriber("a"))
        let epoch = try #require(first.position?.epoch)
        for i in 1...4 { hub.publish("room", options: self.chat, publication: Publication(data: "\(i)")) }
        let back = subscriber("b")
        let outcome = hub.subscribe("room", options: self.chat, subscriber: back, recoverFrom: .init(offset: 2, epoch: epoch)) { outcome in
            .text("reply \(outcome.recovered)")
        }
        #expect(outcome.recovered && outcome.wasRecovering)
        #expect(outcome.publications.map(\.data) == ["3", "4"])
        #expect(outcome.position == StreamPosition(offset: 4, epoch: epoch))
        hub.publish("room", options: self.chat, publication: Publication(data: "5"))
        let received = texts(back.outbox)
        #expect(received.first == "reply true")
        #expect(received.dropFirst().first?.contains(#""offset":5"#) == true)

        let wrongEpoch = hub.subscribe("room", options: self.chat, subscriber: subscriber("c"), recoverFrom: .init(offset: 2, epoch: "nope"))
        #expect(wrongEpoch.wasRecovering && !wrongEpoch.recovered && wrongEpoch.publications.isEmpty)
    }

    @Test func channelsWithoutHistoryGiveNoOffsets() {
        let hub = Hub()
        let member = subscriber("a")
        let outcome = hub.subscribe("plain", options: ChannelOptions(), subscriber: member)
        #expect(outcome.position == nil)
        let (publication, epoch) = hub.publish("plain", options: ChannelOptions(), publication: Publication(data: "1"))
        #expect(publication.offset == 0 && epoch == nil)
        #expect(texts(member.outbox) == [#"{"push":{"channel":"plain","pub":{"data":1}}}"#])
    }

    @Test func plainTextSubscribersGetTheStringAlone() {
        let hub = Hub()
        let tutorial = subscriber("t", format: .plainText)
        let sdk = subscriber("p")
        hub.subscribe("chat", options: ChannelOptions(), subscriber: tutorial)
        hub.subscribe("chat", options: ChannelOptions(), subscriber: sdk)
        hub.publish("chat", options: ChannelOptions(), publication: Publication(data: #""Client #1 says: \"hi\"""#))
        #expect(texts(tutorial.outbox) == [#"Client #1 says: "hi""#])
        #expect(texts(sdk.outbox) == [#"{"push":{"channel":"chat","pub":{"data":"Client #1 says: \"hi\""}}}"#])
    }

    @Test func aSlowSubscriberIsClosedWithoutAffectingOthers() {
        let hub = Hub()
        let fast = subscriber("fast")
        let slow = Subscriber(info: ClientInfo(user: "", client: "slow"), outbox: Outbox(limit: 60, overflowReason: Disconnect.slow))
        hub.subscribe("room", options: ChannelOptions(), subscriber: fast)
        hub.subscribe("room", options: ChannelOptions(), subscriber: slow)
        for i in 0..<5 { hub.publish("room", options: ChannelOptions(), publication: Publication(data: "\(i)")) }
        #expect(texts(fast.outbox).count == 5)
        let batch = slow.outbox.drain()
        #expect(batch.close == Disconnect.slow)
        #expect(batch.messages.isEmpty)
    }

    @Test func presenceAndStats() {
        let hub = Hub()
        hub.subscribe("room", options: self.chat, subscriber: Subscriber(info: ClientInfo(user: "ann", client: "1"), outbox: Outbox(limit: 100)))
        hub.subscribe("room", options: self.chat, subscriber: Subscriber(info: ClientInfo(user: "ann", client: "2"), outbox: Outbox(limit: 100)))
        hub.subscribe("room", options: self.chat, subscriber: Subscriber(info: ClientInfo(user: "bob", client: "3"), outbox: Outbox(limit: 100)))
        #expect(Set(hub.presence("room").map(\.client)) == ["1", "2", "3"])
        #expect(hub.presenceStats("room") == (3, 2))
        #expect(hub.activeChannels() == ["room": 3])
        #expect(hub.presence("empty").isEmpty)
    }

    @Test func historyOutlivesSubscribersUntilItExpires() throws {
        let clock = ManualClock()
        let hub = Hub(now: { clock.now })
        hub.publish("room", options: self.chat, publication: Publication(data: "kept"))
        let (publications, position) = try hub.history("room", options: self.chat, since: nil, limit: -1, reverse: false).get()
        #expect(publications.map(\.data) == ["kept"])
        clock.advance(.seconds(61))
        hub.sweep()
        let (after, newPosition) = try hub.history("room", options: self.chat, since: nil, limit: -1, reverse: false).get()
        #expect(after.isEmpty)
        #expect(newPosition.epoch != position.epoch, "an idle channel is forgotten once its history expired")
    }
}

/// The hub's side of engines that keep streams outside it (docs/SCALE-OUT.md): publications
/// delivered with their offsets, and a subscribe in two halves around an asynchronous history read.
@Suite struct HubDeliveryTests {
    var options: ChannelOptions { chatRoomOptions }

    private func publication(_ offset: UInt64) -> Publication {
        Publication(offset: offset, data: "\(offset)")
    }

    private func push(_ offset: UInt64) -> String {
        #"{"push":{"channel":"room","pub":{"data":\#(offset),"offset":\#(offset)}}}"#
    }

    @Test func deliveredPublicationsKeepTheirOffsetsAndReachEveryFormat() {
        let hub = Hub()
        let member = subscriber("a")
        let plain = subscriber("t", format: .plainText)
        hub.subscribe("room", options: self.options, subscriber: member)
        hub.subscribe("room", options: self.options, subscriber: plain)
        _ = member.outbox.drain()
        hub.deliver(self.publication(41), to: "room")
        hub.deliver(Publication(offset: 42, data: #""hi""#), to: "room")
        #expect(texts(member.outbox) == [self.push(41), #"{"push":{"channel":"room","pub":{"data":"hi","offset":42}}}"#])
        #expect(texts(plain.outbox) == ["41", "hi"])
        hub.deliver(self.publication(43), to: "nobody-here")  // no subscribers: nothing, no error
    }

    /// A channel without history sends publications without offsets, whoever gave them one.
    @Test func aChannelWithoutHistoryGetsNoOffsets() {
        let hub = Hub()
        let member = subscriber("a")
        hub.subscribe("room", options: ChannelOptions(), subscriber: member)
        hub.deliver(self.publication(7), to: "room")
        #expect(texts(member.outbox) == [#"{"push":{"channel":"room","pub":{"data":7}}}"#])
    }

    /// Between the halves, deliveries are held back; those the outcome already covers are dropped,
    /// the later ones follow the reply: nothing twice, nothing lost.
    @Test func aSubscriberInTheMiddleGetsItsReplyThenOnlyWhatComesAfterIt() {
        let hub = Hub()
        let other = subscriber("other")
        hub.subscribe("room", options: self.options, subscriber: other)
        let newcomer = subscriber("new")
        hub.beginSubscribe("room", options: self.options, subscriber: newcomer)
        #expect(hub.presence("room").map(\.client).sorted() == ["new", "other"], "present from the first half")
        hub.deliver(self.publication(5), to: "room")
        hub.deliver(self.publication(6), to: "room")
        #expect(texts(newcomer.outbox) == [], "held back until the reply is queued")
        #expect(texts(other.outbox) == [self.push(5), self.push(6)])

        // The engine's read saw the stream up to 5 and recovered 4 and 5.
        var outcome = Hub.SubscribeOutcome()
        outcome.position = StreamPosition(offset: 5, epoch: "e")
        outcome.publications = [self.publication(4), self.publication(5)]
        outcome.wasRecovering = true
        outcome.recovered = true
        let completed = hub.completeSubscribe("room", client: "new", outcome: outcome) { outcome in
            .text("reply: \(outcome.publications.map(\.offset))")
        }
        #expect(completed)
        #expect(texts(newcomer.outbox) == ["reply: [4, 5]", self.push(6)])
        #expect(texts(other.outbox) == [#"{"push":{"channel":"room","join":{"info":{"user":"u-new","client":"new"}}}}"#])

        hub.deliver(self.publication(7), to: "room")
        #expect(texts(newcomer.outbox) == [self.push(7)], "live after the second half")
    }

    @Test func joinsAndLeavesMeanwhileAreHeldTooAndALeaverIsNotCompleted() {
        let hub = Hub()
        let newcomer = subscriber("new")
        hub.beginSubscribe("room", options: self.options, subscriber: newcomer)
        hub.subscribe("room", options: self.options, subscriber: subscriber("x"))
        #expect(texts(newcomer.outbox) == [])
        #expect(hub.completeSubscribe("room", client: "new", outcome: Hub.SubscribeOutcome()) { _ in .text("reply") })
        #expect(texts(newcomer.outbox) == ["reply", #"{"push":{"channel":"room","join":{"info":{"user":"u-x","client":"x"}}}}"#])

        let leaver = subscriber("leaver")
        hub.beginSubscribe("room", options: self.options, subscriber: leaver)
        #expect(hub.unsubscribe("room", client: "leaver"))
        #expect(!hub.completeSubscribe("room", client: "leaver", outcome: Hub.SubscribeOutcome()) { _ in .text("reply") })
        #expect(texts(leaver.outbox) == [])
    }

    /// Deliveries from another thread race the two halves; whatever the interleaving, the
    /// subscriber sees every offset after the outcome's position exactly once, in order.
    @Test func racingDeliveriesAreNeitherLostNorDuplicated() async {
        for round in 0..<20 {
            let hub = Hub()
            hub.subscribe("room", options: self.options, subscriber: subscriber("anchor"))
            let delivered = Mutex<UInt64>(0)
            let deliverer = Task.detached {
                for offset in UInt64(1)...2000 {
                    // As with the database: a publication is committed (visible to readers)
                    // before it is delivered.
                    delivered.withLock { $0 = offset }
                    hub.deliver(Publication(offset: offset, data: "\(offset)"), to: "room")
                }
            }
            let newcomer = subscriber("new-\(round)", limit: 1 << 24)
            hub.beginSubscribe("room", options: self.options, subscriber: newcomer)
            // The "read" comes after the first half, as the engine must do it: it sees at least
            // everything delivered before the first half returned (committed before delivered).
            let top = delivered.withLock { $0 }
            var outcome = Hub.SubscribeOutcome()
            outcome.position = StreamPosition(offset: top, epoch: "e")
            hub.completeSubscribe("room", client: "new-\(round)", outcome: outcome) { _ in .text("reply") }
            await deliverer.value
            let received = texts(newcomer.outbox)
            #expect(received.first == "reply")
            let offsets = received.dropFirst().compactMap { text -> UInt64? in
                guard let value = try? JSONValue.parse(text) else { return nil }
                return value["push"]?["pub"]?["offset"]?.integerValue(UInt64.self)
            }
            #expect(offsets == Array((top + 1)...2000), "round \(round), read at \(top)")
        }
    }
}

extension HubDeliveryTests {
    /// A node that is still catching up delivers offsets a newcomer's outcome already covers: the
    /// newcomer skips them, then gets everything after.
    @Test func aCompletedSubscriberSkipsLateDeliveriesItsOutcomeCovers() {
        let hub = Hub()
        let other = subscriber("other")
        hub.subscribe("room", options: chatRoomOptions, subscriber: other)
        _ = other.outbox.drain()
        let newcomer = subscriber("new")
        hub.beginSubscribe("room", options: chatRoomOptions, subscriber: newcomer)
        hub.completeSubscribe("room", client: "new", outcome: Hub.SubscribeOutcome(position: StreamPosition(offset: 10, epoch: "e"))) { _ in .text("reply") }
        _ = other.outbox.drain()  // its join
        for offset in UInt64(9)...12 {
            hub.deliver(Publication(offset: offset, data: "\(offset)"), to: "room")
        }
        #expect(texts(newcomer.outbox) == ["reply", #"{"push":{"channel":"room","pub":{"data":11,"offset":11}}}"#, #"{"push":{"channel":"room","pub":{"data":12,"offset":12}}}"#])
        #expect(texts(other.outbox).count == 4, "the others get every delivery")
    }
}

@Suite struct HubFanOutTargetTests {
    /// Fan-out walks an array kept in step with the subscribers (swapped out on leave, replaced on
    /// resubscribe): after any mix of those, each subscriber gets a publication once, the gone none.
    @Test func subscribersLeavingAndComingBackEachGetAPublicationOnce() {
        let hub = Hub()
        var options = ChannelOptions()
        options.historySize = 10
        options.historyTTL = .seconds(60)
        var members: [String: Subscriber] = [:]
        var gone: [Subscriber] = []
        for n in 0..<50 {
            let member = subscriber("c\(n)", joinLeave: false)
            members[member.client] = member
            hub.subscribe("room", options: options, subscriber: member)
        }
        // Every third leaves, every fifth subscribes again with a new outbox, in a shuffled order.
        var generator = SystemRandomNumberGenerator()
        for n in (0..<50).shuffled(using: &generator) {
            let client = "c\(n)"
            if n % 3 == 0 {
                #expect(hub.unsubscribe("room", client: client))
                gone.append(members.removeValue(forKey: client)!)
            } else if n % 5 == 0 {
                gone.append(members[client]!)
                let again = subscriber(client, joinLeave: false)
                members[client] = again
                hub.subscribe("room", options: options, subscriber: again)
            }
        }
        hub.publish("room", options: options, publication: Publication(data: "1"))
        for member in members.values {
            #expect(texts(member.outbox) == [#"{"push":{"channel":"room","pub":{"data":1,"offset":1}}}"#], "\(member.client)")
        }
        for member in gone { #expect(texts(member.outbox).isEmpty, "\(member.client) left or was replaced") }
        #expect(hub.presenceStats("room").clients == members.count)
    }
}
