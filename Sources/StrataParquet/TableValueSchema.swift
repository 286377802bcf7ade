/// A topic's value schema (formats/table.md, "Typed value columns"): the fields of its JSON
/// values that the table carries as typed columns beside the raw `value` bytes. Parsed from an
/// Iceberg schema JSON (`TopicConfig.valueSchema`, `strata topics create --value-schema FILE`).
///
/// The typed columns are the fields of one optional struct column, `value_fields` (field id 10,
/// after the record schema's 1–9); its fields take ids 11, 12, … in schema order. The ids in the
/// given JSON are checked (positive, unique) but are the user's: the table assigns its own.
/// `value_fields` is null when the value is null or does not match (`extract` returns nil).
public struct TableValueSchema: Sendable, Equatable {
    /// The schema's JSON text as given (kept so the table metadata can carry it).
    public var json: String
    /// The typed columns, in schema order (fixed: `extract` looks names up in an index of them).
    public let fields: [Field]

    /// The struct column holding the typed columns.
    public static let columnName = "value_fields"
    /// Its field id: the first after the record schema's (formats/table.md, "Record schema").
    public static let structFieldId: Int32 = 10
    /// Typed columns per schema: their ids (11…999) stay below the partition field ids (1000, 1001).
    public static let fieldsMax = 989
    /// Bytes of schema text accepted.
    public static let jsonBytesMax = 1 << 20

