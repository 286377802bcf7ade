import Foundation
import StrataFormat
import StrataParquet
import StrataTesting
import Testing

@testable import StrataIceberg

/// A table with a value schema (formats/table.md, "Typed value columns"): its metadata's schema,
/// `last-column-id` and manifests carry the `value_fields` struct, a restart reads it back, the
/// data files' statistics cover the typed columns, and pyiceberg reads the columns typed.
@Suite struct TypedColumnsIcebergTests {
    static let schema = try! TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)

    /// Partitions 0 and 1 each hold the vector's records (one file each, one commit).
    static func table(location: String) throws -> (IcebergTable, IcebergCommit, [(String, [UInt8])]) {
        let table = try IcebergTable(
            uuid: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", location: location, createdMs: 1_700_000_000_000,
            properties: ["strata.topic": "clicks"], valueSchema: schema)
        var files: [(String, [UInt8])] = []
        var dataFiles: [IcebergDataFile] = []
        for partition in Int32(0) ... 1 {
            let writer = try RecordTableWriter(
                partition: partition, options: RecordTableOptions(rowGroupRawBytesTarget: 500), valueSchema: schema)
            for record in TypedColumnsVector.records() { try writer.append(record) }
            let bytes = try writer.finish()
            let path = IcebergTable.dataFilePath(
                partition: partition, day: IcebergDataFile.day(ofMilliseconds: 1_700_000_000_000), firstOffset: 0,
                uuid: "d0d0d0d0-0000-4000-8000-00000000000\(partition)")
            files.append((path, bytes))
            dataFiles.append(try IcebergDataFile(path: location + "/" + path, parquet: bytes))
        }
        let commit = try table.committing(
            adding: dataFiles,
            ids: IcebergCommitIds(
                snapshotId: 77, uuid: "c0ffee00-0000-4000-8000-000000000001", timestampMs: 1_700_000_100_000))
        return (table, commit, files + commit.files.map { ($0.path, $0.bytes) })
    }

    @Test func metadataCarriesTheTypedColumns() throws {
        let (_, commit, _) = try Self.table(location: "s3://b/tables/clicks")
        let metadata = commit.table.metadataJSON
        #expect(metadata["last-column-id"] == .int(22))
        let schema = try #require(metadata["schemas"]?.arrayValue?.first)
        let fields = try #require(schema["fields"]?.arrayValue)
        #expect(fields.count == 7)
        let valueFields = fields[6]
        #expect(valueFields["id"] == .int(10) && valueFields["name"] == .string("value_fields"))
        #expect(valueFields["required"] == .bool(false))
        let typed = try #require(valueFields["type"]?["fields"]?.arrayValue)
        #expect(typed.map { $0["id"]?.intValue } == (11 ... 22).map { Int64($0) })
        #expect(typed.map { $0["type"]?.stringValue } == Self.schema.fields.map(\.type.icebergName))
        #expect(typed[10]["type"] == .string("decimal(9,2)"))
        #expect(typed[11]["doc"] == .string("order total"))
        #expect(metadata["properties"]?[IcebergSchema.valueSchemaProperty] == .string(TypedColumnsVector.schemaJSON))
        #expect(metadata["properties"]?["strata.topic"] == .string("clicks"))
        // Every manifest embeds the same schema.
        let manifest = try #require(commit.files.first { $0.path.hasSuffix("-m0.avro") })
        let decoded = try AvroContainer.decode(manifest.bytes)
        #expect(decoded.metadata("schema") == schema.compact)
        // Without a value schema nothing changes: ids 1–9 only.
        #expect(IcebergSchema.tableSchema(valueSchema: nil) == IcebergSchema.tableSchema)
        #expect(IcebergSchema.lastColumnId(valueSchema: nil) == 9)
    }

    /// A restart reads the value schema back from the metadata, and a table whose schema is not
    /// the one its property describes is refused.
    @Test func restoringKeepsTheValueSchema() throws {
        let (_, commit, files) = try Self.table(location: "s3://b/tables/clicks")
        let byPath = Dictionary(uniqueKeysWithValues: files.map { ("s3://b/tables/clicks/" + $0.0, $0.1) })
        let metadata = try #require(commit.files.first { $0.path == "metadata/v1.metadata.json" })
        let restored = try IcebergTable.restoring(metadata: metadata.bytes, version: 1) { byPath[$0] }
        #expect(restored == commit.table)
        #expect(restored.valueSchema == Self.schema)
        #expect(restored.properties == ["strata.topic": "clicks"])

        var text = String(decoding: metadata.bytes, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"name\": \"clicks\"", with: "\"name\": \"taps\"")
        let error = icebergError { () throws(IcebergError) in
            try IcebergTable.restoring(metadata: Array(text.utf8), version: 1) { byPath[$0] }
        }
        #expect(error?.code == .unsupported, "\(String(describing: error))")
    }

    @Test func dataFileStatisticsCoverTheTypedColumns() throws {
        let (_, commit, _) = try Self.table(location: "s3://b/tables/clicks")
        let file = try #require(commit.table.liveFiles.first)
        let rows = Int64(TypedColumnsVector.values.count)
        let typedRows = Int64(TypedColumnsVector.expected.compactMap { $0 }.count)
        for (i, field) in Self.schema.fields.enumerated() {
            let present = Int64(TypedColumnsVector.expected.compactMap { $0?[field.name] }.count)
            #expect(file.valueCounts[field.fieldId] == rows, "\(field.name)")
            #expect(file.nullValueCounts[field.fieldId] == rows - present, "\(field.name)")
            #expect(file.columnSizes[field.fieldId] != nil)
            _ = i
        }
        #expect(typedRows == 5)
        // clicks (int) 3…3, user_id (long) one value, at (timestamptz) two values; no bounds on decimals.
        #expect(file.lowerBounds[12] == IcebergValue.int(3) && file.upperBounds[12] == IcebergValue.int(3))
        #expect(file.lowerBounds[13] == IcebergValue.long(9_007_199_254_740_993))
        #expect(file.lowerBounds[18] == IcebergValue.long(1_700_000_000_123_000))
        #expect(file.upperBounds[18] == IcebergValue.long(1_709_206_496_123_456))
        #expect(file.lowerBounds[17] == IcebergValue.int(-25_508), "1900-03-01")
        #expect(file.lowerBounds[21] == nil && file.lowerBounds[14] == nil && file.lowerBounds[11] == nil)
    }

    static let script = repoRoot().appendingPathComponent("Tests/StrataIcebergTests/Readers/check_typed_iceberg.py")
        .path

    /// pyiceberg reads the table with the typed columns' Iceberg types and the vector's
    /// hand-written values, and filters on a typed column; DuckDB's iceberg_scan too when its
    /// extension can be had.
    @Test func pyicebergReadsTheTypedColumns() async throws {
        try #require(
            RealReaderTests.pyicebergImportable,
            "python3 cannot import pyiceberg and fastavro: pip install pyiceberg fastavro (tools/test does)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-typed-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (_, _, files) = try Self.table(location: directory.path)
        for (path, bytes) in files {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        let expected = try JSONSerialization.data(
            withJSONObject: [
                "partitions": [0, 1], "schema": TypedColumnsVector.schemaJSON,
                "rows": TypedColumnsVector.expected.map { (row) -> Any in row.map { $0 as Any } ?? NSNull() },
            ] as [String: Any])
        try expected.write(to: directory.appendingPathComponent("expected.json"))
        let result = await runProgram("python3", [Self.script, directory.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok pyiceberg typed"), "\(result.output)")
        #expect(result.output.contains("ok pyiceberg-filter typed"), "\(result.output)")
        #expect(result.output.contains("ok duckdb typed") || result.output.contains("skipped duckdb"))
        print(result.output)
    }
}
