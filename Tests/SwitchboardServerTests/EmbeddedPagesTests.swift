import Foundation
import Testing

@testable import SwitchboardServer

/// The web pages are compiled into the binary from `Sources/SwitchboardServer/Generated/EmbeddedPages.swift`,
/// which `scripts/embed-pages.sh` writes from `Public/`. These tests fail while the committed file
/// is stale, so an edit to `Public/` cannot ship without it.
@Suite struct EmbeddedPagesTests {
    static let fix = "run scripts/embed-pages.sh and commit Sources/SwitchboardServer/Generated/EmbeddedPages.swift"

    /// `Sources/SwitchboardServer/Public` of this checkout, found from this file's path.
    static let publicFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/SwitchboardServer/Public")

    /// Every file under `Public/` (hidden ones excepted, as the script does), by relative path.
    static func publicFiles() throws -> [String: Data] {
        var files: [String: Data] = [:]
        let root = Self.publicFolder.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw TestFailure("cannot list \(root)")
        }
        while let relative = walker.nextObject() as? String {
            if relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isFolder: ObjCBool = false
            let path = root + "/" + relative
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            files[relative] = try Data(contentsOf: URL(fileURLWithPath: path))
        }
        return files
    }

    @Test func generatedFileMatchesPublicFolder() throws {
        let onDisk = try Self.publicFiles()
        #expect(onDisk["index.html"] != nil, "no Public/index.html under \(Self.publicFolder.path)")
        let embedded = EmbeddedPages.files
        let missing = Set(onDisk.keys).subtracting(embedded.keys).sorted()
        let removed = Set(embedded.keys).subtracting(onDisk.keys).sorted()
        #expect(missing.isEmpty, "Public/ has files the binary does not embed: \(missing); \(Self.fix)")
        #expect(removed.isEmpty, "the binary embeds files Public/ no longer has: \(removed); \(Self.fix)")
        for (name, data) in onDisk.sorted(by: { $0.key < $1.key }) {
            guard let encoded = embedded[name] else { continue }
            let decoded = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters)
            #expect(decoded == data, "Public/\(name) differs from its embedded copy; \(Self.fix)")
        }
    }

    @Test func everyPublicFileIsServedWithItsBytes() async throws {
        let onDisk = try Self.publicFiles()
        // With the admin page on, so its files are served too.
        try await withServer({
            $0.adminPassword = "password"
            $0.adminSecret = "a secret of at least thirty-two bytes"
        }) { server in
            for (name, data) in onDisk.sorted(by: { $0.key < $1.key }) {
                let response = try await rawHTTP(port: server.port, path: "/static/" + name)
                #expect(response.status == 200, "/static/\(name)")
                #expect(response.headers["content-type"] == WebPage.contentType(of: name), "/static/\(name)")
                #expect(response.body == String(decoding: data, as: UTF8.self), "/static/\(name); \(Self.fix)")
            }
            let page = try await rawHTTP(port: server.port, path: "/")
            #expect(page.status == 200)
            #expect(page.body == String(decoding: onDisk["index.html"] ?? Data(), as: UTF8.self))
        }
    }

    @Test func brokenTablesAreClearErrors() throws {
        #expect(throws: WebPageError.self) { try WebPage.load(files: ["index.html": "abcde"]) }
        #expect(throws: WebPageError.self) { try WebPage.load(files: ["app.js": "YQ=="]) }
        let page = try WebPage.load(files: ["index.html": "PGgxPg==", "sub/about.html": "YQ==", "img/x.svg": "PHN2Zy8+"])
        #expect(Set(page.assets.keys) == ["/", "/static/index.html", "/sub/about", "/static/sub/about.html", "/static/img/x.svg"])
        #expect(page.assets["/static/img/x.svg"]?.contentType == "image/svg+xml")
    }
}
