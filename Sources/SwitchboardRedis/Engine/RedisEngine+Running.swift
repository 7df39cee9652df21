import Logging
import Switchboard

// The engine's background work: connections, heartbeats, reaping dead nodes, presence removals.
extension RedisEngine {
    /// Keep the connections to every shard, deliver what they publish to this node's hub,
    /// heartbeat and reap dead nodes; until cancelled. Then leave the cluster (this node's presence
    /// entries go, their leaves are announced and their farewells published) and close.
    public func run() async {
        // The command connections outlive the rest: leaving the cluster needs them.
        let clients = self.shards.map { shard in Task { await shard.client.run() } }
        await withDiscardingTaskGroup { group in
            for shard in self.shards { group.addTask { await shard.subscriber.run() } }
            group.addTask { await self.delivery.run() }
            group.addTask { await self.keepAlive() }
            group.addTask { await self.workOnPresence() }
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                self.delivery.finish()
                self.presenceWork.continuation.finish()
            }
        }
        // The report usually refers back to the engine (through the server's API): let go of it.
        self.nodeReport.withLock { $0 = nil }
        // Not in the cancelled task, whose calls would be cancelled too.
        await Task {
            var entries = 0
            var failed = false
            for shard in self.shards {
                do throws(RedisError) {
                    let taken = try await shard.presence.takeNode(self.node)
                    entries += taken.count
                    for entry in taken { await self.farewell(entry, from: "") }
                } catch {
                    failed = true
                    self.logger.warning("Could not leave the cluster; other nodes will after the node TTL", metadata: ["redis": "\(shard.client.url)", "error": "\(error.message)"])
                }
            }
            if !failed { try? await self.nodes.forget(self.node) }
            self.logger.info("Left the cluster", metadata: ["node": "\(self.node)", "presence_entries": "\(entries)"])
        }.value
        for client in clients { client.cancel() }
        for client in clients { await client.value }
    }

    /// Heartbeat, and reap the nodes not seen for the node TTL (announcing their leaves).
    func keepAlive() async {
        let interval = self.settings.nodeTTL / 3
        // The first heartbeat once connected (the client logs its own failures to connect).
        let connecting = ContinuousClock.now + self.settings.requestTimeout
        while self.nodes.client.status != .connected, ContinuousClock.now < connecting, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        while !Task.isCancelled {
            do throws(RedisError) {
                let report = self.nodeReport.withLock { $0 }
                let dead = try await self.nodes.heartbeat(self.node, info: report.map { $0().json.jsonText }, ttl: self.settings.nodeTTL)
                for node in dead {
                    var reaped = 0
                    for shard in self.shards {
                        let entries = try await shard.presence.takeNode(node)
                        reaped += entries.count
                        for entry in entries { await self.farewell(entry, from: "") }
                    }
                    try await self.nodes.forget(node)
                    self.logger.notice("Removed a dead node and its presence", metadata: ["dead_node": "\(node)", "entries": "\(reaped)"])
                }
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("Node heartbeat failed", metadata: ["error": "\(error.message)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Remove presence entries in the order their subscribers left, announcing the leaves; retried
    /// while Redis is unreachable.
    func workOnPresence() async {
        for await work in self.presenceWork.stream {
            switch work {
            case .remove(let channel, let info):
                while !Task.isCancelled {
                    do throws(RedisError) {
                        // In a task of its own, so a shutdown cannot cancel the farewell after the take.
                        try await Task { () -> Result<Void, RedisError> in
                            do throws(RedisError) {
                                if let entry = try await self.shard(channel).presence.take(client: info.client, from: channel) {
                                    await self.farewell(entry, from: self.node)
                                }
                                return .success(())
                            } catch {
                                return .failure(error)
                            }
                        }.value.get()
                        break
                    } catch {
                        self.logger.warning("Could not remove a presence entry; retrying", metadata: ["channel": "\(channel)", "error": "\(error.message)"])
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            case .reregister(let index):
                await self.reregister(shard: index)
            }
        }
    }

    /// Write the presence entries of this node's subscribers in a shard's channels again, after its
    /// pub/sub connection came back (Redis may have restarted without its data). Entries are
    /// replaced, not added twice; no join is announced.
    func reregister(shard index: Int) async {
        let shard = self.shards[index]
        // The pub/sub connection may be back before the command connection.
        let deadline = ContinuousClock.now + self.settings.requestTimeout * 2
        while shard.client.status != .connected, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        var written = 0
        for channel in self.delivery.channels where Self.shardIndex(of: channel, shards: self.shards.count) == index {
            guard let (options, subscribers) = self.hub.completedSubscribers(of: channel) else { continue }
            for subscriber in subscribers where subscriber.keepsPresenceEntry(in: options) {
                do throws(RedisError) {
                    try await shard.presence.add(
                        subscriber.info, to: channel, node: self.node, farewell: Farewell(of: subscriber, in: options),
                        announcing: nil, on: shard.streams.pubSubChannel(channel)
                    )
                    written += 1
                } catch {
                    self.logger.warning("Could not write presence again", metadata: ["channel": "\(channel)", "error": "\(error.message)"])
                    return
                }
            }
        }
        if written > 0 { self.logger.info("Wrote this node's presence again", metadata: ["redis": "\(shard.client.url)", "entries": "\(written)"]) }
    }

    /// What follows the removal of a presence entry: the farewell published and the leave
    /// announced (at most once: only whoever removed the entry gets here; a failure is logged).
    func farewell(_ entry: PresenceEntry, from node: String) async {
        let shard = self.shard(entry.channel)
        if let farewell = entry.farewell {
            do throws(RedisError) {
                _ = try await shard.streams.publish(
                    Publication(data: farewell.data),
                    to: entry.channel,
                    historySize: farewell.historySize,
                    historyTTL: farewell.historyTTL,
                    inHistory: farewell.inHistory
                )
            } catch {
                self.logger.warning("Could not publish a farewell", metadata: ["channel": "\(entry.channel)", "error": "\(error.message)"])
            }
        }
        let leave = PresenceEvent(kind: .leave, node: node, channel: entry.channel, info: entry.info)
        do throws(RedisError) {
            try await shard.client.send(RESPCommand("PUBLISH", shard.streams.pubSubChannel(entry.channel), leave.payload))
        } catch {
            self.logger.warning("Could not announce a leave", metadata: ["channel": "\(entry.channel)", "error": "\(error.message)"])
        }
    }
}
