import Foundation
import StrataTesting
import Testing

@testable import StrataIceberg

/// The fixture table written to a temporary directory and read by real Iceberg readers:
/// fastavro (every manifest and manifest list, field ids in the Avro schemas), pyiceberg
/// (`StaticTable.from_metadata`, scans with a row filter and time travel) and DuckDB
/// (`iceberg_scan`, when the extension wheel for the installed DuckDB is on PyPI).
@Suite struct RealReaderTests {
    static let script = repoRoot().appendingPathComponent("Tests/StrataIcebergTests/Readers/check_iceberg_table.py")
        .path
    static let pyicebergImportable = runProgramBlocking("python3", ["-c", "import pyiceberg, fastavro"]).status == 0

    @Test func realReadersReadTheTable() async throws { try await readTable(retention: false) }

    /// After a retention commit expired the earlier snapshots and its unreferenced files were
    /// deleted, the readers find every file the table names and only the last snapshot.
    @Test func realReadersReadTheTableAfterRetention() async throws { try await readTable(retention: true) }

    func readTable(retention: Bool) async throws {
        try #require(
            Self.pyicebergImportable,
            "python3 cannot import pyiceberg and fastavro: pip install pyiceberg fastavro (tools/test does)")
        // STRATA_ICEBERG_KEEP=DIR keeps the tables in DIR and DIR-retention, to read them by hand.
        let kept = ProcessInfo.processInfo.environment["STRATA_ICEBERG_KEEP"].map {
            $0 + (retention ? "-retention" : "")
        }
        let directory =
            kept.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("strata-iceberg-\(UUID())")
        defer { if kept == nil { try? FileManager.default.removeItem(at: directory) } }
        let fixture = try FixtureTable(location: directory.path, retention: retention)
        try fixture.write(to: directory)
        try Data(fixture.expectation.pretty.utf8).write(to: directory.appendingPathComponent("expected.json"))
        let result = await runProgram("python3", [Self.script, directory.path])
        #expect(result.status == 0, "\(result.output)")
        for reader in ["fastavro", "pyiceberg", "pyiceberg-filter", "pyiceberg-time-travel"] {
            #expect(result.output.contains("ok \(reader)"), "\(result.output)")
        }
        #expect(result.output.contains("ok duckdb") || result.output.contains("skipped duckdb"), "\(result.output)")
        print(result.output)
    }
}