    /// One typed column.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var type: FieldType
        /// A value lacking the field (or holding null for it) does not match. The column itself
        /// is optional in the table either way.
        public var required: Bool
        public var doc: String?
        /// The table's field id (11 + position).
        public var fieldId: Int32
    }

    /// The Iceberg primitive types a typed column can have, and what JSON each reads.
    public enum FieldType: Sendable, Equatable {
        /// `true` / `false`.
        case boolean
        /// A JSON integer (no fraction or exponent) in 32 bits.
        case int
        /// A JSON integer in 64 bits.
        case long
        /// Any JSON number that is finite as a 32-bit float.
        case float
        /// Any JSON number that is finite as a 64-bit float.
        case double
        /// A JSON string.
        case string
        /// An ISO 8601 date string `yyyy-mm-dd`.
        case date
        /// An ISO local date-time string (no zone), or a JSON integer of milliseconds since 1970.
        case timestamp
        /// An ISO date-time string with `Z` or `±hh:mm`, or a JSON integer of milliseconds since 1970 (UTC).
        case timestamptz
        /// A base64 string (RFC 4648, standard alphabet, padded).
        case binary
        /// A JSON number or a string of digits with at most `scale` fraction digits and at most
        /// `precision` digits in all; precision 1…18.
        case decimal(precision: Int, scale: Int)

        /// The Iceberg type name (`decimal(9,2)`).
        public var icebergName: String {
            switch self {
            case .boolean: return "boolean"
            case .int: return "int"
            case .long: return "long"
            case .float: return "float"
            case .double: return "double"
            case .string: return "string"
            case .date: return "date"
            case .timestamp: return "timestamp"
            case .timestamptz: return "timestamptz"
            case .binary: return "binary"
            case .decimal(let p, let s): return "decimal(\(p),\(s))"
            }
        }

        /// The Parquet column of the type (Iceberg's Parquet mapping).
        var parquet: (type: ParquetEnum.PhysicalType, logical: ParquetLogicalType?) {
            switch self {
            case .boolean: return (.boolean, nil)
            case .int: return (.int32, nil)
            case .long: return (.int64, nil)
            case .float: return (.float, nil)
            case .double: return (.double, nil)
            case .string: return (.byteArray, .string)
            case .date: return (.int32, .date)
            case .timestamp: return (.int64, .timestampMicros(isAdjustedToUTC: false))
            case .timestamptz: return (.int64, .timestampMicros(isAdjustedToUTC: true))
            case .binary: return (.byteArray, nil)
            case .decimal(let p, let s):
                return (p <= 9 ? .int32 : .int64, .decimal(scale: Int32(s), precision: Int32(p)))
            }
        }
    }

    /// The highest field id of the table schema with these columns.
    public var lastColumnId: Int32 { Self.structFieldId + Int32(fields.count) }

    /// The `value_fields` struct column of the data files.
    public var parquetField: ParquetField {
        ParquetField(
            group: Self.columnName, .optional, fieldId: Self.structFieldId,
            fields.map { f in
                let (type, logical) = f.type.parquet
                // Optional even when the schema requires the field: `required` is a matching rule
                // (formats/table.md), and engines read a required field as never null, which inside
                // a null struct it is (pyiceberg turns `IS NULL` on one into false).
                return ParquetField(f.name, .optional, type, fieldId: f.fieldId, logicalType: logical)
            })
    }

    let index: [String: Int]
    /// The names as UTF-8, for `extract`'s byte comparison.
    let utf8Names: [[UInt8]]

    init(json: String, fields: [Field]) {
        self.json = json
        self.fields = fields
        self.utf8Names = fields.map { Array($0.name.utf8) }
        var index: [String: Int] = [:]
        for (i, f) in fields.enumerated() { index[f.name] = i }
        self.index = index
    }

    public static func == (a: TableValueSchema, b: TableValueSchema) -> Bool {
        a.json == b.json && a.fields == b.fields
    }

    /// Parses an Iceberg schema JSON (`{"type": "struct", "fields": [...]}`, each field with
    /// `id`, `name`, `required`, `type` and optionally `doc`; `schema-id` and
    /// `identifier-field-ids` at the top are accepted and not used).
    /// - Throws: `ParquetError(.invalidArgument)` naming the field that is wrong and why: not
    ///   JSON, not a struct, no fields or more than `fieldsMax`, a missing or mistyped key, an
    ///   id that is not positive or repeats, an empty name, a name with `.` or one that repeats
    ///   (ignoring case, as SQL engines do), a nested or unsupported type.
    public static func parse(icebergJSON json: String) throws(ParquetError) -> TableValueSchema {
        func bad(_ field: String, _ message: String) -> ParquetError {
            ParquetError(.invalidArgument, field: field, position: 0, message)
        }
        let bytes = Array(json.utf8)
        guard bytes.count <= jsonBytesMax else {
            throw bad("valueSchema", "holds \(bytes.count) bytes, more than \(jsonBytesMax)")
        }
        guard let root = TableJSONNode.parse(bytes) else { throw bad("valueSchema", "is not JSON") }
        guard case .object(let members) = root else { throw bad("valueSchema", "is not a JSON object") }
        for (key, _) in members where !["type", "fields", "schema-id", "identifier-field-ids"].contains(key) {
            throw bad("valueSchema.\(key)", "is not a key of an Iceberg schema")
        }
        guard case .string("struct")? = root["type"] else { throw bad("valueSchema.type", "must be \"struct\"") }
        guard case .array(let items)? = root["fields"] else { throw bad("valueSchema.fields", "must be an array") }
        guard !items.isEmpty, items.count <= fieldsMax else {
            throw bad("valueSchema.fields", "holds \(items.count) fields; 1…\(fieldsMax) are allowed")
        }
        var fields: [Field] = []
        var ids: Set<Int64> = []
        var names: Set<String> = []
        for (i, item) in items.enumerated() {
            let field = try parseField(item, at: i)
            let at = "valueSchema.fields[\(i)]"
            guard ids.insert(field.id).inserted else { throw bad(at + ".id", "id \(field.id) is used twice") }
            guard names.insert(field.field.name.lowercased()).inserted else {
                throw bad(at + ".name", "'\(field.field.name)' is used twice (names are compared ignoring case)")
            }
            var f = field.field
            f.fieldId = structFieldId + 1 + Int32(i)
            fields.append(f)
        }
        return TableValueSchema(json: json, fields: fields)
    }

    static func parseField(_ node: TableJSONNode, at i: Int) throws(ParquetError) -> (id: Int64, field: Field) {
        let at = "valueSchema.fields[\(i)]"
        func bad(_ key: String, _ message: String) -> ParquetError {
            ParquetError(.invalidArgument, field: at + key, position: 0, message)
        }
        guard case .object(let members) = node else { throw bad("", "is not a JSON object") }
        guard case .string(let name)? = node["name"] else { throw bad(".name", "is missing or not a string") }
        let named = "field '\(name)'"
        for (key, _) in members where !["id", "name", "required", "type", "doc"].contains(key) {
            throw bad(".\(key)", "\(named): \(key) is not supported (keys: id, name, required, type, doc)")
        }
        guard case .number(let idText, isInteger: true)? = node["id"], let id = Int64(idText), id > 0 else {
            throw bad(".id", "\(named): id must be a positive integer")
        }
        guard !name.isEmpty, !name.contains("."), !name.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw bad(".name", "\(named): a name must be non-empty, without '.' or control characters")
        }
        guard case .bool(let required)? = node["required"] else {
            throw bad(".required", "\(named): required must be true or false")
        }
        var doc: String? = nil
        if let d = node["doc"] {
            guard case .string(let text) = d else { throw bad(".doc", "\(named): doc must be a string") }
            doc = text
        }
        guard let typeNode = node["type"] else { throw bad(".type", "\(named): type is missing") }
        guard case .string(let typeName) = typeNode else {
            throw bad(
                ".type",
                "\(named): nested types (struct, list, map) are not typed columns yet; leave the field out "
                    + "(it stays in the raw value)")
        }
        let type = try fieldType(typeName, named: named, at: at + ".type")
        return (id, Field(name: name, type: type, required: required, doc: doc, fieldId: 0))
    }

    static let supportedTypes =
        "boolean, int, long, float, double, string, date, timestamp, timestamptz, binary, decimal(P,S) with P ≤ 18"

    static func fieldType(_ name: String, named: String, at: String) throws(ParquetError) -> FieldType {
        switch name {
        case "boolean": return .boolean
        case "int": return .int
        case "long": return .long
        case "float": return .float
        case "double": return .double
        case "string": return .string
        case "date": return .date
        case "timestamp": return .timestamp
        case "timestamptz": return .timestamptz
        case "binary": return .binary
        default: break
        }
        let compact = name.filter { $0 != " " }
        if compact.hasPrefix("decimal("), compact.hasSuffix(")") {
            let inner = compact.dropFirst("decimal(".count).dropLast()
            let parts = inner.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 2, let p = Int(parts[0]), let s = Int(parts[1]) else {
                throw ParquetError(.invalidArgument, field: at, position: 0, "\(named): \(name) is not decimal(P,S)")
            }
            guard (1 ... 18).contains(p), (0 ... p).contains(s) else {
                throw ParquetError(
                    .invalidArgument, field: at, position: 0,
                    "\(named): \(name) needs precision 1…18 (wider decimals are not typed columns yet) "
                        + "and scale 0…P")
            }
            return .decimal(precision: p, scale: s)
        }
        throw ParquetError(
            .invalidArgument, field: at, position: 0,
            "\(named): type \(name) is not a typed column type (supported: \(supportedTypes))")
    }
}
