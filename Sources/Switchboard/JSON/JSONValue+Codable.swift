#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension JSONValue {
    /// An `Encodable` value as JSON (object keys sorted, so the same value always gives the same
    /// text): for hook answers and publications made from the application's own types.
    ///
    /// - Throws: ``ProtocolError/badRequest(_:)`` (107) when the value cannot be encoded (a
    ///   non-finite number, say).
    public init(encoding value: some Encodable) throws(ProtocolError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text: String
        do {
            text = String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw .badRequest("the value could not be encoded as JSON: \(error)")
        }
        do throws(JSONText.SyntaxError) {
            self = try JSONValue.parse(text)
        } catch {
            throw .badRequest("the value could not be encoded as JSON: \(error)")
        }
    }

    /// This JSON as a `Decodable` value (a hook event's `data` as the application's own type).
    ///
    /// - Throws: ``ProtocolError/badRequest(_:)`` (107) saying why it does not decode.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws(ProtocolError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(self.jsonText.utf8))
        } catch {
            throw .badRequest("data does not decode as \(T.self): \(error)")
        }
    }
}
