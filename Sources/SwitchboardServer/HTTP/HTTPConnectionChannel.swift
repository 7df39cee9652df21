import NIOCore

/// The NIO channel of the HTTP connection whose request the current task serves.
///
/// Hummingbird runs each connection's requests, and writes their responses, in the connection's own
/// task, but does not hand the channel to route handlers. A streaming response needs it for one
/// thing: a client that stops reading stalls the response's writes for good, and closing the channel
/// is the only way to end them (see ``UniStream``).
enum HTTPConnectionChannel {
    @TaskLocal static var current: (any Channel)?
}
