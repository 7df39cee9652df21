/// Typed access to a command's parameters (a client command's or a server API call's), with errors
/// that name the parameter.
///
/// Both protocols come from protobuf definitions, so reading follows protobuf's JSON mapping: `null`
/// is the same as an absent field, and 64-bit integers may be written as strings (`"offset":"12"`).
public struct Parameters: Sendable {
    /// The parameters object as received.
    public let json: JSONValue

    /// The parameters of this object.
    public init(_ json: JSONValue) {
        self.json = json
    }

    /// The value of `key`, or `nil` when it is absent or `null`.
    public subscript(key: String) -> JSONValue? {
        guard let value = self.json[key], value != .null else { return nil }
        return value
    }

    /// A string, or `nil` if absent.
    public func string(_ key: String) throws(ProtocolError) -> String? {
        guard let value = self[key] else { return nil }
        guard let string = value.stringValue else { throw .badRequest("'\(key)' must be a string") }
        return string
    }

    /// A string that must be present (and not empty unless `allowEmpty`).
    public func requiredString(_ key: String, allowEmpty: Bool = false) throws(ProtocolError) -> String {
        guard let value = try self.string(key), allowEmpty || !value.isEmpty else { throw .badRequest("'\(key)' is required (a string)") }
        return value
    }

    /// A boolean (absent is `false`).
    public func bool(_ key: String) throws(ProtocolError) -> Bool {
        guard let value = self[key] else { return false }
        guard let bool = value.boolValue else { throw .badRequest("'\(key)' must be true or false") }
        return bool
    }

    /// An integer, or `nil` if absent.
    public func integer<T: FixedWidthInteger>(_ key: String, as type: T.Type = Int.self) throws(ProtocolError) -> T? {
        guard let value = self[key] else { return nil }
        return try value.protobufInteger(T.self, name: key)
    }

    /// A stream position `{"offset":…,"epoch":…}`, or `nil` if absent.
    public func position(_ key: String) throws(ProtocolError) -> StreamPosition? {
        guard let value = self[key] else { return nil }
        return try StreamPosition(json: value, field: key)
    }
}

extension StreamPosition {
    /// A `{"offset":…,"epoch":…}` object; a missing offset is 0, a missing epoch "".
    ///
    /// - Parameter field: The parameter's name, for errors.
    public init(json value: JSONValue, field: String) throws(ProtocolError) {
        guard value.members != nil else { throw .badRequest("'\(field)' must be an object with 'offset' and 'epoch'") }
        let parameters = Parameters(value)
        let offset = try parameters["offset"].map { raw throws(ProtocolError) in try raw.protobufInteger(UInt64.self, name: "\(field).offset") } ?? 0
        guard let epoch = parameters["epoch"].map({ $0.stringValue }) ?? "" else { throw .badRequest("'\(field).epoch' must be a string") }
        self.init(offset: offset, epoch: epoch)
    }
}

extension JSONValue {
    /// An integer written as a JSON number or, as protobuf's JSON mapping allows, as a string.
    fileprivate func protobufInteger<T: FixedWidthInteger>(_ type: T.Type, name: String) throws(ProtocolError) -> T {
        if let text = self.stringValue, let parsed = T(text) { return parsed }
        guard let parsed = self.integerValue(T.self) else { throw .badRequest("'\(name)' must be an integer") }
        return parsed
    }
}
