import StrataParquet

/// The fixed parts of a topic table (formats/table.md, "Iceberg table"): the table schema of the
/// Parquet data files, the partition spec, the sort order, and the Avro schemas of manifests and
/// manifest lists with the field ids the Iceberg v2 specification assigns.
public enum IcebergSchema {
    public static let schemaId: Int64 = 0
    public static let specId: Int32 = 0
    public static let sortOrderId: Int32 = 1
    /// The highest field id of the table schema (`headers.element.value`).
    public static let lastColumnId: Int64 = 9

    /// Partition field ids, from 1000 as the specification reserves for them.
    public enum PartitionFieldId {
        /// identity(`partition`)
        public static let partition: Int32 = 1000
        /// day(`timestamp`): days since 1970-01-01 (UTC) of the record timestamps.
        public static let timestampDay: Int32 = 1001
    }

    /// The highest field id of the table schema with these typed columns (10 + their count).
    public static func lastColumnId(valueSchema: TableValueSchema?) -> Int64 {
        valueSchema.map { Int64($0.lastColumnId) } ?? lastColumnId
    }

    /// The table property holding the value schema's JSON text as given, so a table read back
    /// (`IcebergTable.restoring`) knows its typed columns.
    public static let valueSchemaProperty = "strata.value-schema"

    /// The table schema: formats/table.md, "Record schema", ids 1–9.
    public static var tableSchema: JSONValue { tableSchema(valueSchema: nil) }

    static func field(_ id: Int64, _ name: String, _ required: Bool, _ type: JSONValue) -> JSONValue {
        .object([("id", .int(id)), ("name", .string(name)), ("required", .bool(required)), ("type", type)])
    }

    /// The `value_fields` struct (id 10) of the typed columns: formats/table.md, "Typed value columns".
    static func valueFields(_ schema: TableValueSchema) -> JSONValue {
        let fields: [JSONValue] = schema.fields.map { f in
            var members: [(String, JSONValue)] = [
                // Optional whatever the value schema says: `value_fields` is null for a mismatch.
                ("id", .int(Int64(f.fieldId))), ("name", .string(f.name)), ("required", .bool(false)),
                ("type", .string(f.type.icebergName)),
            ]
            if let doc = f.doc { members.append(("doc", .string(doc))) }
            return .object(members)
        }
        return field(
            Int64(TableValueSchema.structFieldId), TableValueSchema.columnName, false,
            .object([("type", .string("struct")), ("fields", .array(fields))]))
    }

    /// The table schema: the record schema (ids 1–9), then with a value schema its typed
    /// columns in the `value_fields` struct (ids from 10).
    public static func tableSchema(valueSchema: TableValueSchema?) -> JSONValue {
        let header: JSONValue = .object([
            ("type", .string("struct")),
            (
                "fields",
                .array([field(8, "key", true, .string("string")), field(9, "value", false, .string("binary"))])
            ),
        ])
        let headers: JSONValue = .object([
            ("type", .string("list")), ("element-id", .int(7)), ("element", header), ("element-required", .bool(true)),
        ])
        return .object([
            ("type", .string("struct")),
            ("schema-id", .int(schemaId)),
            (
                "fields",
                .array(
                    [
                        field(1, "partition", true, .string("int")),
                        field(2, "offset", true, .string("long")),
                        field(3, "timestamp", true, .string("timestamptz")),
                        field(4, "key", false, .string("binary")),
                        field(5, "value", false, .string("binary")),
                        field(6, "headers", false, headers),
                    ] + (valueSchema.map { [valueFields($0)] } ?? []))
            ),
        ])
    }

    /// The partition spec's fields: identity(`partition`) as `partition`, day(`timestamp`) as `timestamp_day`.
    public static var partitionFields: JSONValue {
        .array([
            .object([
                ("name", .string("partition")), ("transform", .string("identity")), ("source-id", .int(1)),
                ("field-id", .int(Int64(PartitionFieldId.partition))),
            ]),
            .object([
                ("name", .string("timestamp_day")), ("transform", .string("day")), ("source-id", .int(3)),
                ("field-id", .int(Int64(PartitionFieldId.timestampDay))),
            ]),
        ])
    }

    public static var partitionSpec: JSONValue {
        .object([("spec-id", .int(Int64(specId))), ("fields", partitionFields)])
    }

