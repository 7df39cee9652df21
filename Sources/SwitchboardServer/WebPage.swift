import Foundation
import Hummingbird

/// The web pages and their assets, decoded once at start-up from the copy of `Public/` compiled
/// into the binary (``EmbeddedPages``, written by `scripts/embed-pages.sh`), so a copied binary
/// serves them with nothing beside it: every file at `/static/<path>`, and each `<page>.html` also
/// at `/<page>` (`index.html` at `/`).
struct WebPage: Sendable {
    struct Asset: Sendable {
        let contentType: String
        let body: ByteBuffer
    }

    /// The browser client of the protocol (`Client`, `Subscription`), an ES module.
    static let clientLibrary = "/static/switchboard.js"

    /// Path served to asset.
    let assets: [String: Asset]

    /// Decode every embedded file of `Public/`.
    ///
    /// - Throws: ``WebPageError`` when a file does not decode or `index.html` is missing, which
    ///   means a broken `Generated/EmbeddedPages.swift` (rerun `scripts/embed-pages.sh`).
    static func load() throws -> WebPage {
        try self.load(files: EmbeddedPages.files)
    }

    /// Decode `files` (path relative to `Public/` to base64 contents).
    static func load(files: [String: String]) throws -> WebPage {
        var assets: [String: Asset] = [:]
        for (name, encoded) in files {
            guard let data = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
                throw WebPageError(message: "the embedded web page file \(name) is not valid base64; rerun scripts/embed-pages.sh")
            }
            let asset = Asset(contentType: Self.contentType(of: name), body: ByteBuffer(bytes: data))
            assets["/static/" + name] = asset
            if name.hasSuffix(".html") {
                let page = String(name.dropLast(".html".count))
                assets[page == "index" ? "/" : "/" + page] = asset
            }
        }
        guard assets["/"] != nil else {
            throw WebPageError(message: "Public/index.html is missing from the embedded web pages; rerun scripts/embed-pages.sh")
        }
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
        case "png": "image/png"
        case "json": "application/json"
        case "txt": "text/plain; charset=utf-8"
        case "woff2": "font/woff2"
        case "webmanifest": "application/manifest+json"
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
