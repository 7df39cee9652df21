import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Switchboard
import SwitchboardPostgres
import Testing

/// The listener against a real PostgreSQL whose backends the test kills.
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresListenerTests {
    let logger = Logger(label: "test")

    /// Events seen so far, and a way to wait for one.
    final class Recorder: Sendable {
        let events = NIOLockedValueBox<[PostgresListener.Event]>([])

        func record(_ event: PostgresListener.Event) { self.events.withLockedValue { $0.append(event) } }

        func wait(timeout: Duration = .seconds(15), until condition: ([PostgresListener.Event]) -> Bool) async throws {
            let deadline = ContinuousClock.now + timeout
            while !condition(self.events.withLockedValue { $0 }) {
                guard ContinuousClock.now < deadline else {
                    Issue.record("timed out; events: \(self.events.withLockedValue { $0 })")
                    throw CancellationError()
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test func hearsPublicationsAndReconnectsAfterItsConnectionIsKilled() async throws {
        try await TestDatabase.withDatabase { client, url in
            try await PostgresSchema.migrate(client, logger: self.logger)
            let streams = PostgresStreams(client: client, logger: self.logger)
            let recorder = Recorder()
            try await TestDatabase.withClient(url) { listenerClient in
                let listener = PostgresListener(client: listenerClient, logger: self.logger, minimumBackoff: .milliseconds(50))
                let task = Task { await listener.run { recorder.record($0) } }
                defer { task.cancel() }
                try await recorder.wait { $0 == [.listening] }

                _ = try await streams.append(Publication(data: "1"), to: "rooms:a", historySize: 10, historyTTL: .seconds(60))
                try await recorder.wait { $0.last == .publication(offset: 1, channel: "rooms:a", publication: Publication(offset: 1, data: "1")) }

                // Kill the listening backend, as a PostgreSQL restart or a dropped connection would.
                var killed = 0
                let rows = try await client.query(
                    """
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'
                    """
                )
                for try await count in rows.decode(Int.self) { killed = count }
                #expect(killed == 1)
                try await recorder.wait { events in
                    guard let interrupted = events.lastIndex(where: { if case .interrupted = $0 { true } else { false } }) else { return false }
                    return events[interrupted...].contains(.listening)
                }

                // Listening again: later publications arrive.
                _ = try await streams.append(Publication(data: "2"), to: "rooms:a", historySize: 10, historyTTL: .seconds(60))
                try await recorder.wait { $0.last == .publication(offset: 2, channel: "rooms:a", publication: Publication(offset: 2, data: "2")) }
            }
        }
    }

}

/// The reconnection delays (no database needed).
@Suite struct PostgresListenerBackoffTests {
    let logger = Logger(label: "test")

    @Test func backoffDoublesUpToTheCapWithJitterInItsUpperHalf() {
        let listener = PostgresListener(
            client: PostgresClient(configuration: .init(host: "127.0.0.1", username: "x", password: nil, database: nil, tls: .disable)),
            logger: self.logger,
            minimumBackoff: .milliseconds(100),
            maximumBackoff: .seconds(1)
        )
        for (failures, cap) in [(1, Duration.milliseconds(100)), (2, .milliseconds(200)), (3, .milliseconds(400)), (5, .seconds(1)), (40, .seconds(1))] {
            for _ in 0..<20 {
                let delay = listener.backoff(afterFailures: failures)
                #expect(delay >= cap / 2 && delay <= cap, "after \(failures) failures: \(delay)")
            }
        }
    }
}
