import CoreMetrics
public import Prometheus
import Synchronization
public import Switchboard

/// The server's Prometheus metrics (`/metrics`, on with `--prometheus` or `"prometheus": true`):
/// Centrifugo's metric names where the meaning matches, so its dashboards work, and `switchboard_*`
/// for the rest. docs/OBSERVABILITY.md describes each one.
///
/// What is counted as it happens (command and API durations, transport messages, server
/// disconnects, engine publishes) goes through ``metrics``, a swift-metrics factory on ``registry``.
/// What is a state (clients, users, channels, subscriptions, connections) is read from the hub,
/// the session directory and the connection registry when scraped, and so are the hub's fan-out
/// counters (``HubCounters``): the fan-out path pays one relaxed atomic add per event for them.
public final class SwitchboardPrometheus: Sendable {
    /// Every metric of the server.
    public let registry: PrometheusCollectorRegistry
    /// The instruments the client protocol, the server API and the WebSocket layer record into.
    public let metrics: SwitchboardMetrics

    private let numClients: CoreMetrics.Meter
    private let numUsers: CoreMetrics.Meter
    private let numChannels: CoreMetrics.Meter
    private let numSubscriptions: CoreMetrics.Meter
    private let numConnections: CoreMetrics.Meter
    private let messagesSent: [CoreMetrics.Counter]
    private let messagesReceived: [CoreMetrics.Counter]
    /// The hub's counts already added to ``messagesSent`` and ``messagesReceived``.
    private let exported = Mutex<(sent: [Int], received: [Int])>(([0, 0, 0], [0, 0, 0]))

    /// Help text of every metric, by name.
    static let help: [String: String] = [
        "centrifugo_node_num_clients": "Number of clients connected (protocol sessions: WebSocket and unidirectional).",
        "centrifugo_node_num_users": "Number of unique users connected.",
        "centrifugo_node_num_channels": "Number of channels with one or more subscribers.",
        "centrifugo_node_num_subscriptions": "Number of subscriptions.",
        "centrifugo_node_build": "Node build info.",
        "centrifugo_node_messages_sent_count": "Number of messages sent by node to engine.",
        "centrifugo_node_messages_received_count": "Number of messages received from engine.",
        "switchboard_node_num_connections": "Number of open WebSocket connections, every endpoint (what /health reports).",
        SwitchboardMetrics.Name.clientCommandDuration: "Client command duration.",
        SwitchboardMetrics.Name.apiCommandDuration: "Duration of API per command.",
        SwitchboardMetrics.Name.serverDisconnects: "Number of server initiated disconnects.",
        SwitchboardMetrics.Name.transportMessagesSent: "Number of messages sent to client connections over specific transport.",
        SwitchboardMetrics.Name.transportMessagesReceived: "Number of messages received from client connections over specific transport.",
        SwitchboardMetrics.Name.enginePublishDuration: "Time the engine took to take a publication.",
        SwitchboardMetrics.Name.enginePublishErrors: "Number of publications the engine failed to take.",
    ]

    /// A registry of its own, with every metric registered (at zero) so that a scrape shows them all.
    public init(version: String = SwitchboardServer.version) {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusFactory(registry: registry, help: Self.help)
        self.registry = registry
        self.metrics = SwitchboardMetrics(factory: factory)
        self.numClients = Meter(label: "centrifugo_node_num_clients", dimensions: [], factory: factory)
        self.numUsers = Meter(label: "centrifugo_node_num_users", dimensions: [], factory: factory)
        self.numChannels = Meter(label: "centrifugo_node_num_channels", dimensions: [], factory: factory)
        self.numSubscriptions = Meter(label: "centrifugo_node_num_subscriptions", dimensions: [], factory: factory)
        self.numConnections = Meter(label: "switchboard_node_num_connections", dimensions: [], factory: factory)
        Meter(label: "centrifugo_node_build", dimensions: [("version", version)], factory: factory).set(1)
        self.messagesSent = HubCounters.Kind.allCases.map {
            Counter(label: "centrifugo_node_messages_sent_count", dimensions: [("type", $0.label)], factory: factory)
        }
        self.messagesReceived = HubCounters.Kind.allCases.map {
            Counter(label: "centrifugo_node_messages_received_count", dimensions: [("type", $0.label)], factory: factory)
        }
        // Registered now, so that the series exist (at zero) before anything happens.
        for transport in ["websocket", "uni_websocket", "uni_sse", "uni_http_stream", "websocket_raw"] {
            _ = self.metrics.transportCounters(transport)
        }
        _ = self.metrics.serverDisconnects(code: 3001)
        for method in SwitchboardMetrics.apiMethods {
            _ = self.metrics.apiCommandTimer(method, protocol: "http")
        }
    }

    /// The exposition (Prometheus text format 0.0.4), with the states read now.
    public func render(hub: Hub, sessions: SessionDirectory, connections: ConnectionRegistry) -> [UInt8] {
        let (clients, users) = sessions.counts
        self.numClients.set(clients)
        self.numUsers.set(users)
        let channels = hub.activeChannels()
        self.numChannels.set(channels.count)
        self.numSubscriptions.set(channels.values.reduce(0, +))
        self.numConnections.set(connections.count)
        self.exported.withLock { exported in
            for kind in HubCounters.Kind.allCases {
                let sent = hub.counters.sentCount(kind)
                let received = hub.counters.receivedCount(kind)
                self.messagesSent[kind.rawValue].increment(by: sent - exported.sent[kind.rawValue])
                self.messagesReceived[kind.rawValue].increment(by: received - exported.received[kind.rawValue])
                exported.sent[kind.rawValue] = sent
                exported.received[kind.rawValue] = received
            }
        }
        return self.registry.emitToBuffer()
    }
}
