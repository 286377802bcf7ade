import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// `strata table`, `strata export --format parquet`, and `strata inspect verify|scrub` over
/// tables (issue 15), through the built binary.
@Suite struct TableCLITests {
    static let pyarrowImportable = runProgramBlocking("python3", ["-c", "import pyarrow"]).status == 0

    /// Reads a Parquet file with pyarrow and prints its schema, then every row as the JSON object
    /// of formats/export.md (bytes as UTF-8 text when valid, else base64), so the rows compare
    /// with `strata export --format jsonl`'s.
    static let pyarrowDump = #"""
        import base64, json, sys
        import pyarrow as pa, pyarrow.parquet as pq
        t = pq.read_table(sys.argv[1])
        f = pq.ParquetFile(sys.argv[1])
        ids = [int(fl.metadata[b"PARQUET:field_id"]) for fl in t.schema]
        print(json.dumps({"names": t.schema.names, "types": [str(fl.type) for fl in t.schema], "ids": ids,
                          "rowGroups": f.metadata.num_row_groups}))
        def enc(b):
            if b is None:
                return None, None
            try:
                return b.decode("utf-8"), "utf8"
            except UnicodeDecodeError:
                return base64.b64encode(b).decode(), "base64"
        micros = t.column("timestamp").cast(pa.int64()).to_pylist()
        for i, row in enumerate(t.to_pylist()):
            key, ke = enc(row["key"])
            value, ve = enc(row["value"])
            headers = []
            for h in row["headers"]:
                hv, he = enc(h["value"])
                headers.append({"key": h["key"], "value": hv, "valueEncoding": he})
            print(json.dumps({"partition": row["partition"], "offset": row["offset"], "timestamp": micros[i] // 1000,
                              "key": key, "keyEncoding": ke, "value": value, "valueEncoding": ve, "headers": headers}))
        """#

    /// A cold store holding partition 1 of topic `days`: 90 records an hour apart (four UTC
    /// days), null and binary keys and values, empty values, headers with null values.
    static func coldTopicOverDays(_ dir: String) async throws -> (coldURL: String, count: Int) {
        var options = LakeOptions()
        options.backgroundOffload = false
        options.log = { _ in }
        let lake = try Lake.open(dir + "/lake", cold: "file://" + dir + "/cold", options: options)
        var config = Strata.TopicConfig()
        config.segmentBytes = 2048
        config.durability = .async
        config.table = false
        _ = try lake.topic("days", creatingWith: config, partitions: 2)
        let handle = try lake.partition("days", 1)
        let count = 90
        for start in stride(from: 0, to: count, by: 6) {
            let batch = (start ..< start + 6).map(Self.dayRecord)
            _ = try await handle.append(batch)
        }
        _ = try await lake.offload(topic: "days", seal: true, evict: true)
        try await lake.close()
        return ("file://" + dir + "/cold", count)
    }

    static func dayRecord(_ i: Int) -> ProducerRecord {
        var key: [UInt8]? = bytes("k\(i)")
        if i % 7 == 0 { key = [0xC3, 0x28, UInt8(i)] }
        if i % 5 == 0 { key = nil }
        var value: [UInt8]? = bytes("é\(i)")
        if i % 3 == 0 { value = [0xFF, 0x00, UInt8(i)] }
        if i % 13 == 0 { value = [] }
        if i % 11 == 0 { value = nil }
        var headers: [RecordHeader] = []
        if i % 4 == 0 {
            headers = [RecordHeader(key: "a", value: nil), RecordHeader(key: "a", value: bytes("2 \(i)"))]
        }
        let timestamp = HandTable.dayMs + Int64(i) * 3_600_000
        return ProducerRecord(key: key, value: value, headers: headers, timestamp: timestamp)
    }

    static func jsonObjects(_ text: String) throws -> [NSDictionary] {
        try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary)
        }
    }

    @Test(.enabled(if: pyarrowImportable, "needs python3 with pyarrow (pip install pyarrow)"))
    func exportParquetIsReadByPyarrowWithEveryRecordAsTheJSONExportHasIt() async throws {
        try await withTempDirectory { dir in
            let (cold, count) = try await Self.coldTopicOverDays(dir)
            let range = ["--from-offset", "3", "--to-offset", "80", "--partition", "1"]
            let file = dir + "/days.parquet"
            let parquet = try CLIRun.strata(
                ["export", "--cold", cold, "days", "--format", "parquet", "--output", file, "--quiet"] + range)
            #expect(parquet.status == 0, "\(parquet)")
            #expect(parquet.stdoutBytes.isEmpty)
            let jsonl = try CLIRun.strata(["export", "--cold", cold, "days", "--quiet"] + range)
            #expect(jsonl.status == 0, "\(jsonl)")
            #expect(count > 80)

            let script = dir + "/dump.py"
            try Data(Self.pyarrowDump.utf8).write(to: URL(fileURLWithPath: script))
            let read = await runProgram("python3", [script, file])
            try #require(read.status == 0, "\(read.output)")
            var lines = try Self.jsonObjects(read.output)
            let schema = lines.removeFirst()
            #expect(schema["names"] as? [String] == ["partition", "offset", "timestamp", "key", "value", "headers"])
            let types = schema["types"] as? [String] ?? []
            #expect(types.prefix(5) == ["int32", "int64", "timestamp[us, tz=UTC]", "binary", "binary"], "\(types)")
            #expect(types.last?.hasPrefix("list<element: struct<key: string not null, value: binary>") == true)
            #expect(schema["ids"] as? [Int] == [1, 2, 3, 4, 5, 6])

            let expected = try Self.jsonObjects(jsonl.stdout)
            #expect(expected.count == 78 && lines.count == 78)
            for (row, want) in zip(lines, expected) {
                #expect(row["partition"] as? Int == 1)
                let got = row.mutableCopy() as! NSMutableDictionary
                got.removeObject(forKey: "partition")
                #expect(got == want, "pyarrow row \(row) vs export \(want)")
            }
            // The range spans four UTC days and still is one file.
            let first = try #require(expected.first?["timestamp"] as? Int64)
            let last = try #require(expected.last?["timestamp"] as? Int64)
            #expect((last - first) / 86_400_000 >= 3)
        }
    }

    @Test(.enabled(if: pyarrowImportable, "needs python3 with pyarrow (pip install pyarrow)"))
    func exportParquetOfAnEmptyTimeWindowIsAValidFileOfNoRows() async throws {
        try await withTempDirectory { dir in
            let (cold, _) = try await Self.coldTopicOverDays(dir)
            let file = dir + "/empty.parquet"
            let run = try CLIRun.strata([
                "export", "--cold", cold, "days", "--partition", "1", "--from-time", "2099-01-01T00:00:00Z",
                "--format", "parquet", "--output", file, "--quiet",
            ])
            #expect(run.status == 0, "\(run)")
            let script = dir + "/dump.py"
            try Data(Self.pyarrowDump.utf8).write(to: URL(fileURLWithPath: script))
            let read = await runProgram("python3", [script, file])
            try #require(read.status == 0, "\(read.output)")
            let lines = try Self.jsonObjects(read.output)
            #expect(lines.count == 1, "\(read.output)")  // the schema, no row
            #expect((lines.first?["names"] as? [String])?.count == 6)
        }
    }

    @Test func exportParquetWithoutAnOutputFileIsAUsageError() async throws {
        try await withTempDirectory { dir in
            let (cold, _) = try await Self.coldTopicOverDays(dir)
            let run = try CLIRun.strata(["export", "--cold", cold, "days", "--partition", "1", "--format", "parquet"])
            #expect(run.status == 2, "\(run)")
            #expect(run.stderr.contains("--format parquet needs --output"), "\(run)")
            #expect(run.stdoutBytes.isEmpty)
        }
    }

    @Test func tableHelpSaysWhatATableIsAndHowEnginesReadIt() throws {
        let help = try CLIRun.strata(["table", "--help"])
        #expect(help.status == 0, "\(help)")
        for text in ["tables/<topic>/", "Iceberg", "pyiceberg", "iceberg_scan", "USAGE: strata table"] {
            #expect(help.stdout.contains(text), "\(text): \(help.stdout)")
        }
        let status = try CLIRun.strata(["table", "status", "--help"])
        #expect(status.stdout.contains("USAGE: strata table status"), "\(status)")
        #expect(status.stdout.contains("--json"))
        let rebuild = try CLIRun.strata(["table", "rebuild", "--help"])
        #expect(rebuild.stdout.contains("USAGE: strata table rebuild"), "\(rebuild)")
    }

    @Test func inspectVerifyNamesAFlippedByteInATableDataFile() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        let files = try fixture.dataFiles()
        try fixture.commit(files)
        let clean = try CLIRun.strata(["inspect", "verify", "--lake", fixture.dir])
        #expect(clean.status == 0, "\(clean)")
        #expect(clean.stderr.contains("4 table files (120 rows)"), "\(clean)")

        let key = fixture.key(files[0])
        try flipTableByte(fixture.coldRoot + "/" + key, at: Int(files[0].fileSizeInBytes) / 3)
        let run = try CLIRun.strata(["inspect", "verify", "--lake", fixture.dir])
        #expect(run.status == 1, "\(run)")
        let lines = run.stdout.split(separator: "\n").filter { $0.contains("corruptTableFile") }
        #expect(lines.count == 1, "\(run)")
        #expect(lines.first?.hasPrefix("orders \(key) ") == true, "\(run)")
    }

    @Test func inspectScrubFindsAPlantedTableOrphan() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        try fixture.commit(fixture.dataFiles())
        let orphan = fixture.tablePrefix + "metadata/snap-99-1-0000dead-0000-4000-8000-000000000000.avro"
        try fixture.plant(orphan)
        let run = try CLIRun.strata(["inspect", "scrub", "--lake", fixture.dir, "--json"])
        #expect(run.status == 1, "\(run)")
        let findings = try Self.jsonObjects(run.stdout).filter { $0["summary"] == nil }
        let table = findings.filter { ($0["key"] as? String)?.hasPrefix("tables/") == true }
        #expect(table.count == 1, "\(run)")
        #expect(table.first?["kind"] as? String == "orphanTableFile")
        #expect(table.first?["key"] as? String == orphan)
    }

    // MARK: - With the engine's table writer

    /// Data file keys of `orders`'s table under the lake's file cold store, sorted.
    static func dataKeys(_ cold: String) -> [String] {
        let root = cold + "/tables/orders/data"
        let found = FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []
        return found.filter { $0.hasSuffix(".parquet") }.map { "tables/orders/data/" + $0 }.sorted()
    }

    @Test func tableStatusVerifyRebuildAndScrubOfATableTheWriterWrote() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let cold = lake + "/cold"
            // Two partitions, one offload each: two live data files in two snapshots (one
            // partition's second pass would merge its small file instead).
            let create = try CLIRun.strata(["topics", "create", "--lake", lake, "orders", "--partitions", "2"])
            try #require(create.status == 0, "\(create)")
            for (partition, range) in [(0, 1 ... 50), (1, 51 ... 90)] {
                let input = range.map { "record \($0)" }.joined(separator: "\n") + "\n"
                let produce = try CLIRun.strata(
                    ["produce", "--lake", lake, "orders", "--partition", String(partition)], stdin: input)
                try #require(produce.status == 0, "\(produce)")
                let offload = try CLIRun.strata(["offload", "--lake", lake])
                try #require(offload.status == 0, "\(offload)")
            }
            let status = try CLIRun.strata(["table", "status", "--lake", lake, "orders", "--json"])
            #expect(status.status == 0, "\(status)")
            let object = try #require(try Self.jsonObjects(status.stdout).first)
            #expect(object["rows"] as? Int == 90 && object["dataFiles"] as? Int == 2, "\(status)")
            #expect(object["metadataVersion"] as? Int == 2 && object["enabled"] as? Bool == true)
            let partition = try #require((object["partitions"] as? [NSDictionary])?.first)
            #expect(partition["manifestEnd"] as? Int == 50 && partition["tableEnd"] as? Int == 50)
            #expect(partition["lagOffsets"] as? Int == 0 && partition["lagSegments"] as? Int == 0)
            let text = try CLIRun.strata(["table", "status", "--lake", lake])
            #expect(text.stdout.contains("orders: \(cold)/tables/orders, metadata v2"), "\(text)")
            #expect(text.stdout.contains("PARTITION  LOG-START  MANIFEST-END  TABLE-END  LAG-OFFSETS"), "\(text)")

            let clean = try CLIRun.strata(["inspect", "verify", "--lake", lake])
            #expect(clean.status == 0, "\(clean)")
            let keys = Self.dataKeys(cold)
            try #require(keys.count == 2)
            let size = try #require(FileIO.fileSize(atPath: cold + "/" + keys[1]))
            try flipTableByte(cold + "/" + keys[1], at: size / 3)
            try FileManager.default.removeItem(atPath: cold + "/" + keys[0])
            let damaged = try CLIRun.strata(["inspect", "verify", "--lake", lake])
            #expect(damaged.status == 1, "\(damaged)")
            let lines = damaged.stdout.split(separator: "\n").map(String.init)
            #expect(
                lines.contains { $0.hasPrefix("orders \(keys[1]) ") && $0.contains("corruptTableFile") }, "\(damaged)")
            #expect(lines.contains { $0.hasPrefix("orders \(keys[0]) - missingTableFile") }, "\(damaged)")

            let rebuild = try CLIRun.strata(["table", "rebuild", "--lake", lake, "orders"])
            #expect(rebuild.status == 0, "\(rebuild)")
            #expect(rebuild.stdout.contains("(90 rows"), "\(rebuild)")
            let rebuilt = try CLIRun.strata(["inspect", "verify", "--lake", lake])
            #expect(rebuilt.status == 0, "\(rebuilt)")

            let orphan = "tables/orders/data/partition=0/timestamp_day=2026-01-01/planted.parquet"
            try FileManager.default.createDirectory(
                atPath: cold + "/tables/orders/data/partition=0/timestamp_day=2026-01-01",
                withIntermediateDirectories: true)
            try Data("planted".utf8).write(to: URL(fileURLWithPath: cold + "/" + orphan))
            let scrub = try CLIRun.strata(["inspect", "scrub", "--lake", lake])
            #expect(scrub.status == 1, "\(scrub)")
            #expect(scrub.stdout.contains("orphanTableFile orders \(orphan): "), "\(scrub)")
            let deleted = try CLIRun.strata(["inspect", "scrub", "--lake", lake, "--delete-orphans", "--grace-ms", "0"])
            #expect(deleted.status == 0, "\(deleted)")
            #expect(!FileManager.default.fileExists(atPath: cold + "/" + orphan))
            let after = try CLIRun.strata(["inspect", "verify", "--lake", lake])
            #expect(after.status == 0, "\(after)")
        }
    }

    @Test func tableStatusOfAnUnknownTopicIsAUsageError() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            _ = try CLIRun.strata(["produce", "--lake", lake, "orders"], stdin: "a\n")
            let run = try CLIRun.strata(["table", "status", "--lake", lake, "nosuch"])
            #expect(run.status == 2, "\(run)")
            #expect(run.stderr.contains("nosuch"), "\(run)")
            let rebuild = try CLIRun.strata(["table", "rebuild", "--lake", dir + "/nolake", "orders"])
            #expect(rebuild.status == 2, "\(rebuild)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/nolake"))
        }
    }
}
