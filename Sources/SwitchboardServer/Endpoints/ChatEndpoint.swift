import Switchboard

/// `/ws/{client_id}`: the tutorial's chat room.
///
/// Text `X` from client `N` sends `You wrote: X` to that connection and `Client #N says: X` to every
/// member of the room, `N` included. When `N` goes, however it goes, the others get
/// `Client #N left the chat`.
struct ChatEndpoint: WebSocketEndpoint {
    let clientID: Int
    let room: Room

    init(clientID rawClientID: String, room: Room) throws(EndpointRefusal) {
        guard let clientID = Int(rawClientID) else {
            throw EndpointRefusal(.policyViolation("client_id must be an integer, got '\(rawClientID)'"))
        }
        self.clientID = clientID
        self.room = room
    }

    func opened(_ connection: Connection) {
        self.room.join(connection.id, outbox: connection.outbox)
    }

    func receive(_ message: InboundMessage, on connection: Connection) {
        guard case .text(let text) = message else {
            return connection.close(.unsupportedData("binary messages are not supported in the chat; send text"))
        }
        connection.send(text: "You wrote: \(text)")
        self.room.broadcast(.text("Client #\(self.clientID) says: \(text)"))
    }

    func closed(_ connection: Connection) {
        self.room.leave(connection.id)
        self.room.broadcast(.text("Client #\(self.clientID) left the chat"))
    }
}
