/// Decodes Avro binary data from untrusted bytes: varints are bounded by 10 bytes (longs) or
/// 5 (ints) and by their type's range, lengths and item counts by the bytes left, and every
/// failure is an `IcebergError` naming the field path and the absolute byte position.
public struct AvroReader {
    public let bytes: [UInt8]
    public private(set) var position: Int
    let end: Int

    /// Reads `bytes[start ..< end]` (the whole array by default); positions stay absolute.
    public init(_ bytes: [UInt8], start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = min(end ?? bytes.count, bytes.count)
    }

    public var remaining: Int { end - position }

    func error(_ code: IcebergError.Code, _ field: String, _ message: String, at: Int? = nil) -> IcebergError {
        IcebergError(code, field: field, position: at ?? position, message)
    }

    public mutating func readLong(field: String) throws(IcebergError) -> Int64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw error(.truncated, field, "ends inside a varint", at: start) }
            let b = bytes[position]
            position += 1
            guard shift < 63 || (shift == 63 && b <= 1) else {
                throw error(.outOfBounds, field, "varint longer than 64 bits", at: start)
            }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
    }

    public mutating func readInt(field: String) throws(IcebergError) -> Int32 {
        let start = position
        let value = try readLong(field: field)
        guard position - start <= 5, let int = Int32(exactly: value) else {
            throw error(.outOfBounds, field, "\(value) does not fit an Avro int", at: start)
        }
        return int
    }

    /// A length: not negative and at most the bytes left after it.
    mutating func readLength(field: String) throws(IcebergError) -> Int {
        let start = position
        let length = try readLong(field: field)
        guard length >= 0, length <= Int64(remaining) else {
            throw error(
                .outOfBounds, field, "length \(length) is negative or beyond the \(remaining) bytes left", at: start)
        }
        return Int(length)
    }

    public mutating func readBytes(field: String) throws(IcebergError) -> [UInt8] {
        let length = try readLength(field: field)
        defer { position += length }
        return Array(bytes[position ..< position + length])
    }

    public mutating func readString(field: String) throws(IcebergError) -> String {
        let start = position
        let raw = try readBytes(field: field)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw error(.invalidValue, field, "string is not UTF-8", at: start)
        }
        return text
    }

    public mutating func readFixed(_ size: Int, field: String) throws(IcebergError) -> [UInt8] {
        guard size <= remaining else { throw error(.truncated, field, "\(size) fixed bytes, \(remaining) left") }
        defer { position += size }
        return Array(bytes[position ..< position + size])
    }

    /// Reads one value of `schema`.
    public mutating func read(_ schema: AvroSchema, field: String = "value") throws(IcebergError) -> AvroValue {
        try read(schema, field: field, depth: 0)
    }

    mutating func read(_ schema: AvroSchema, field: String, depth: Int) throws(IcebergError) -> AvroValue {
        guard depth < 32 else { throw error(.outOfBounds, field, "schema nests deeper than 32") }
        switch schema {
        case .logical(_, let base): return try read(base, field: field, depth: depth + 1)
        case .null: return .null
        case .boolean:
            guard position < end else { throw error(.truncated, field, "ends before a boolean") }
            let b = bytes[position]
            guard b <= 1 else { throw error(.invalidValue, field, "boolean byte \(b) is neither 0 nor 1") }
            position += 1
            return .boolean(b == 1)
        case .int: return .int(try readInt(field: field))
        case .long: return .long(try readLong(field: field))
        case .bytes: return .bytes(try readBytes(field: field))
        case .string: return .string(try readString(field: field))
        case .fixed(_, let size): return .fixed(try readFixed(size, field: field))
        case .array(let items, _, _):
            var values: [AvroValue] = []
            try readBlocks(field: field, itemSchema: items) { (reader: inout AvroReader) throws(IcebergError) in
                values.append(try reader.read(items, field: "\(field)[\(values.count)]", depth: depth + 1))
            }
            return .array(values)
        case .map(let valueSchema):
            var entries: [AvroMapEntry] = []
            try readBlocks(
                field: field, itemSchema: .record(name: "", fields: [.init("", .string), .init("", valueSchema)])
            ) {
                (reader: inout AvroReader) throws(IcebergError) in
                let key = try reader.readString(field: "\(field) key")
                entries.append(
                    AvroMapEntry(key, try reader.read(valueSchema, field: "\(field)[\(key)]", depth: depth + 1)))
            }
            return .map(entries)
        case .union(let branches):
            let start = position
            let index = try readLong(field: field)
            guard index >= 0, index < Int64(branches.count) else {
                throw error(.invalidValue, field, "union branch \(index) of \(branches.count)", at: start)
            }
            return .union(Int(index), try read(branches[Int(index)], field: field, depth: depth + 1))
        case .record(_, let fields):
            var values: [AvroValue] = []
            values.reserveCapacity(fields.count)
            for f in fields { values.append(try read(f.type, field: "\(field).\(f.name)", depth: depth + 1)) }
            return .record(values)
        }
    }

    /// Array and map blocks: a count (negative: its absolute value, then the block's byte size),
    /// the items, until a zero count. Counts are bounded by the bytes left when an item takes at
    /// least one byte, else by a million items.
    mutating func readBlocks(
        field: String, itemSchema: AvroSchema, _ item: (inout AvroReader) throws(IcebergError) -> Void
    ) throws(IcebergError) {
        let itemLimit = itemSchema.minimumBytes > 0 ? remaining : 1_000_000
        var total = 0
        while true {
            let start = position
            var count = try readLong(field: field)
            if count == 0 { return }
            if count < 0 {
                guard count != Int64.min else { throw error(.outOfBounds, field, "block count \(count)", at: start) }
                count = -count
                _ = try readLength(field: field)
            }
            guard count <= Int64(itemLimit - total) else {
                throw error(
                    .outOfBounds, field, "block of \(count) items exceeds what the bytes left can hold", at: start)
            }
            total += Int(count)
            for _ in 0 ..< count { try item(&self) }
        }
    }
}

