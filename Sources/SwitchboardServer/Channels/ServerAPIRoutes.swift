import HTTPTypes
import Hummingbird
import Switchboard

/// `POST /api/<method>`: the server API behind its key.
struct ServerAPIRoutes: Sendable {
    let api: HTTPServerAPI
    /// `nil`: the API is off and every call gets 401.
    let key: String?
    let maxBodySize: Int

    func addRoutes<Context: RequestContext>(to router: some RouterMethods<Context>) {
        router.post("/api/{method}") { request, context in
            try await self.handle(request, method: context.parameters.get("method") ?? "")
        }
    }

    private func handle(_ request: Request, method: String) async throws -> Response {
        guard let key = self.key else {
            return Self.json(.unauthorized, Self.error(101, "unauthorized: the server API is off; start the server with an API key"))
        }
        guard Self.presentedKey(request).map({ Self.constantTimeEqual($0, key) }) == true else {
            return Self.json(.unauthorized, Self.error(101, "unauthorized: send the API key in 'X-API-Key' or 'Authorization: apikey <key>'"))
        }
        return await Self.respond(to: request, method: method, api: self.api, maxBodySize: self.maxBodySize)
    }

    /// Answer an authorised call of the server API: its JSON body, the method's reply.
    static func respond(to request: Request, method: String, api: HTTPServerAPI, maxBodySize: Int) async -> Response {
        let body: String
        do {
            body = String(buffer: try await request.body.collect(upTo: maxBodySize))
        } catch {
            return Self.json(.contentTooLarge, Self.error(107, "bad request: body larger than \(maxBodySize) bytes"))
        }
        let params: JSONValue
        do {
            params = body.isEmpty ? .object([]) : try JSONValue.parse(body)
        } catch {
            return Self.json(.badRequest, Self.error(107, "bad request: invalid JSON: \(error)"))
        }
        guard let reply = await api.call(method, params) else {
            return Self.json(.notFound, Self.error(104, "method not found: '\(method)'; methods are \(HTTPServerAPI.methods.joined(separator: ", "))"))
        }
        return Self.json(.ok, reply)
    }

    private static func presentedKey(_ request: Request) -> String? {
        if let key = request.headers[HTTPField.Name("X-API-Key")!] { return key }
        guard let authorization = request.headers[.authorization] else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "apikey" else { return nil }
        return String(parts[1])
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func error(_ code: Int, _ message: String) -> JSONValue {
        .object(["error": ProtocolError(code: code, message: message).json])
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.jsonText)))
    }
}
