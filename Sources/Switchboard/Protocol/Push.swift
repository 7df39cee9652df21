/// The server-to-client pushes of the Centrifugo protocol (JSON), each encoded once and shared by
/// every connection that receives it.
public enum Push {
    /// `{"push":{"channel":…,"pub":{…}}}`
    public static func publication(_ publication: Publication, channel: String) -> OutboundMessage {
        Self.message(channel: channel, key: "pub", value: publication.json)
    }

    /// `{"push":{"channel":…,"join":{"info":{…}}}}`
    public static func join(_ info: ClientInfo, channel: String) -> OutboundMessage {
        Self.message(channel: channel, key: "join", value: .object(["info": info.json]))
    }

    /// `{"push":{"channel":…,"leave":{"info":{…}}}}`
    public static func leave(_ info: ClientInfo, channel: String) -> OutboundMessage {
        Self.message(channel: channel, key: "leave", value: .object(["info": info.json]))
    }

    /// `{"push":{"channel":…,"unsubscribe":{"code":…,"reason":…}}}`: the server ended a subscription.
    public static func unsubscribe(channel: String, code: Int, reason: String) -> OutboundMessage {
        Self.message(channel: channel, key: "unsubscribe", value: .object(["code": .integer(code), "reason": .string(reason)]))
    }

    /// `{"push":{"channel":…,"subscribe":{…}}}`: the server subscribed the connection.
    public static func subscribe(channel: String, result: JSONValue) -> OutboundMessage {
        Self.message(channel: channel, key: "subscribe", value: result)
    }

    /// The server's application-level ping: an empty object.
    public static let ping = OutboundMessage.text("{}")

    private static func message(channel: String, key: String, value: JSONValue) -> OutboundMessage {
        .text(JSONValue.object(["push": .object(["channel": .string(channel), key: value])]).jsonText)
    }
}
