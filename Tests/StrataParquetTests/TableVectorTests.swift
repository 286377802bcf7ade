import Foundation
import StrataFormat
import StrataTesting
import Testing

@testable import StrataParquet

/// formats/vectors/table: each vector is reproduced byte for byte from its JSON description
/// (tools/gen-vectors rebuilds them), our reader reads its footer, page index and rows back,
/// and real readers (pyarrow always; DuckDB and polars when importable) return the JSON's rows.
@Suite struct TableVectorTests {
    static let names = ["records.parquet", "records-uncompressed.parquet", "large-value.parquet", "many-rows.parquet"]

    @Test(arguments: names) func vectorIsReproduced(_ name: String) throws {
        let bytes = try tableVector(name)
        let described = try tableVectorDescription(name)
        #expect(described.file == name)
        let encoded = try described.encode()
        if described.codec == "uncompressed" || described.zstdVersion == Zstd.versionString {
            let firstDifference =
                zip(encoded, bytes).enumerated().first { $1.0 != $1.1 }?.offset ?? min(encoded.count, bytes.count)
            #expect(
                encoded.count == bytes.count && firstDifference == bytes.count,
                "\(name) is not reproduced: \(encoded.count) vs \(bytes.count) bytes, from byte \(firstDifference)"
            )
        } else {
            // Another libzstd may compress differently: everything but the compressed bytes must hold.
            let ours = try ParquetFileReader(encoded)
            #expect(ours.metadata.rowGroups.map(\.rowCount) == described.rowGroupRowCounts.map(Int64.init))
        }
    }

    @Test(arguments: names) func vectorReadsBack(_ name: String) throws {
        let bytes = try tableVector(name)
        let described = try tableVectorDescription(name)
        let file = try ParquetFileReader(bytes)
        #expect(file.metadata.rowGroups.map(\.rowCount) == described.rowGroupRowCounts.map(Int64.init))
        #expect(file.metadata.rowCount == Int64(described.rows.count))
        #expect(file.leaves.map(\.fieldId) == [1, 2, 3, 4, 5, 8, 9])
        #expect(file.metadata.schema.compactMap(\.fieldId) == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let (partitions, records) = try RecordTableReader.records(bytes)
        #expect(records == (try described.records()))
        #expect(partitions.allSatisfy { $0 == described.partition })
        for g in file.metadata.rowGroups.indices {
            for c in file.leaves.indices {
                let offsets = try #require(try file.offsetIndex(rowGroup: g, column: c))
                let pages = try file.pages(rowGroup: g, column: c)
                #expect(offsets.pageLocations.map { Int($0.offset) } == pages.map(\.position))
                #expect(offsets.pageLocations.first?.firstRowIndex == 0)
                let index = try file.columnIndex(rowGroup: g, column: c)
                #expect((index != nil) == (c <= 2), "column \(c): ColumnIndex only on the integer columns")
            }
            let offsetIndex = try #require(try file.columnIndex(rowGroup: g, column: 1))
            #expect(offsetIndex.boundaryOrder == ParquetEnum.boundaryAscending)
        }
        try checkPageBounds(file, rows: try described.records(), partition: described.partition)
    }

    /// The vectors hold the edge cases formats/table.md promises.
    @Test func vectorsCoverTheEdgeCases() throws {
        let edge = try tableVectorDescription("records.parquet").records()
        #expect(edge.contains { $0.key == nil } && edge.contains { $0.key == [] })
        #expect(edge.contains { $0.value == nil } && edge.contains { $0.value == [] })
        #expect(edge.contains { $0.headers.isEmpty })
        #expect(edge.contains { $0.headers.filter { $0.key == "k" }.count >= 3 })
        #expect(edge.contains { $0.headers.contains { $0.value == nil } })
        #expect(edge.contains { $0.timestamp < 0 } && edge.contains { $0.timestamp < -2_000_000_000_000 })
        let large = try tableVectorDescription("large-value.parquet").records()
        #expect(large.contains { ($0.value?.count ?? 0) >= 1 << 20 })
        let many = try tableVector("many-rows.parquet")
        let file = try ParquetFileReader(many)
        #expect(file.metadata.rowGroups.count >= 3)
        #expect(try file.pages(rowGroup: 0, column: 1).count >= 3)
        #expect(try file.pages(rowGroup: 0, column: 5).count >= 3, "pages of a repeated column")
    }

    static let pyarrowImportable = runProgramBlocking("python3", ["-c", "import pyarrow"]).status == 0
    static let script = repoRoot().appendingPathComponent("Tests/StrataParquetTests/Readers/check_table_files.py").path

    /// Fails, never skips, without pyarrow: tools/test installs it.
    static func requirePyarrow(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try #require(
            pyarrowImportable, "python3 cannot import pyarrow: pip install pyarrow (tools/test does)",
            sourceLocation: sourceLocation)
    }

    @Test func realReadersReadTheVectors() async throws {
        try Self.requirePyarrow()
        let result = await runProgram("python3", [Self.script, tableVectorDirectory.path])
        #expect(result.status == 0, "\(result.output)")
        for name in Self.names { #expect(result.output.contains("ok pyarrow \(name)"), "\(result.output)") }
    }

    static let pysparkImportable = runProgramBlocking("python3", ["-c", "import pyspark"]).status == 0

    /// Spark in local mode (Java 17; about 15 s to start): not installed by tools/test yet.
    @Test(.enabled(if: pysparkImportable, "needs python3 with pyspark (pip install pyspark)"))
    func sparkReadsTheVectors() async throws {
        let result = await runProgram("python3", [Self.script, "--spark", tableVectorDirectory.path])
        #expect(result.status == 0, "\(result.output)")
        for name in Self.names { #expect(result.output.contains("ok spark \(name)"), "\(result.output)") }
    }

    /// Seeded random records (binary keys, nulls, empty values, wide timestamps) in small pages
    /// and row groups, zstd and uncompressed, read by the same readers.
    @Test func realReadersReadRandomFiles() async throws {
        try Self.requirePyarrow()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-parquet-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var rng = SeededRNG(seed: 15)
        for (i, codec) in [ParquetCodec.zstd, .uncompressed, .zstd].enumerated() {
            let records = randomRecords(&rng, count: 300 + 400 * i, firstOffset: Int64(i) * 1_000_000)
            let options = RecordTableOptions(
                rowGroupRawBytesTarget: 9_000 * (i + 1),
                parquet: ParquetWriterOptions(codec: codec, pageBytesTarget: 700, pageRowCountMax: 37 + i))
            let writer = try RecordTableWriter(partition: Int32(i), options: options)
            for record in records { try writer.append(record) }
            let bytes = try writer.finish()
            let counts = try ParquetFileReader(bytes).metadata.rowGroups.map { Int($0.rowCount) }
            #expect(counts.count >= 2)
            let description = RecordTableVector(
                file: "random-\(i).parquet", partition: Int32(i), options: options, rowGroupRowCounts: counts,
                records: records)
            try Data(bytes).write(to: directory.appendingPathComponent(description.file))
            try JSONEncoder().encode(description).write(
                to: directory.appendingPathComponent(description.file + ".json"))
            #expect(try RecordTableReader.records(bytes).records == records)
        }
        let result = await runProgram("python3", [Self.script, directory.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.components(separatedBy: "ok pyarrow").count == 4, "\(result.output)")
    }
}
