import Foundation
import Logging
import PostgresNIO
import Switchboard
import SwitchboardPostgres
import Testing

/// Cluster-wide presence in a real PostgreSQL: two nodes, one of which stops heartbeating.
@Suite(.enabled(if: TestDatabase.available, "needs PostgreSQL: run scripts/test.sh"))
struct PostgresPresenceTests {
    let logger = Logger(label: "test")

    @Test func membersOfEveryNodeAndTheDeadNodesGhostsReaped() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await PostgresSchema.migrate(client, logger: self.logger)
            let a = PostgresPresence(client: client, logger: self.logger, node: "node-a")
            let b = PostgresPresence(client: client, logger: self.logger, node: "node-b")
            try await a.heartbeat(name: "a")
            try await b.heartbeat(name: "b")
            let ann = ClientInfo(user: "ann", client: "c1", connectionInfo: #"{"name":"Ann"}"#)
            let annAgain = ClientInfo(user: "ann", client: "c2")
            let bob = ClientInfo(user: "bob", client: "c3")
            try await a.add(ann, to: "rooms:lobby")
            try await b.add(annAgain, to: "rooms:lobby")
            try await b.add(bob, to: "rooms:lobby")
            try await b.add(bob, to: "rooms:kitchen")
            try await b.add(bob, to: "rooms:kitchen")  // again: still one entry

            #expect(try await a.members(of: "rooms:lobby") == [ann, annAgain, bob])
            #expect(try await a.stats(of: "rooms:lobby") == (3, 2))
            #expect(try await b.stats(of: "rooms:kitchen") == (1, 1))
            #expect(try await a.stats(of: "rooms:empty") == (0, 0))

            #expect(try await a.remove(client: "c2", from: "rooms:lobby"))
            #expect(try await !a.remove(client: "c2", from: "rooms:lobby"))

            // Node b stops heartbeating (as after kill -9); a keeps going. After the TTL, b's
            // entries are reaped and returned for the leaves to announce; a's stay.
            // (A TTL of 1 s: with every suite running at once on a busy machine, a few hundred
            // milliseconds can pass between a heartbeat and the next statement.)
            try await Task.sleep(for: .milliseconds(1500))
            try await a.heartbeat()
            let reaped = try await a.reapDeadNodes(ttl: .seconds(1))
            #expect(Set(reaped.map { "\($0.channel) \($0.info.client)" }) == ["rooms:lobby c3", "rooms:kitchen c3"])
            #expect(try await a.members(of: "rooms:lobby") == [ann])
            #expect(try await a.members(of: "rooms:kitchen") == [])
            try await a.heartbeat()
            #expect(try await a.reapDeadNodes(ttl: .seconds(1)).isEmpty, "a live node is not reaped")

            // A clean shutdown removes a node's entries at once.
            let left = try await a.leaveCluster()
            #expect(left.map(\.info) == [ann])
            #expect(try await b.members(of: "rooms:lobby") == [])
        }
    }
}
