import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Switchboard
import SwitchboardServer

/// A Hummingbird application with Switchboard mounted in it (docs/EMBEDDING.md walks through it):
///
/// * its own routes: `GET /` (a page with a login form and a chat), `POST /login`, `POST /logout`,
///   `POST /announce` (publishes into `news:announcements` from the route handler), and a
///   WebSocket of its own, `/app/echo`;
/// * Switchboard under `/realtime` on the same port: `/realtime/connection/websocket` for the
///   Centrifugo SDKs, whose connections are authenticated by the app's session cookie (AppHooks.swift).
@main
struct EmbeddedApp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-example",
        abstract: "A Hummingbird app with its own login, routes and WebSocket, and Switchboard mounted under /realtime."
    )

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind.")
    var port = 8080

    func run() async throws {
        let (host, port) = (self.host, self.port)
        let logger = Logger(label: "example")
        let sessions = Sessions()

        // Switchboard, configured in code: under /realtime, no tutorial pages, two namespaces.
        var rooms = ChannelOptions()  // a chat: clients subscribe (if the subscribe hook lets them) and publish
        rooms.presence = true
        rooms.joinLeave = true
        rooms.historySize = 50
        rooms.historyTTL = .seconds(600)
        rooms.allowPublishForSubscriber = true
        rooms.allowPresenceForSubscriber = true
        rooms.allowHistoryForSubscriber = true
        var news = ChannelOptions()  // read-only for clients: only the app publishes
        news.historySize = 10
        news.historyTTL = .seconds(3600)
        news.allowSubscribeForClient = true
        var realtime = SwitchboardConfiguration.mounted(at: "/realtime")  // no tutorial endpoints, no /echo
        realtime.channels = ChannelConfiguration(namespaces: ["rooms": rooms, "news": news])
        let switchboard = try await SwitchboardServer(
            configuration: realtime,
            logger: logger,
            hooks: makeHooks(sessions: sessions, logger: logger)
        )

        // The app's own routes, then Switchboard's (/realtime/health, /realtime/connection/uni_sse…).
        let router = Router()
        router.get("/") { request, _ -> Response in
            let user = await sessions.user(request.cookies["session"]?.value)
            return Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Page.html(user: user)))
            )
        }
        router.post("/login") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 4096)
            let form = try URLEncodedFormDecoder().decode(LoginForm.self, from: String(buffer: body))
            let name = form.name.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.count <= 32 else { throw HTTPError(.badRequest, message: "a name of 1 to 32 characters") }
            var response = Response.redirect(to: "/", type: .normal)
            response.setCookie(Cookie(name: "session", value: await sessions.create(for: name), path: "/", httpOnly: true, sameSite: .lax))
            return response
        }
        router.post("/logout") { request, _ -> Response in
            if let name = await sessions.remove(request.cookies["session"]?.value) {
                // The user's open connections end too (4501: the SDKs do not reconnect).
                try? switchboard.api.disconnect(user: name, reason: CloseReason(code: 4501, reason: "logged out"))
            }
            var response = Response.redirect(to: "/", type: .normal)
            response.setCookie(Cookie(name: "session", value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .lax))
            return response
        }
        router.post("/announce") { request, context -> Announced in
            guard let name = await sessions.user(request.cookies["session"]?.value) else { throw HTTPError(.unauthorized) }
            let form = try await request.decode(as: AnnounceForm.self, context: context)  // JSON: {"text": "…"}
            do throws(ProtocolError) {
                let published = try await switchboard.api.publish(Announcement(text: form.text, from: name), to: "news:announcements")
                return Announced(offset: published.offset)
            } catch {
                throw HTTPError(.serviceUnavailable, message: error.message)
            }
        }
        switchboard.addRoutes(to: router)

        // The app's own WebSocket route, with HummingbirdWebSocket, on the same port.
        let wsRouter = Router(context: BasicWebSocketRequestContext.self)
        wsRouter.ws("/app/echo") { inbound, outbound, _ in
            for try await message in inbound.messages(maxSize: 1 << 16) {
                if case .text(let text) = message { try await outbound.write(.text("echo: " + text)) }
            }
        }
        let wsResponder = wsRouter.buildResponder()

        let app = Application(
            router: router,
            // Switchboard's WebSocket endpoints, next to the app's own WebSocket upgrades.
            server: .switchboard(switchboard) { responder in
                HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: wsResponder, configuration: .init())
            },
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                await SwitchboardServer.serverRunning(channel, logger: logger)
                logger.info("Listening", metadata: ["url": "http://\(host):\(channel.localAddress?.port ?? 0)/"])
            },
            logger: logger
        )
        // The app first, Switchboard after it: services stop in reverse order, so on SIGTERM or
        // SIGINT Switchboard's connections are closed with their shutdown code (3001 on the protocol
        // endpoint) before the HTTP server stops.
        let services = ServiceGroup(
            configuration: .init(services: [app, switchboard], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await services.run()
    }
}

struct LoginForm: Decodable {
    let name: String
}

struct AnnounceForm: Decodable {
    let text: String
}

/// What `POST /announce` publishes: any `Encodable` goes out as JSON.
struct Announcement: Encodable {
    let text: String
    let from: String
}

/// What `POST /announce` answers: the publication's offset in the channel's history.
struct Announced: ResponseEncodable {
    let offset: UInt64?
}