    /// Order 0 is the specification's "unsorted"; order 1 (the default) is `offset` ascending:
    /// a data file holds one partition's records in offset order.
    public static var sortOrders: JSONValue {
        .array([
            .object([("order-id", .int(0)), ("fields", .array([]))]),
            .object([
                ("order-id", .int(Int64(sortOrderId))),
                (
                    "fields",
                    .array([
                        .object([
                            ("transform", .string("identity")), ("source-id", .int(2)), ("direction", .string("asc")),
                            ("null-order", .string("nulls-first")),
                        ])
                    ])
                ),
            ]),
        ])
    }

    /// An Iceberg map<int, V> in Avro: an array of key/value records (`logicalType` `map`).
    static func intMap(_ keyId: Int32, _ valueId: Int32, _ value: AvroSchema) -> AvroSchema {
        .optional(
            .array(
                .record(
                    name: "k\(keyId)_v\(valueId)",
                    fields: [AvroField("key", .int, fieldId: keyId), AvroField("value", value, fieldId: valueId)]),
                logicalType: "map"))
    }

    /// The partition tuple of a data file (record `r102`).
    public static let partitionRecord = AvroSchema.record(
        name: "r102",
        fields: [
            AvroField("partition", .optional(.int), fieldId: PartitionFieldId.partition),
            AvroField("timestamp_day", .optional(.logical("date", .int)), fieldId: PartitionFieldId.timestampDay),
        ])

    /// `data_file` (field 2 of a manifest entry), v2 fields.
    public static let dataFile = AvroSchema.record(
        name: "r2",
        fields: [
            AvroField("content", .int, fieldId: 134),
            AvroField("file_path", .string, fieldId: 100),
            AvroField("file_format", .string, fieldId: 101),
            AvroField("partition", partitionRecord, fieldId: 102),
            AvroField("record_count", .long, fieldId: 103),
            AvroField("file_size_in_bytes", .long, fieldId: 104),
            AvroField("column_sizes", intMap(117, 118, .long), fieldId: 108),
            AvroField("value_counts", intMap(119, 120, .long), fieldId: 109),
            AvroField("null_value_counts", intMap(121, 122, .long), fieldId: 110),
            AvroField("nan_value_counts", intMap(138, 139, .long), fieldId: 137),
            AvroField("lower_bounds", intMap(126, 127, .bytes), fieldId: 125),
            AvroField("upper_bounds", intMap(129, 130, .bytes), fieldId: 128),
            AvroField("key_metadata", .optional(.bytes), fieldId: 131),
            AvroField("split_offsets", .optional(.array(.long, elementId: 133)), fieldId: 132),
            AvroField("equality_ids", .optional(.array(.int, elementId: 136)), fieldId: 135),
            AvroField("sort_order_id", .optional(.int), fieldId: 140),
        ])

    /// A manifest's objects.
    public static let manifestEntry = AvroSchema.record(
        name: "manifest_entry",
        fields: [
            AvroField("status", .int, fieldId: 0),
            AvroField("snapshot_id", .optional(.long), fieldId: 1),
            AvroField("sequence_number", .optional(.long), fieldId: 3),
            AvroField("file_sequence_number", .optional(.long), fieldId: 4),
            AvroField("data_file", dataFile, fieldId: 2),
        ])

    /// A manifest list's objects.
    public static let manifestFile = AvroSchema.record(
        name: "manifest_file",
        fields: [
            AvroField("manifest_path", .string, fieldId: 500),
            AvroField("manifest_length", .long, fieldId: 501),
            AvroField("partition_spec_id", .int, fieldId: 502),
            AvroField("content", .int, fieldId: 517),
            AvroField("sequence_number", .long, fieldId: 515),
            AvroField("min_sequence_number", .long, fieldId: 516),
            AvroField("added_snapshot_id", .long, fieldId: 503),
            AvroField("added_files_count", .int, fieldId: 504),
            AvroField("existing_files_count", .int, fieldId: 505),
            AvroField("deleted_files_count", .int, fieldId: 506),
            AvroField("added_rows_count", .long, fieldId: 512),
            AvroField("existing_rows_count", .long, fieldId: 513),
            AvroField("deleted_rows_count", .long, fieldId: 514),
            AvroField(
                "partitions",
                .optional(
                    .array(
                        .record(
                            name: "r508",
                            fields: [
                                AvroField("contains_null", .boolean, fieldId: 509),
                                AvroField("contains_nan", .optional(.boolean), fieldId: 518),
                                AvroField("lower_bound", .optional(.bytes), fieldId: 510),
                                AvroField("upper_bound", .optional(.bytes), fieldId: 511),
                            ]),
                        elementId: 508)),
                fieldId: 507),
            AvroField("key_metadata", .optional(.bytes), fieldId: 519),
        ])
}
