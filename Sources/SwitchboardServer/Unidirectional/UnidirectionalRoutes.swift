import HTTPTypes
import Hummingbird
import Logging
import Switchboard

/// The unidirectional HTTP transports, for clients without an SDK (a browser's `EventSource`, `curl`):
///
/// * `GET /connection/uni_sse?cf_connect=<url-encoded connect request>` (no `cf_connect`: `{}`), or
///   `POST /connection/uni_sse` with the connect request as the body: `text/event-stream`, one
///   `data: <push>` event per push.
/// * `POST /connection/uni_http_stream` with the connect request as the body: newline-delimited JSON,
///   one push per line.
///
/// What is refused before the stream starts gets an HTTP status and a reason: a disallowed `Origin`
/// (403, the policy of the WebSocket handshake), a body over `--max-message-size` (413), a connect
/// request that is not a well-formed JSON object (400), the connection limit or shutdown (503).
/// Everything after that (a bad token, say) is a `disconnect` push at the end of the stream.
struct UnidirectionalRoutes: Sendable {
    let service: ChannelService
    let registry: ConnectionRegistry
    let configuration: SwitchboardConfiguration
    let logger: Logger

    /// The query parameter that carries the connect request of a `GET` (as in Centrifugo).
    static let connectParameter: Substring = "cf_connect"

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/connection/uni_sse") { request, _ in await self.serve(request, .serverSentEvents) }
        router.post("/connection/uni_sse") { request, _ in await self.serve(request, .serverSentEvents) }
        router.post("/connection/uni_http_stream") { request, _ in await self.serve(request, .jsonLines) }
    }

    private func serve(_ request: Request, _ framing: UniFraming) async -> Response {
        let origins = request.headers[values: .origin]
        guard self.configuration.allowedOrigins.allows(origins: origins, host: request.head.authority) else {
            self.logger.notice(
                "Refused unidirectional stream from a disallowed origin",
                metadata: ["origin": .string(origins.joined(separator: ", ")), "transport": .string(framing.name)]
            )
            return Self.refusal(.forbidden, "origin not allowed")
        }
        let connectRequest: String
        if request.method == .get {
            connectRequest = request.uri.queryParameters[Self.connectParameter].map(String.init) ?? "{}"
        } else {
            let limit = self.configuration.maxMessageSize
            do {
                connectRequest = String(buffer: try await request.body.collect(upTo: limit))
            } catch {
                return Self.refusal(.contentTooLarge, "connect request larger than \(limit) bytes")
            }
        }
        if let problem = ClientSession.unidirectionalConnectProblem(connectRequest) {
            return Self.refusal(.badRequest, problem.message)
        }
        let stream: UniStream
        do throws(UniStream.Refusal) {
            stream = try UniStream(framing: framing, service: self.service, registry: self.registry, configuration: self.configuration)
        } catch {
            switch error {
            case .atLimit(let limit):
                self.logger.notice("Refused unidirectional stream: at connection limit", metadata: ["limit": "\(limit)"])
                return Self.refusal(.serviceUnavailable, "server at connection limit (\(limit)); try again later")
            case .shuttingDown:
                return Self.refusal(.serviceUnavailable, "server shutting down")
            }
        }
        stream.start(connectRequest)
        return Response(
            status: .ok,
            headers: [
                .contentType: framing.contentType,
                .cacheControl: "private, no-cache, no-store, must-revalidate, max-age=0",
                HTTPField.Name("X-Accel-Buffering")!: "no",
                HTTPField.Name("Pragma")!: "no-cache",
            ],
            body: stream.body
        )
    }

    private static func refusal(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: .init(string: reason + "\n")))
    }
}
