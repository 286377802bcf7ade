/// A decoded field value. Integers of every width are `.int`; the encoder checks each fits its
/// field's width. `records` fields are `.bytes`.
public indirect enum KafkaValue: Sendable, Hashable {
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case uuid(KafkaUUID)
    case string(String?)
    case bytes([UInt8]?)
    case array([KafkaValue]?)
    case structure(KafkaStruct)
}

/// A tagged field this codec does not know, kept as raw bytes (never re-encoded).
public struct KafkaTaggedField: Sendable, Hashable {
    public var tag: Int
    public var bytes: [UInt8]
}

/// The fields of one message body or nested struct, by name. A decoded struct holds every field
/// of its schema: those absent at the decoded version carry their defaults.
public struct KafkaStruct: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public var fields: [String: KafkaValue]
    /// Tagged fields whose tags the schema does not know (read and skipped; written as none).
    public var unknownTaggedFields: [KafkaTaggedField] = []

    public init(_ fields: [String: KafkaValue] = [:]) {
        self.fields = fields
    }

    public init(dictionaryLiteral elements: (String, KafkaValue)...) {
        fields = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }

    public subscript(name: String) -> KafkaValue? {
        get { fields[name] }
        set { fields[name] = newValue }
    }

    private func value(_ name: String) throws(KafkaDecodeError) -> KafkaValue {
        guard let value = fields[name] else {
            throw KafkaDecodeError(.missingField, field: name, position: 0, "the struct has no field \(name)")
        }
        return value
    }

    private func mismatch(_ name: String, _ expected: String) -> KafkaDecodeError {
        KafkaDecodeError(.missingField, field: name, position: 0, "field \(name) is not \(expected)")
    }

    /// An integer field of any width.
    public func int(_ name: String) throws(KafkaDecodeError) -> Int64 {
        guard case .int(let v) = try value(name) else { throw mismatch(name, "an integer") }
        return v
    }

    public func int8(_ name: String) throws(KafkaDecodeError) -> Int8 { Int8(truncatingIfNeeded: try int(name)) }
    public func int16(_ name: String) throws(KafkaDecodeError) -> Int16 { Int16(truncatingIfNeeded: try int(name)) }
    public func int32(_ name: String) throws(KafkaDecodeError) -> Int32 { Int32(truncatingIfNeeded: try int(name)) }

    public func bool(_ name: String) throws(KafkaDecodeError) -> Bool {
        guard case .bool(let v) = try value(name) else { throw mismatch(name, "a boolean") }
        return v
    }

    public func uuid(_ name: String) throws(KafkaDecodeError) -> KafkaUUID {
        guard case .uuid(let v) = try value(name) else { throw mismatch(name, "a uuid") }
        return v
    }

    /// A string field; nil when null.
    public func string(_ name: String) throws(KafkaDecodeError) -> String? {
        guard case .string(let v) = try value(name) else { throw mismatch(name, "a string") }
        return v
    }

    /// A bytes or records field; nil when null.
    public func bytes(_ name: String) throws(KafkaDecodeError) -> [UInt8]? {
        guard case .bytes(let v) = try value(name) else { throw mismatch(name, "bytes") }
        return v
    }

    /// An array of structs; nil when null.
    public func structs(_ name: String) throws(KafkaDecodeError) -> [KafkaStruct]? {
        guard case .array(let elements) = try value(name) else { throw mismatch(name, "an array") }
        guard let elements else { return nil }
        var result: [KafkaStruct] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard case .structure(let s) = element else { throw mismatch(name, "an array of structs") }
            result.append(s)
        }
        return result
    }

    /// A nested struct field.
    public func structure(_ name: String) throws(KafkaDecodeError) -> KafkaStruct {
        guard case .structure(let v) = try value(name) else { throw mismatch(name, "a struct") }
        return v
    }

    /// An array of integers; nil when null.
    public func ints(_ name: String) throws(KafkaDecodeError) -> [Int64]? {
        guard case .array(let elements) = try value(name) else { throw mismatch(name, "an array") }
        guard let elements else { return nil }
        var result: [Int64] = []
        for element in elements {
            guard case .int(let v) = element else { throw mismatch(name, "an array of integers") }
            result.append(v)
        }
        return result
    }

    /// An array of strings; nil when the array is null. Null elements are nil.
    public func strings(_ name: String) throws(KafkaDecodeError) -> [String?]? {
        guard case .array(let elements) = try value(name) else { throw mismatch(name, "an array") }
        guard let elements else { return nil }
        var result: [String?] = []
        for element in elements {
            guard case .string(let v) = element else { throw mismatch(name, "an array of strings") }
            result.append(v)
        }
        return result
    }
}

extension KafkaValue {
    /// An array of structs.
    public static func structs(_ elements: [KafkaStruct]) -> KafkaValue { .array(elements.map { .structure($0) }) }
    /// An array of integers.
    public static func ints<T: BinaryInteger>(_ elements: [T]) -> KafkaValue {
        .array(elements.map { .int(Int64(truncatingIfNeeded: $0)) })
    }
    /// An array of non-null strings.
    public static func strings(_ elements: [String]) -> KafkaValue { .array(elements.map { .string($0) }) }
}
