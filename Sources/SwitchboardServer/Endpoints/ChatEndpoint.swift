import Switchboard

/// `/ws/{client_id}`: the tutorial's chat room, as a channel of the engine (so it spans every node
/// of a cluster).
///
/// Text `X` from client `N` sends `You wrote: X` to that connection and publishes
/// `Client #N says: X` into the chat channel, whose members (`N` included) get it as plain text.
/// When `N` goes, however it goes, the others get `Client #N left the chat`. Protocol clients
/// subscribed to the same channel see the same messages as publications.
///
/// With the memory engine all of it happens at once, on the connection's event loop. With an engine
/// that waits (on a database), one connection's join, messages and leave reach the engine in the
/// order they happened (one task per connection works through them); if the engine cannot take a
/// message, the sender is closed with 1011 rather than the message being dropped unseen. There the
/// leave is the subscriber's ``Subscriber/farewell``, which the engine publishes when the member
/// leaves, or when its node shuts down or dies (any node of a cluster publishes a dead node's, once).
struct ChatEndpoint: WebSocketEndpoint {
    private enum Step: Sendable {
        case join(Connection)
        case say(String, Connection)
        case leave(Connection)
    }

    /// How the connection reaches the engine.
    private enum Route: Sendable {
        /// The memory engine: its hub, called directly (``Engine/immediateHub``).
        case immediate(Hub)
        /// An engine that waits: the connection's steps, worked through in order by one task.
        case queued(AsyncStream<Step>, AsyncStream<Step>.Continuation)
    }

    let clientID: Int
    /// The member's client id in the channel (presence): unique in the cluster, as connection ids
    /// are only unique on their node and a database engine keys presence by channel and client.
    let client: String
    let engine: any Engine
    /// The engine with the server's metrics (publishes are timed through it).
    let service: ChannelService
    let channel: String
    let options: ChannelOptions
    private let route: Route

    init(clientID rawClientID: String, service: ChannelService, channel: String) throws(EndpointRefusal) {
        guard let clientID = Int(rawClientID) else {
            throw EndpointRefusal(.policyViolation("client_id must be an integer, got '\(rawClientID)'"))
        }
        self.clientID = clientID
        self.client = "ws-" + ClientSession.makeClientID()
        self.engine = service.engine
        self.service = service
        self.channel = channel
        // The tutorial chat works whatever the configuration; a namespace for its channel adds
        // presence or history.
        self.options = (try? service.options(for: channel).get()) ?? ChannelOptions()
        if let hub = service.engine.immediateHub {
            self.route = .immediate(hub)
        } else {
            let (stream, continuation) = AsyncStream.makeStream(of: Step.self)
            self.route = .queued(stream, continuation)
        }
    }

    func opened(_ connection: Connection) {
        switch self.route {
        case .immediate(let hub):
            hub.subscribe(self.channel, options: self.options, subscriber: self.subscriber(connection))
        case .queued(let steps, let continuation):
            Task { await self.work(steps) }
            continuation.yield(.join(connection))
        }
    }

    func receive(_ message: InboundMessage, on connection: Connection) {
        guard case .text(let text) = message else {
            return connection.close(.unsupportedData("binary messages are not supported in the chat; send text"))
        }
        connection.send(text: "You wrote: \(text)")
        let line = "Client #\(self.clientID) says: \(text)"
        switch self.route {
        case .immediate(let hub): self.say(line, in: hub)
        case .queued(_, let continuation): continuation.yield(.say(line, connection))
        }
    }

    func closed(_ connection: Connection) {
        switch self.route {
        case .immediate(let hub):
            hub.unsubscribe(self.channel, client: self.client)
            self.say("Client #\(self.clientID) left the chat", in: hub)
        case .queued(_, let continuation):
            continuation.yield(.leave(connection))
            continuation.finish()
        }
    }

    /// Hand the connection's steps to the engine, one at a time.
    private func work(_ steps: AsyncStream<Step>) async {
        for await step in steps {
            do throws(EngineError) {
                switch step {
                case .join(let connection):
                    var subscriber = self.subscriber(connection)
                    subscriber.farewell = Self.publication("Client #\(self.clientID) left the chat").data
                    _ = try await self.engine.subscribe(self.channel, options: self.options, subscriber: subscriber, recoverFrom: nil) { _ in nil }
                case .say(let text, let connection):
                    do throws(EngineError) {
                        try await self.say(text)
                    } catch {
                        connection.close(.internalError("message not delivered: \(error.message)"))
                    }
                case .leave:
                    // The engine publishes the farewell (after the messages above: each was published
                    // before the next step).
                    self.engine.unsubscribe(self.channel, client: self.client)
                }
            } catch {
                // A join that failed: the engine has logged why.
                if case .join(let connection) = step { connection.close(.internalError("cannot join the chat: \(error.message)")) }
            }
        }
    }

    private func say(_ text: String) async throws(EngineError) {
        _ = try await self.service.publish(Self.publication(text), to: self.channel, options: self.options, storeInHistory: true)
    }

    private func say(_ text: String, in hub: Hub) {
        self.service.publish(in: hub, self.channel, options: self.options, publication: Self.publication(text))
    }

    private func subscriber(_ connection: Connection) -> Subscriber {
        Subscriber(info: ClientInfo(user: String(self.clientID), client: self.client), outbox: connection.outbox, format: .plainText)
    }

    private static func publication(_ text: String) -> Publication {
        Publication(data: JSONValue.string(text).jsonText)
    }
}
