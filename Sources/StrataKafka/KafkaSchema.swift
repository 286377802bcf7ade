/// A range of message versions a field exists in (or is nullable in, or tagged in).
public struct KafkaVersions: Sendable, Hashable {
    public var lowest: Int16
    public var highest: Int16

    public init(_ lowest: Int16, _ highest: Int16) {
        self.lowest = lowest
        self.highest = highest
    }

    /// Every version.
    public static let all = KafkaVersions(0, .max)
    /// `version` and every later one ("3+").
    public static func from(_ version: Int16) -> KafkaVersions { KafkaVersions(version, .max) }
    /// Exactly `version`.
    public static func only(_ version: Int16) -> KafkaVersions { KafkaVersions(version, version) }

    public func contains(_ version: Int16) -> Bool { lowest <= version && version <= highest }
}

/// The wire type of a field. `records` is nullable bytes holding record batches.
public indirect enum KafkaType: Sendable {
    case bool, int8, int16, int32, int64, uint16, uint32, float64, uuid, string, bytes, records
    case array(KafkaType)
    case structure(KafkaStructSchema)
}

/// One field of a message: its name, type, the versions it exists in, and how it is encoded there.
public struct KafkaField: Sendable {
    public var name: String
    public var type: KafkaType
    public var versions: KafkaVersions
    /// Versions in which the wire may say null (strings, bytes, records, arrays, structs).
    public var nullable: KafkaVersions?
    /// The tag of a tagged field (KIP-482) and the versions in which it is tagged; such a field
    /// lives in the tagged-field section at the end of its struct, not in sequence.
    public var tag: (number: Int, versions: KafkaVersions)?
    /// The value a decoder fills in where the field is absent, and the one an encoder leaves out
    /// of the tagged section. Nil means the type's zero (0, false, "", empty array).
    public var defaultValue: KafkaValue?

    public init(
        _ name: String, _ type: KafkaType, _ versions: KafkaVersions = .all, nullable: KafkaVersions? = nil,
        tag: Int? = nil, tagged: KafkaVersions? = nil, default defaultValue: KafkaValue? = nil
    ) {
        self.name = name
        self.type = type
        self.versions = versions
        self.nullable = nullable
        self.tag = tag.map { ($0, tagged ?? versions) }
        self.defaultValue = defaultValue
    }

    func isNullable(_ version: Int16) -> Bool { nullable?.contains(version) ?? false }

    func isTagged(_ version: Int16, flexible: Bool) -> Bool {
        guard flexible, let tag else { return false }
        return tag.versions.contains(version)
    }

    /// The default, or the zero of the type.
    public var resolvedDefault: KafkaValue { defaultValue ?? type.zero }
}

/// An ordered list of fields: a message body or a nested struct.
public struct KafkaStructSchema: Sendable {
    public var name: String
    public var fields: [KafkaField]

    public init(_ name: String, _ fields: [KafkaField]) {
        self.name = name
        self.fields = fields
    }

    /// A struct holding every field's default.
    public var defaults: KafkaStruct {
        var value = KafkaStruct()
        for field in fields { value.fields[field.name] = field.resolvedDefault }
        return value
    }

    /// Fewest bytes one encoded instance can take; bounds array counts before allocation.
    func bytesMin(_ version: Int16, flexible: Bool) -> Int {
        var total = flexible ? 1 : 0
        for field in fields where field.versions.contains(version) && !field.isTagged(version, flexible: flexible) {
            total += field.type.bytesMin(version, flexible: flexible)
        }
        return total
    }
}

extension KafkaType {
    /// The value of a field left unset.
    public var zero: KafkaValue {
        switch self {
        case .bool: return .bool(false)
        case .int8, .int16, .int32, .int64, .uint16, .uint32: return .int(0)
        case .float64: return .float(0)
        case .uuid: return .uuid(.zero)
        case .string: return .string("")
        case .bytes: return .bytes([])
        case .records: return .bytes(nil)
        case .array: return .array([])
        case .structure(let schema): return .structure(schema.defaults)
        }
    }

    func bytesMin(_ version: Int16, flexible: Bool) -> Int {
        switch self {
        case .bool, .int8: return 1
        case .int16, .uint16: return 2
        case .int32, .uint32: return 4
        case .int64, .float64: return 8
        case .uuid: return 16
        case .string: return flexible ? 1 : 2
        case .bytes, .records, .array: return flexible ? 1 : 4
        case .structure(let schema): return schema.bytesMin(version, flexible: flexible)
        }
    }
}
