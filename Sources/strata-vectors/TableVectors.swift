// The Parquet vectors of formats/table.md (formats/vectors/table): records chosen for their
// edge cases, written by RecordTableWriter. pyarrow, DuckDB and polars read them in
// Tests/StrataParquetTests.
import Foundation
import StrataFormat
import StrataParquet

/// Edge cases: null vs empty key and value, no headers, repeated header keys kept in order, a
/// null header value, pre-1970 and out-of-order timestamps, non-UTF-8 bytes.
func tableEdgeRecords() -> [Record] {
    let records = [
        Record(
            timestamp: 1_700_000_000_123, key: utf8("user-17"), value: utf8(#"{"amount":12.5}"#),
            headers: [RecordHeader(key: "trace-id", value: utf8("4bf92f35"))]),
        Record(timestamp: 1_700_000_000_124, key: nil, value: utf8("no key")),
        Record(timestamp: 1_700_000_000_120, key: utf8("user-17"), value: nil),
        Record(timestamp: 1_700_000_000_125, key: utf8(""), value: []),
        Record(timestamp: -86_400_000, key: utf8("clé-ü"), value: utf8("日本語 ☃ 🚀")),
        Record(timestamp: -1, key: [0xC3, 0x28], value: [0x00, 0xFF, 0xFE, 0x80, 0x7F]),
        Record(timestamp: 0, key: nil, value: nil),
        Record(
            timestamp: 1_700_000_100_000, key: utf8("dup"), value: utf8("repeated header keys"),
            headers: [
                RecordHeader(key: "k", value: utf8("first")), RecordHeader(key: "other", value: nil),
                RecordHeader(key: "k", value: utf8("second")), RecordHeader(key: "", value: []),
                RecordHeader(key: "k", value: utf8("third")),
            ]),
        Record(
            timestamp: -2_208_988_800_000, key: utf8("1900"), value: utf8("before the epoch"),
            headers: [RecordHeader(key: "ключ", value: [0xDE, 0xAD, 0xBE, 0xEF])]),
        Record(timestamp: 1_700_000_200_000, key: nil, value: utf8("last")),
    ]
    return records.enumerated().map { i, r in
        var r = r
        r.offset = 1000 + Int64(i)
        return r
    }
}

/// One value above 1 MiB between two small records.
func tableLargeValueRecords() -> [Record] {
    let pattern = Array("strata parquet large value 0123456789\n".utf8)
    let large = (0 ..< (1 << 20) + 7).map { pattern[$0 % pattern.count] }
    return [
        Record(offset: 0, timestamp: 1_700_000_000_000, key: utf8("before"), value: utf8("small")),
        Record(
            offset: 1, timestamp: 1_700_000_000_001, key: utf8("large"), value: large,
            headers: [RecordHeader(key: "size", value: utf8("\(large.count)"))]),
        Record(offset: 2, timestamp: 1_700_000_000_002, key: utf8("after"), value: nil),
    ]
}

/// Enough rows for several row groups of several pages each; every 7th row has two headers,
/// every 5th a null key, every 11th a null value.
func tableManyRecords() -> [Record] {
    var records: [Record] = []
    for i in 0 ..< 2000 {
        var headers: [RecordHeader] = []
        if i % 7 == 0 {
            let parity: [UInt8]? = i % 2 == 0 ? nil : [1]
            headers = [RecordHeader(key: "n", value: utf8("\(i)")), RecordHeader(key: "parity", value: parity)]
        }
        let key: [UInt8]? = i % 5 == 0 ? nil : utf8("key-\(i % 97)")
        let value: [UInt8]? = i % 11 == 0 ? nil : utf8("value \(i)")
        let timestamp: Int64 = 1_700_000_000_000 + Int64(i) * 250
        records.append(
            Record(offset: 500_000 + Int64(i), timestamp: timestamp, key: key, value: value, headers: headers))
    }
    return records
}

func tableVector(
    _ file: String, partition: Int32, options: RecordTableOptions, records: [Record]
) throws -> (bytes: [UInt8], description: RecordTableVector) {
    let writer = try RecordTableWriter(partition: partition, options: options)
    for record in records { try writer.append(record) }
    let bytes = try writer.finish()
    let counts = try ParquetFileReader(bytes).metadata.rowGroups.map { Int($0.rowCount) }
    let description = RecordTableVector(
        file: file, partition: partition, options: options, rowGroupRowCounts: counts, records: records)
    return (bytes, description)
}

func generateTableVectors(into directory: URL) throws {
    let table = directory.appendingPathComponent("table", isDirectory: true)
    try FileManager.default.createDirectory(at: table, withIntermediateDirectories: true)
    let zstd = RecordTableOptions()
    let uncompressed = RecordTableOptions(parquet: ParquetWriterOptions(codec: .uncompressed))
    let many = RecordTableOptions(
        rowGroupRawBytesTarget: 16_000, parquet: ParquetWriterOptions(pageBytesTarget: 1024, pageRowCountMax: 100))
    let vectors = [
        try tableVector("records.parquet", partition: 3, options: zstd, records: tableEdgeRecords()),
        try tableVector(
            "records-uncompressed.parquet", partition: 3, options: uncompressed, records: tableEdgeRecords()),
        try tableVector("large-value.parquet", partition: 0, options: zstd, records: tableLargeValueRecords()),
        try tableVector("many-rows.parquet", partition: 41, options: many, records: tableManyRecords()),
    ]
    for (bytes, description) in vectors {
        try write(bytes, "table/" + description.file, in: directory)
        try write([UInt8](try prettyJSON(description)), "table/" + description.file + ".json", in: directory)
    }
    try generateTypedColumnsVector(into: directory)
}

/// formats/vectors/table/typed: TypedColumnsVector's records with its value schema, uncompressed
/// (stable across libzstd versions) in small pages and several row groups.
func generateTypedColumnsVector(into directory: URL) throws {
    let options = RecordTableOptions(
        rowGroupRawBytesTarget: 400,
        parquet: ParquetWriterOptions(codec: .uncompressed, pageBytesTarget: 1 << 20, pageRowCountMax: 3))
    try FileManager.default.createDirectory(
        at: directory.appendingPathComponent("table/typed", isDirectory: true), withIntermediateDirectories: true)
    let schema = try TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)
    let writer = try RecordTableWriter(partition: 2, options: options, valueSchema: schema)
    let records = TypedColumnsVector.records()
    for record in records { try writer.append(record) }
    let bytes = try writer.finish()
    let description = RecordTableVector(
        file: "typed-values.parquet", partition: 2, options: options,
        rowGroupRowCounts: try ParquetFileReader(bytes).metadata.rowGroups.map { Int($0.rowCount) },
        records: records, valueSchema: TypedColumnsVector.schemaJSON, valueFields: TypedColumnsVector.expected,
        valueMismatches: Int(writer.valueMismatches))
    try write(bytes, "table/typed/" + description.file, in: directory)
    try write([UInt8](try prettyJSON(description)), "table/typed/" + description.file + ".json", in: directory)
}
