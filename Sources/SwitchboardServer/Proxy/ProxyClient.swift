import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Switchboard

/// Why a proxy request got no usable answer: the backend is down, slow, answered with a status other
/// than 200, or with something that is not Centrifugo's response JSON. The client gets error 100
/// (temporary); the description (proxy, endpoint and cause) goes into the server's log.
public struct ProxyFailure: Error, CustomStringConvertible, Sendable {
    public let proxy: String
    public let endpoint: String
    public let cause: String

    public var description: String { "proxy '\(self.proxy)' (\(self.endpoint)): \(self.cause)" }
}

/// POSTs events to the backend: one `HTTPClient` shared by every proxy.
///
/// The owner shuts it down (``shutdown()``) after the server has stopped.
public final class ProxyClient: Sendable {
    let http: HTTPClient
    /// Largest response body read from a backend.
    let maxResponseBytes: Int

    public init(maxResponseBytes: Int = 16 << 20) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5))
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.maxResponseBytes = maxResponseBytes
    }

    /// Close the client's connections. Call once, when no proxy request is made any more.
    public func shutdown() async throws {
        try await self.http.shutdown()
    }

    /// POST `body` to the proxy's endpoint, with the client's headers the proxy forwards, and return
    /// the answer's JSON object.
    ///
    /// - Throws: ``ProxyFailure`` when the backend cannot be reached, takes longer than the proxy's
    ///   timeout, answers with a status other than 200 or with anything but a JSON object.
    func post(_ body: JSONValue, to proxy: ProxyEndpoint, request: ConnectionRequest?) async throws(ProxyFailure) -> JSONValue {
        func failure(_ cause: String) -> ProxyFailure { ProxyFailure(proxy: proxy.name, endpoint: proxy.endpoint, cause: cause) }
        var http = HTTPClientRequest(url: proxy.endpoint)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "Accept", value: "application/json")
        if let request {
            for name in proxy.httpHeaders {
                for value in request.values(name) { http.headers.add(name: name, value: value) }
            }
        }
        http.body = .bytes(ByteBuffer(string: body.jsonText))
        let deadline = NIODeadline.now() + TimeAmount.nanoseconds(Int64(proxy.timeout.nanoseconds))
        let text: String
        do {
            let response = try await self.http.execute(http, deadline: deadline)
            guard response.status == .ok else {
                throw failure("the backend answered with HTTP status \(response.status.code)")
            }
            let bytes = try await response.body.collect(upTo: self.maxResponseBytes)
            text = String(buffer: bytes)
        } catch let error as ProxyFailure {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw failure("no answer within \(proxy.timeout) (timeout)")
        } catch is NIOTooManyBytesError {
            throw failure("the backend's answer is larger than \(self.maxResponseBytes) bytes")
        } catch is CancellationError {
            throw failure("cancelled")
        } catch {
            // The pool retries a failed connection until the deadline, then reports the last failure.
            let retried = NIODeadline.now() >= deadline ? " (retried until the \(proxy.timeout) timeout)" : ""
            throw failure("the backend is unreachable: \(error)\(retried)")
        }
        guard let json = try? JSONValue.parse(text), json.members != nil else {
            throw failure("the backend's answer is not a JSON object: \(text.prefix(120).debugDescription)")
        }
        return json
    }
}

extension Duration {
    /// The whole duration in nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
