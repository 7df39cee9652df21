import Foundation
import Hummingbird

/// The web pages and their assets, read once from the module's `Public` resources at start-up:
/// every file at `/static/<name>`, and each `<page>.html` also at `/<page>` (`index.html` at `/`).
struct WebPage: Sendable {
    struct Asset: Sendable {
        let contentType: String
        let body: ByteBuffer
    }

    /// The browser client of the protocol (`Client`, `Subscription`), an ES module.
    static let clientLibrary = "/static/switchboard.js"

    /// Path served to asset.
    let assets: [String: Asset]

    /// Load every file of the `Public` resource folder.
    ///
    /// - Throws: ``WebPageError`` when the resources are missing, which means a broken install.
    static func load() throws -> WebPage {
        guard let folder = Bundle.module.url(forResource: "Public", withExtension: nil) else {
            throw WebPageError(message: "the web page's resources (Public/) are missing from the SwitchboardServer bundle")
        }
        var assets: [String: Asset] = [:]
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        for name in names {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            let asset = Asset(contentType: Self.contentType(of: name), body: ByteBuffer(bytes: data))
            assets["/static/" + name] = asset
            if name.hasSuffix(".html") {
                let page = String(name.dropLast(".html".count))
                assets[page == "index" ? "/" : "/" + page] = asset
            }
        }
        guard assets["/"] != nil else { throw WebPageError(message: "Public/index.html is missing from the SwitchboardServer bundle") }
        return WebPage(assets: assets)
    }

    /// The admin page and its assets (`admin.*`), served only when the admin page is on.
    static func isAdminAsset(_ path: String) -> Bool {
        path == "/admin" || path.hasPrefix("/static/admin.")
    }

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "ico": "image/x-icon"
        default: "application/octet-stream"
        }
    }

    /// Serve every asset on `router`. The pages refer to their assets and endpoints by relative URLs,
    /// so they work under any prefix; a router group's root page (`/realtime`) redirects to its
    /// address with a slash (`/realtime/`), where those URLs resolve under the prefix.
    ///
    /// - Parameters:
    ///   - pages: Serve the pages and all their assets; otherwise only the client library
    ///     ``clientLibrary``, which an application's own page may use.
    ///   - admin: Serve the admin page (`/admin`) and its assets (``isAdminAsset(_:)``).
    func addRoutes<Context: RequestContext>(to router: some RouterMethods<Context>, underPrefix: Bool, pages: Bool = true, admin: Bool = false) {
        for (path, asset) in self.assets where Self.isAdminAsset(path) ? admin : (pages || path == Self.clientLibrary) {
            router.get(RouterPath(path)) { request, _ in
                if underPrefix, path == "/", !request.uri.path.hasSuffix("/") {
                    let query = request.uri.query.map { "?" + $0 } ?? ""
                    return Response(status: .permanentRedirect, headers: [.location: request.uri.path + "/" + query])
                }
                return Response(
                    status: .ok,
                    headers: [.contentType: asset.contentType, .cacheControl: "no-cache"],
                    body: .init(byteBuffer: asset.body)
                )
            }
        }
    }
}

struct WebPageError: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}
