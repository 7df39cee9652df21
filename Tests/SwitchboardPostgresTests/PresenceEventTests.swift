import Switchboard
import SwitchboardPostgres
import Testing

@Suite struct PresenceEventTests {
    @Test func aPayloadReadsBackAsTheSameEvent() throws {
        let info = ClientInfo(user: "ann", client: "c1", connectionInfo: #"{"name":"Ann\tLee says \"hi\""}"#, channelInfo: nil)
        for event in [
            PresenceEvent(kind: .join, node: "n1", channel: "rooms:lobby with spaces\tand tab", info: info),
            PresenceEvent(kind: .leave, node: "", channel: "x", info: ClientInfo(user: "", client: "c2")),
        ] {
            #expect(PresenceEvent(payload: event.payload) == event)
        }
    }

    @Test func infoTooLargeForANotificationKeepsTheIds() throws {
        let big = #"{"blob":""# + String(repeating: "x", count: 10_000) + #""}"#
        let event = PresenceEvent(kind: .join, node: "n1", channel: "c", info: ClientInfo(user: "u", client: "c1", connectionInfo: big))
        #expect(event.payload.utf8.count <= PresenceEvent.maximumPayloadBytes)
        let read = try #require(PresenceEvent(payload: event.payload))
        #expect(read.info == ClientInfo(user: "u", client: "c1"))
        #expect(read.channel == "c")
    }

    @Test func otherPayloadsAreNotEvents() {
        #expect(PresenceEvent(payload: "12 rooms:lobby") == nil)
        #expect(PresenceEvent(payload: "j\tn1\tnot json\tc") == nil)
        #expect(PresenceEvent(payload: "x\tn1\t{}\tc") == nil)
        #expect(PresenceEvent(payload: "j\tn1\t{}") == nil)
    }
}
