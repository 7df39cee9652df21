import Foundation
import Logging
import PostgresNIO
import Switchboard
@testable import SwitchboardPostgres
import Testing

/// A node whose delivery fetch finds publications gone before it delivered them (an offset missing
/// from the table) closes its subscribers that track the stream's position with 3010, so they
/// reconnect and recover; the others carry on.
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresDeliveryGapTests {
    let logger = Logger(label: "test")

    var room: Switchboard.ChannelOptions {
        var options = Switchboard.ChannelOptions()
        options.historySize = 100
        options.historyTTL = .seconds(300)
        return options
    }

    private func offsets(_ messages: [OutboundMessage]) -> [UInt64] {
        messages.compactMap { message in
            let value = try? JSONValue.parse(String(buffer: message.bytes))
            return value?["push"]?["pub"]?["offset"]?.integerValue(UInt64.self)
        }
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes.
    private func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    @Test func aGapFoundByTheFetchClosesPositionTrackingSubscribersWithInsufficientState() async throws {
        try await TestDatabase.withDatabase { client, url in
            try await PostgresSchema.migrate(client, logger: self.logger)
            try await TestDatabase.withClient(url) { listenerClient in
                let hub = Hub()
                let engine = PostgresEngine(hub: hub, client: client, listenerClient: listenerClient, logger: self.logger)
                let run = Task { await engine.run() }
                var failure: (any Error)?
                do {
                    #expect(try await self.eventually(timeout: .seconds(20)) { engine.status == .ready }, "the node listens")

                    // A channel with history: two publications before anyone subscribes.
                    for n in 1...2 { _ = try await engine.publish(Publication(data: "\(n)"), to: "rooms:gap", options: self.room) }
                    var tracking = Subscriber(info: ClientInfo(user: "", client: "tracking"), outbox: Outbox(limit: 1 << 20))
                    tracking.tracksPosition = true
                    let plain = Subscriber(info: ClientInfo(user: "", client: "plain"), outbox: Outbox(limit: 1 << 20))
                    #expect(plain.tracksPosition == false)
                    let outcome = try #require(try await engine.subscribe("rooms:gap", options: self.room, subscriber: tracking))
                    #expect(outcome.position?.offset == 2)
                    try await engine.subscribe("rooms:gap", options: self.room, subscriber: plain)
                    // The node's cursor is at the stream's top, and the fetches the subscribes started are done.
                    #expect(try await self.eventually {
                        engine.delivery.state(of: "rooms:gap").map { $0.delivered == 2 && !$0.fetching } ?? false
                    }, "the cursor is at the top: \(String(describing: engine.delivery.state(of: "rooms:gap")))")

                    // Behind the node's back (no NOTIFY): offsets 3 and 4 were given out and are gone
                    // from the table; 5 and 6 are there.
                    _ = try await client.query("UPDATE switchboard_streams SET top_offset = top_offset + 4 WHERE channel = 'rooms:gap'").collect()
                    _ = try await client.query(
                        """
                        INSERT INTO switchboard_publications (channel, "offset", data, expires_at)
                        VALUES ('rooms:gap', 5, '"5"', now() + interval '5 minutes'),
                               ('rooms:gap', 6, '"6"', now() + interval '5 minutes')
                        """
                    ).collect()
                    #expect(try await engine.streams.position(of: "rooms:gap")?.offset == 6)
                    #expect(try await engine.streams.publications(of: "rooms:gap", after: 2).map(\.offset) == [5, 6])
                    #expect(tracking.outbox.isFinished == false && plain.outbox.isFinished == false, "nothing closed before the fetch")

                    engine.delivery.fetch("rooms:gap")

                    // The tracking subscriber's connection is closed with 3010.
                    var trackingClose: CloseReason?
                    var trackingMessages: [OutboundMessage] = []
                    #expect(try await self.eventually {
                        let batch = tracking.outbox.drain()
                        trackingMessages += batch.messages
                        if let close = batch.close { trackingClose = close }
                        return trackingClose != nil
                    }, "the tracking subscriber is closed")
                    #expect(trackingClose == Disconnect.insufficientState)
                    #expect(trackingClose?.code == 3010)
                    #expect(self.offsets(trackingMessages).isEmpty, "closed before the publications after the gap")

                    // The other one is not closed and gets the publications after the gap.
                    var plainMessages: [OutboundMessage] = []
                    var plainClose: CloseReason?
                    #expect(try await self.eventually {
                        let batch = plain.outbox.drain()
                        plainMessages += batch.messages
                        if let close = batch.close { plainClose = close }
                        return self.offsets(plainMessages).count >= 2
                    }, "the plain subscriber gets 5 and 6: \(self.offsets(plainMessages))")
                    #expect(self.offsets(plainMessages) == [5, 6])
                    #expect(plainClose == nil)
                    #expect(plain.outbox.isFinished == false, "the subscriber that does not track positions stays open")
                    #expect(engine.delivery.state(of: "rooms:gap")?.delivered == 6, "the node carries on after the gap")
                } catch {
                    failure = error
                }
                run.cancel()
                await run.value
                if let failure { throw failure }
            }
        }
    }
}
