import HTTPTypes
import Hummingbird

/// CORS for the HTTP routes, driven by the same ``OriginPolicy`` as the WebSocket handshake.
///
/// An allowed cross-origin request gets `Access-Control-Allow-Origin` naming its origin; a preflight
/// (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin gets 204 with the allowed
/// methods and headers, and from a disallowed one 403.
struct CORSPolicyMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: OriginPolicy
    let maxAge = "600"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origins = request.headers[values: .origin]
        guard origins.count == 1, let origin = origins.first else {
            // No Origin: not a cross-origin browser request. Several: ambiguous, so no CORS grant.
            return try await next(request, context)
        }
        let allowed = self.policy.allows(origin: origin, host: request.head.authority)
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            guard allowed else {
                return Response(status: .forbidden, headers: [.vary: "Origin"], body: .init(byteBuffer: .init(string: "origin not allowed\n")))
            }
            var headers: HTTPFields = [
                .accessControlAllowOrigin: origin,
                .accessControlAllowMethods: "GET, POST, OPTIONS",
                .accessControlMaxAge: self.maxAge,
                .vary: "Origin",
            ]
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "Content-Type"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        // The response depends on Origin either way, so caches must key on it.
        response.headers.append(.init(name: .vary, value: "Origin"))
        if allowed { response.headers[.accessControlAllowOrigin] = origin }
        return response
    }
}
