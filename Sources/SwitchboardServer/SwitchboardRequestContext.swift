public import Hummingbird
public import HummingbirdWebSocket
public import NIOCore

/// The request context of Switchboard's WebSocket routes. It keeps the connection's NIO channel,
/// which a session needs to drop a client that stops reading.
public struct SwitchboardRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    /// The TCP connection the request arrived on.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}
