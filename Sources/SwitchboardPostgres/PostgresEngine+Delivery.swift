import Logging
import Switchboard
import Synchronization

// Delivering the cluster's publications to this node's hub, per channel in offset order, once each.
extension PostgresEngine {
    /// A publication was announced: deliver it from the notification when it is the next one and
    /// no fetch is running for the channel; fetch when this node is further behind.
    func heard(_ offset: UInt64, in channel: String, carrying publication: Publication?) {
        let behind = self.cursors.withLock { cursors -> Bool in
            guard let cursor = cursors[channel], offset > cursor.delivered else { return false }
            guard let publication, !cursor.fetching, offset == cursor.delivered + 1 else { return true }
            // Under the lock, so that no fetch starts (and delivers it again) in between.
            self.hub.deliver(publication, to: channel)
            cursors[channel]!.delivered = offset
            return false
        }
        if behind { self.fetch(channel) }
    }

    /// Fetch and deliver what this node has not delivered yet; one fetch per channel at a time.
    func fetch(_ channel: String) {
        let start = self.cursors.withLock { cursors -> Bool in
            guard let cursor = cursors[channel] else { return false }
            if cursor.fetching {
                cursors[channel]!.again = true
                return false
            }
            cursors[channel]!.fetching = true
            return true
        }
        if start { self.fetches.continuation.yield(channel) }
    }

    func fetchLoop(_ channel: String) async {
        while !Task.isCancelled {
            // Only this loop moves the channel's cursor (one loop per channel), so it reads it once.
            guard var delivered = self.cursors.withLock({ $0[channel]?.delivered }) else { return }
            do {
                let publications = try await self.streams.publications(of: channel, after: delivered)
                for publication in publications {
                    let expected = delivered + 1
                    if publication.offset > expected {
                        self.logger.error(
                            "Publications were gone before this node delivered them",
                            metadata: ["channel": "\(channel)", "missing": "\(expected)...\(publication.offset - 1)"]
                        )
                        // Subscribers that track positions reconnect and recover (or learn they cannot).
                        self.hub.insufficientState(channel)
                    }
                    self.hub.deliver(publication, to: channel)
                    delivered = publication.offset
                    self.cursors.withLock { $0[channel]?.delivered = delivered }
                }
                if publications.count == 1000 { continue }  // a full page: there may be more
            } catch {
                // PostgreSQL is unreachable: try again (the listener reconnects meanwhile).
                self.logger.warning("Could not fetch publications", metadata: ["channel": "\(channel)", "error": "\(error.postgresReason)"])
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            // Done unless more was announced meanwhile; forget channels with no local subscribers.
            let more = self.cursors.withLock { cursors -> Bool in
                guard let cursor = cursors[channel] else { return false }
                if cursor.again {
                    cursors[channel]!.again = false
                    return true
                }
                if self.hub.presenceStats(channel).clients == 0 {
                    cursors[channel] = nil
                } else {
                    cursors[channel]!.fetching = false
                }
                return false
            }
            if !more { return }
        }
    }
}
