/// The permessage-deflate extension (RFC 7692) as negotiated at a handshake: which of the client's
/// offers in `Sec-WebSocket-Extensions` the server accepts, and the parameters of the connection.
///
/// The server accepts the first offer it can honour (RFC 7692 §5) and declines any offer with an
/// unknown parameter, a parameter twice, or a value out of range, going on to the next offer. A
/// header that does not parse as RFC 6455's extension list declines the offers it spoils: the
/// handshake still succeeds, uncompressed (§5: "decline" is the answer to a bad offer, never a 400).
///
/// The answer always carries `server_no_context_takeover`, which the server may add to any offer
/// (§7.1.1.1): every message the server sends is compressed on its own, so a broadcast is compressed
/// once and the same bytes go to every subscriber, whatever each connection negotiated.
struct DeflateParameters: Sendable, Equatable {
    /// The client resets its compression context after each message (`client_no_context_takeover`
    /// in the answer), so the server's inflater does too.
    var clientNoContextTakeover = false
    /// The largest LZ77 window (as a power of two, 8...15) the server may use (`server_max_window_bits`).
    var serverMaxWindowBits = 15
    /// Whether the offer named `server_max_window_bits`: the answer must then name it too.
    var serverWindowBitsOffered = false

    /// The `Sec-WebSocket-Extensions` value of the server's answer.
    var responseHeader: String {
        var parts = ["permessage-deflate", "server_no_context_takeover"]
        if self.clientNoContextTakeover { parts.append("client_no_context_takeover") }
        if self.serverWindowBitsOffered { parts.append("server_max_window_bits=\(self.serverMaxWindowBits)") }
        return parts.joined(separator: "; ")
    }

    /// The first acceptable permessage-deflate offer among the values of every
    /// `Sec-WebSocket-Extensions` header of the handshake, or `nil` to go without compression.
    static func negotiate(_ headerValues: [String]) -> DeflateParameters? {
        for value in headerValues {
            for offer in ExtensionOffer.parse(value) where offer.name == "permessage-deflate" {
                if let accepted = Self.accept(offer) { return accepted }
            }
        }
        return nil
    }

    /// The parameters of an answer to `offer`, or `nil` to decline it (RFC 7692 §7.1).
    static func accept(_ offer: ExtensionOffer) -> DeflateParameters? {
        guard offer.isWellFormed else { return nil }
        var parameters = DeflateParameters()
        var seen = Set<String>()
        for (name, value) in offer.parameters {
            guard seen.insert(name).inserted else { return nil }  // §7: a parameter at most once
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return nil }
            case "client_no_context_takeover":
                guard value == nil else { return nil }
                parameters.clientNoContextTakeover = true
            case "server_max_window_bits":
                // §7.1.2.1: a value is required.
                guard let value, let bits = Self.windowBits(value) else { return nil }
                parameters.serverMaxWindowBits = bits
                parameters.serverWindowBitsOffered = true
            case "client_max_window_bits":
                // §7.1.2.2: with or without a value. The server inflates with a 32 KiB window, which
                // reads any smaller one, so it does not name the parameter in its answer.
                if let value, Self.windowBits(value) == nil { return nil }
            default:
                return nil  // §5: an unknown parameter declines the offer
            }
        }
        return parameters
    }

    /// A window-bits value: a decimal integer 8...15 without leading zeros (§7.1.2).
    static func windowBits(_ text: String) -> Int? {
        guard (1...2).contains(text.utf8.count), text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            text.utf8.first != UInt8(ascii: "0"), let bits = Int(text), (8...15).contains(bits)
        else { return nil }
        return bits
    }
}

/// One element of a `Sec-WebSocket-Extensions` list (RFC 6455 §9.1): an extension's name and its
/// parameters, each with a value (a token, or a quoted string, unquoted here) or none.
struct ExtensionOffer: Sendable, Equatable {
    var name: String
    var parameters: [(name: String, value: String?)]
    /// Whether the element parsed: a token name, token parameter names, token or quoted values.
    var isWellFormed: Bool

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.isWellFormed == rhs.isWellFormed && lhs.parameters.elementsEqual(rhs.parameters) { $0 == $1 }
    }

    /// The elements of one header value, split at commas outside quoted strings. An element that
    /// does not parse comes out with `isWellFormed` false (and is declined), never a crash.
    static func parse(_ header: String) -> [ExtensionOffer] {
        Self.split(Array(header.utf8), at: UInt8(ascii: ",")).compactMap { element in
            let pieces = Self.split(element, at: UInt8(ascii: ";")).map(Self.trimmed)
            guard let first = pieces.first, !first.isEmpty || pieces.count > 1 else { return nil }  // empty list elements are allowed
            let name = String(decoding: first, as: UTF8.self).lowercased()
            var wellFormed = Self.isToken(first)
            var parameters: [(name: String, value: String?)] = []
            for piece in pieces.dropFirst() {
                if let equals = piece.firstIndex(of: UInt8(ascii: "=")) {
                    let key = Self.trimmed(Array(piece[..<equals]))
                    let rawValue = Self.trimmed(Array(piece[(equals + 1)...]))
                    let value = Self.value(rawValue)
                    wellFormed = wellFormed && Self.isToken(key) && value != nil
                    parameters.append((String(decoding: key, as: UTF8.self).lowercased(), value))
                } else {
                    wellFormed = wellFormed && Self.isToken(piece)
                    parameters.append((String(decoding: piece, as: UTF8.self).lowercased(), nil))
                }
            }
            return ExtensionOffer(name: name, parameters: parameters, isWellFormed: wellFormed)
        }
    }

    /// A parameter's value: a token, or a quoted string (RFC 7692 §7: its content must then be a
    /// token too once unescaped, which the parameter's own check sees).
    private static func value(_ bytes: [UInt8]) -> String? {
        if Self.isToken(bytes) { return String(decoding: bytes, as: UTF8.self) }
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else { return nil }
        var unescaped: [UInt8] = []
        var escaping = false
        for byte in bytes[1..<(bytes.count - 1)] {
            if escaping {
                unescaped.append(byte)
                escaping = false
            } else if byte == UInt8(ascii: "\\") {
                escaping = true
            } else if byte == UInt8(ascii: "\"") {
                return nil
            } else {
                unescaped.append(byte)
            }
        }
        guard !escaping, Self.isToken(unescaped) else { return nil }
        return String(decoding: unescaped, as: UTF8.self)
    }

    /// Split at `separator` outside double quotes.
    private static func split(_ bytes: [UInt8], at separator: UInt8) -> [[UInt8]] {
        var parts: [[UInt8]] = [[]]
        var quoted = false
        var escaping = false
        for byte in bytes {
            if quoted {
                if escaping {
                    escaping = false
                } else if byte == UInt8(ascii: "\\") {
                    escaping = true
                } else if byte == UInt8(ascii: "\"") {
                    quoted = false
                }
            } else if byte == UInt8(ascii: "\"") {
                quoted = true
            } else if byte == separator {
                parts.append([])
                continue
            }
            parts[parts.count - 1].append(byte)
        }
        return parts
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let start = bytes.firstIndex(where: { !isSpace($0) }), let end = bytes.lastIndex(where: { !isSpace($0) }) else { return [] }
        return Array(bytes[start...end])
    }

    /// RFC 7230 `token`: one or more visible ASCII characters other than the separators.
    private static func isToken(_ bytes: [UInt8]) -> Bool {
        !bytes.isEmpty
            && bytes.allSatisfy { byte in
                byte > 0x20 && byte < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains(byte)
            }
    }
}
