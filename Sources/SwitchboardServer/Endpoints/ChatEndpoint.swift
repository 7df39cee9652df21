import Switchboard

/// `/ws/{client_id}`: the tutorial's chat room, as a channel of the hub.
///
/// Text `X` from client `N` sends `You wrote: X` to that connection and publishes
/// `Client #N says: X` into the chat channel, whose members (`N` included) get it as plain text.
/// When `N` goes, however it goes, the others get `Client #N left the chat`. Protocol clients
/// subscribed to the same channel see the same messages as publications.
struct ChatEndpoint: WebSocketEndpoint {
    let clientID: Int
    let hub: Hub
    let channel: String
    let options: ChannelOptions

    init(clientID rawClientID: String, service: ChannelService, channel: String) throws(EndpointRefusal) {
        guard let clientID = Int(rawClientID) else {
            throw EndpointRefusal(.policyViolation("client_id must be an integer, got '\(rawClientID)'"))
        }
        self.clientID = clientID
        self.hub = service.hub
        self.channel = channel
        // The tutorial chat works whatever the configuration; a namespace for its channel adds
        // presence or history.
        self.options = (try? service.options(for: channel).get()) ?? ChannelOptions()
    }

    func opened(_ connection: Connection) {
        let info = ClientInfo(user: String(self.clientID), client: "ws-\(connection.id)")
        self.hub.subscribe(self.channel, options: self.options, subscriber: Subscriber(info: info, outbox: connection.outbox, format: .plainText))
    }

    func receive(_ message: InboundMessage, on connection: Connection) {
        guard case .text(let text) = message else {
            return connection.close(.unsupportedData("binary messages are not supported in the chat; send text"))
        }
        connection.send(text: "You wrote: \(text)")
        self.say("Client #\(self.clientID) says: \(text)")
    }

    func closed(_ connection: Connection) {
        self.hub.unsubscribe(self.channel, client: "ws-\(connection.id)")
        self.say("Client #\(self.clientID) left the chat")
    }

    private func say(_ text: String) {
        self.hub.publish(self.channel, options: self.options, publication: Publication(data: JSONValue.string(text).jsonText))
    }
}