extension AvroSchema {
    /// The fewest bytes a value of this schema takes (0 for null and for records of nulls).
    var minimumBytes: Int {
        switch self {
        case .null: return 0
        case .fixed(_, let size): return size
        case .logical(_, let base): return base.minimumBytes
        case .record(_, let fields): return fields.reduce(0) { $0 + $1.type.minimumBytes }
        default: return 1
        }
    }

    /// Parses Avro schema JSON: primitives, records (with `field-id`), arrays (with `element-id`
    /// and `logicalType`), maps, unions, fixed, logical primitives, and references to named types
    /// defined earlier in the same schema.
    public static func parse(_ json: JSONValue, field: String = "avro.schema") throws(IcebergError) -> AvroSchema {
        var named: [String: AvroSchema] = [:]
        return try parse(json, field: field, named: &named, depth: 0)
    }

    static func parse(
        _ json: JSONValue, field: String, named: inout [String: AvroSchema], depth: Int
    ) throws(IcebergError) -> AvroSchema {
        func bad(_ message: String, _ code: IcebergError.Code = .invalidValue) -> IcebergError {
            IcebergError(code, field: field, position: 0, message)
        }
        guard depth < 32 else { throw bad("schema nests deeper than 32", .outOfBounds) }
        switch json {
        case .string(let name):
            switch name {
            case "null": return .null
            case "boolean": return .boolean
            case "int": return .int
            case "long": return .long
            case "bytes": return .bytes
            case "string": return .string
            case "float", "double": throw bad("type \(name) is not used by Iceberg manifests", .unsupported)
            default:
                guard let schema = named[name] else { throw bad("unknown type name \(name)") }
                return schema
            }
        case .array(let branches):
            var parsed: [AvroSchema] = []
            for (i, b) in branches.enumerated() {
                parsed.append(try parse(b, field: "\(field)[\(i)]", named: &named, depth: depth + 1))
            }
            return .union(parsed)
        case .object:
            guard let type = json["type"] else { throw bad("a schema object without type") }
            let logicalType = json["logicalType"]?.stringValue
            switch type.stringValue {
            case "record":
                guard let name = json["name"]?.stringValue, let fields = json["fields"]?.arrayValue else {
                    throw bad("a record without name or fields")
                }
                var parsed: [AvroField] = []
                for (i, f) in fields.enumerated() {
                    guard let fieldName = f["name"]?.stringValue, let fieldType = f["type"] else {
                        throw bad("field \(i) of record \(name) has no name or type")
                    }
                    let id = try f["field-id"].map { (v: JSONValue) throws(IcebergError) -> Int32 in
                        guard let i = v.intValue, let id = Int32(exactly: i) else {
                            throw bad("field-id is not an int")
                        }
                        return id
                    }
                    let t = try parse(fieldType, field: "\(field).\(fieldName)", named: &named, depth: depth + 1)
                    parsed.append(AvroField(fieldName, t, fieldId: id, defaultNull: f["default"] == .null))
                }
                let record = AvroSchema.record(name: name, fields: parsed)
                named[name] = record
                return record
            case "array":
                guard let items = json["items"] else { throw bad("an array without items") }
                let elementId = try json["element-id"].map { (v: JSONValue) throws(IcebergError) -> Int32 in
                    guard let i = v.intValue, let id = Int32(exactly: i) else { throw bad("element-id is not an int") }
                    return id
                }
                let itemSchema = try parse(items, field: "\(field)[]", named: &named, depth: depth + 1)
                return .array(itemSchema, elementId: elementId, logicalType: logicalType)
            case "map":
                guard let values = json["values"] else { throw bad("a map without values") }
                return .map(try parse(values, field: "\(field){}", named: &named, depth: depth + 1))
            case "fixed":
                guard let name = json["name"]?.stringValue, let size = json["size"]?.intValue, size >= 0,
                    size <= 1 << 20
                else { throw bad("a fixed without name or with a bad size") }
                let fixed = AvroSchema.fixed(name: name, size: Int(size))
                named[name] = fixed
                return fixed
            default:
                let base = try parse(type, field: field, named: &named, depth: depth + 1)
                guard let logicalType else { return base }
                return .logical(logicalType, base)
            }
        default: throw bad("a schema must be a string, an array or an object")
        }
    }
}
