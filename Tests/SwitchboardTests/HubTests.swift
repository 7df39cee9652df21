import Switchboard
import Synchronization
import Testing

/// A hub with a clock the test moves.
private final class ManualClock: Sendable {
    let instant = Mutex(ContinuousClock.now)
    func advance(_ by: Duration) { self.instant.withLock { $0 += by } }
    var now: ContinuousClock.Instant { self.instant.withLock { $0 } }
}

private func subscriber(_ client: String, limit: Int = 1 << 16, format: Subscriber.Format = .protocolPush) -> Subscriber {
    Subscriber(info: ClientInfo(user: "u-\(client)", client: client), outbox: Outbox(limit: limit), format: format)
}

private func texts(_ outbox: Outbox) -> [String] {
    outbox.drain().messages.map { String(buffer: $0.bytes) }
}

@Suite struct HubTests {
    var chat: ChannelOptions {
        var options = ChannelOptions()
        options.presence = true
        options.joinLeave = true
        options.historySize = 10
        options.historyTTL = .seconds(60)
        return options
    }

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
