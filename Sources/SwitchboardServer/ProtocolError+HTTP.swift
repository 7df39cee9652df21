public import HTTPTypes
public import Hummingbird
public import Switchboard

/// A ``ProtocolError`` thrown out of an application's route handler (a failed
/// `switchboard.api.publish`, say) answers with a fitting HTTP status and the server API's JSON
/// body, `{"error":{"code":…,"message":…}}`, instead of a bare 500.
extension ProtocolError: HTTPResponseError {
    /// 100 → 503 when temporary (500 otherwise), 101/109 → 401, 102/104 → 404, 103 → 403,
    /// 105/112 → 409, 106 → 429, 107 → 400, 108 → 501.
    public var status: HTTPResponse.Status {
        switch self.code {
        case 100: self.temporary ? .serviceUnavailable : .internalServerError
        case 101, 109: .unauthorized
        case 102, 104: .notFound
        case 103: .forbidden
        case 105, 112: .conflict
        case 106: .tooManyRequests
        case 107: .badRequest
        case 108: .notImplemented
        default: .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(
            status: self.status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(["error": self.json]).jsonText))
        )
    }
}
