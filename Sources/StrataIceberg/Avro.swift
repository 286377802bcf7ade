/// An Avro schema: the types Iceberg manifests and manifest lists use (Avro 1.11 specification).
///
/// Iceberg's annotations ride along: `field-id` on record fields, `element-id` on arrays, and
/// `logicalType` (`date` on an int, `map` on an array of key/value records: Iceberg writes maps
/// whose keys are not strings that way).
public indirect enum AvroSchema: Sendable, Equatable {
    case null
    case boolean
    case int
    case long
    case bytes
    case string
    case fixed(name: String, size: Int)
    /// An array; `elementId` is Iceberg's list element id, `logicalType` `map` for a key/value array.
    case array(AvroSchema, elementId: Int32? = nil, logicalType: String? = nil)
    /// An Avro map: string keys, values of one schema.
    case map(AvroSchema)
    /// A union; Iceberg uses `["null", T]` for optional fields.
    case union([AvroSchema])
    case record(name: String, fields: [AvroField])
    /// A primitive with a logical type (`{"type": "int", "logicalType": "date"}`); encoded as the primitive.
    case logical(String, AvroSchema)

    /// `["null", schema]`: an optional Iceberg field.
    public static func optional(_ schema: AvroSchema) -> AvroSchema { .union([.null, schema]) }

    /// The primitive's type name, for primitives.
    var primitiveName: String? {
        switch self {
        case .null: return "null"
        case .boolean: return "boolean"
        case .int: return "int"
        case .long: return "long"
        case .bytes: return "bytes"
        case .string: return "string"
        default: return nil
        }
    }

    /// The schema as Avro schema JSON.
    public var json: JSONValue {
        switch self {
        case .null, .boolean, .int, .long, .bytes, .string: return .string(primitiveName!)
        case .fixed(let name, let size):
            return .object([("type", .string("fixed")), ("name", .string(name)), ("size", .int(Int64(size)))])
        case .array(let items, let elementId, let logicalType):
            var members: [(String, JSONValue)] = [("type", .string("array"))]
            if let logicalType { members.append(("logicalType", .string(logicalType))) }
            members.append(("items", items.json))
            if let elementId { members.append(("element-id", .int(Int64(elementId)))) }
            return .object(members)
        case .map(let values): return .object([("type", .string("map")), ("values", values.json)])
        case .union(let branches): return .array(branches.map(\.json))
        case .record(let name, let fields):
            return .object([
                ("type", .string("record")), ("name", .string(name)), ("fields", .array(fields.map(\.json))),
            ])
        case .logical(let logicalType, let base):
            return .object([("type", base.json), ("logicalType", .string(logicalType))])
        }
    }
}

/// A field of an Avro record.
public struct AvroField: Sendable, Equatable {
    public var name: String
    public var type: AvroSchema
    /// Iceberg's field id (`field-id` in the schema JSON).
    public var fieldId: Int32?
    /// Writes `"default": null` (optional fields, so readers of older files can fill them in).
    public var defaultNull: Bool

    public init(_ name: String, _ type: AvroSchema, fieldId: Int32? = nil, defaultNull: Bool? = nil) {
        self.name = name
        self.type = type
        self.fieldId = fieldId
        if let defaultNull {
            self.defaultNull = defaultNull
        } else if case .union(let branches) = type, branches.first == .null {
            self.defaultNull = true
        } else {
            self.defaultNull = false
        }
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(name)), ("type", type.json)]
        if defaultNull { members.append(("default", .null)) }
        if let fieldId { members.append(("field-id", .int(Int64(fieldId)))) }
        return .object(members)
    }
}

/// A value of an `AvroSchema`.
public indirect enum AvroValue: Sendable, Equatable {
    case null
    case boolean(Bool)
    case int(Int32)
    case long(Int64)
    case bytes([UInt8])
    case string(String)
    case fixed([UInt8])
    case array([AvroValue])
    case map([AvroMapEntry])
    /// The branch index and the branch's value.
    case union(Int, AvroValue)
    /// Field values in the schema's field order.
    case record([AvroValue])

    /// An optional field's value: branch 0 (null) or branch 1.
    public static func optional(_ value: AvroValue?) -> AvroValue {
        value.map { .union(1, $0) } ?? .union(0, .null)
    }
}

/// One entry of an Avro map, in written order.
public struct AvroMapEntry: Sendable, Equatable {
    public var key: String
    public var value: AvroValue

    public init(_ key: String, _ value: AvroValue) {
        self.key = key
        self.value = value
    }
}

/// Avro binary encoding: ints and longs as zigzag varints, bytes and strings length-prefixed,
/// arrays and maps in one block (count, items, then the 0 end marker), unions as the branch index
/// then the value, records as their fields in order.
public struct AvroWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func writeLong(_ value: Int64) {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func writeBytes(_ value: [UInt8]) {
        writeLong(Int64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ value: String) { writeBytes(Array(value.utf8)) }

    public mutating func writeRaw(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    /// Writes `value` as `schema`.
    /// - Throws: `IcebergError(.invalidArgument)` naming the field path when the value does not
    ///   match the schema (then the writer's bytes are left as they were).
    public mutating func write(_ value: AvroValue, as schema: AvroSchema, field: String = "value") throws(IcebergError)
    {
        var scratch = AvroWriter()
        try scratch.append(value, as: schema, field: field)
        bytes.append(contentsOf: scratch.bytes)
    }

    mutating func append(_ value: AvroValue, as schema: AvroSchema, field: String) throws(IcebergError) {
        func mismatch() -> IcebergError {
            IcebergError(
                .invalidArgument, field: field, position: 0,
                "value \(value) does not match schema \(schema.json.compact)")
        }
        switch (schema, value) {
        case (.logical(_, let base), _): try append(value, as: base, field: field)
        case (.null, .null): break
        case (.boolean, .boolean(let b)): bytes.append(b ? 1 : 0)
        case (.int, .int(let i)): writeLong(Int64(i))
        case (.long, .long(let l)): writeLong(l)
        case (.bytes, .bytes(let b)): writeBytes(b)
        case (.string, .string(let s)): writeString(s)
        case (.fixed(_, let size), .fixed(let b)):
            guard b.count == size else { throw mismatch() }
            bytes.append(contentsOf: b)
        case (.array(let items, _, _), .array(let values)):
            if !values.isEmpty {
                writeLong(Int64(values.count))
                for (i, item) in values.enumerated() { try append(item, as: items, field: "\(field)[\(i)]") }
            }
            writeLong(0)
        case (.map(let valueSchema), .map(let entries)):
            if !entries.isEmpty {
                writeLong(Int64(entries.count))
                for entry in entries {
                    writeString(entry.key)
                    try append(entry.value, as: valueSchema, field: "\(field)[\(entry.key)]")
                }
            }
            writeLong(0)
        case (.union(let branches), .union(let index, let inner)):
            guard branches.indices.contains(index) else { throw mismatch() }
            writeLong(Int64(index))
            try append(inner, as: branches[index], field: field)
        case (.record(_, let fields), .record(let values)):
            guard fields.count == values.count else { throw mismatch() }
            for (f, v) in zip(fields, values) { try append(v, as: f.type, field: "\(field).\(f.name)") }
        default: throw mismatch()
        }
    }
}
