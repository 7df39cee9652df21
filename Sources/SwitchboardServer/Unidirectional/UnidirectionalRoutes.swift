import HTTPTypes
import NIOCore
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
    static let connectParameter = "cf_connect"

    func addRoutes<Context: RequestContext>(to router: some RouterMethods<Context>) {
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
            guard let fromQuery = Self.queryValue(Self.connectParameter, in: request.uri.query ?? "") else {
                return Self.refusal(.badRequest, "bad request: '\(Self.connectParameter)' is not URL-encoded text")
            }
            connectRequest = fromQuery ?? "{}"
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
            stream = try UniStream(
                framing: framing,
                service: self.service,
                registry: self.registry,
                configuration: self.configuration,
                request: Self.connectionRequest(request)
            )
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

    /// The value of query parameter `name` decoded as a form does it (`+` is a space, as
    /// `URLSearchParams` writes it, then percent-decoding): `.some(nil)` when the query does not
    /// have it, `nil` when its value does not decode to UTF-8 text.
    static func queryValue(_ name: String, in query: String) -> String?? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard Self.formDecode(parts[0]) == name else { continue }
            guard let value = Self.formDecode(parts.count > 1 ? parts[1] : "") else { return nil }
            return .some(value)
        }
        return .some(nil)
    }

    private static func formDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The request as the application's hooks see it: headers, URI and the peer's address.
    static func connectionRequest(_ request: Request) -> ConnectionRequest {
        ConnectionRequest(
            headers: request.headers.map { (name: $0.name.rawName, value: $0.value) },
            uri: request.uri.description,
            remoteAddress: HTTPConnectionChannel.current?.remoteAddress?.ipAddress
        )
    }

    private static func refusal(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: .init(string: reason + "\n")))
    }
}
