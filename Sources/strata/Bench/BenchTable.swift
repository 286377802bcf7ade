import ArgumentParser
import Foundation
import Strata
import StrataFormat
import StrataParquet

/// Which table writer table-write measures.
enum BenchTableWriter: String, CaseIterable, ExpressibleByArgument {
    /// `RecordTableWriter` on each cold object's records (decompress, decode, write Parquet), one
    /// data file per cold segment: the work of the table writer without its Iceberg commits.
    case direct
    /// `Lake.syncTable` after the offload: the engine's table writer, commits included.
    case engine
}

/// table-write and table-query (issue 15): the cost of a topic's table and what it buys. Both use
/// the lake `DIR/table-lake`: a 4-partition `async` topic of `--mib` clickstream events, sealed,
/// offloaded and evicted, so its records are only in the cold objects.
/// - table-write: CPU seconds of the table writer against the cold encode (`ColdObject.encode`,
///   the offload's encode) of the same segments, both single-threaded in this process, best of
///   the rounds; the value is the extra CPU ratio (target ≤ 0.5), with Parquet bytes against
///   cold-object bytes beside it.
/// - table-query: a DuckDB aggregate over the table's Parquet files against the same aggregate
///   over the JSON lines export (`strata export`) of the same records, in one Python process
///   (`tools/table-query-bench.py`), both answers checked against the produced records; the
///   value is the speed-up.
struct TableBench {
    let options: BenchOptions
    let directory: String
    let writer: BenchTableWriter
    /// `tools/table-query-bench.py`; nil: searched as the Kafka benches search theirs.
    let helper: String?

    static let topicName = "bench-table"
    static let partitions: Int32 = 4
    static let batchRecords = 256

    var lakePath: String { directory + "/table-lake" }
    var coldPath: String { lakePath + "/cold" }
    /// Holds the size, seed and writer the lake was built for.
    var readyPath: String { lakePath + "/bench-ready" }
    /// Per partition: records, sum of offsets, first and last timestamp (ms), from the produced records.
    var expectedPath: String { lakePath + "/bench-expected.json" }
    /// The direct writer's data files, one per cold segment.
    var directDataPath: String { lakePath + "/parquet" }
    /// Written once the table's data files are complete.
    var tableReadyPath: String { lakePath + "/table-ready" }
    var exportPath: String { lakePath + "/export" }

    // MARK: - table-write

    func runWrite() async throws -> BenchReport {
        try await ensureLake()
        let objects = try await coldObjects()
        let rawBytes = objects.reduce(Int64(0)) { $0 + $1.segment.rawBytes }
        let objectBytes = objects.reduce(Int64(0)) { $0 + $1.segment.objectBytes }
        let rounds = options.quick ? 1 : 3
        var encodeCPU = Double.infinity
        var encodedBytes: Int64 = 0
        var table = TableWriteTally(cpuSeconds: .infinity)
        removeTree(tableReadyPath)
        for round in 0 ..< rounds {
            // Alternate the two sides inside each round, so a noisy moment hits both.
            let (bytes, cpu) = try coldEncode(objects)
            encodeCPU = min(encodeCPU, cpu)
            encodedBytes = bytes
            let tally: TableWriteTally
            switch writer {
            case .direct: tally = try writeDirect(objects, keepFiles: round == rounds - 1)
            case .engine: tally = try await writeEngine(rebuild: round > 0)
            }
            if tally.cpuSeconds < table.cpuSeconds { table = tally }
            benchDetail("table-write", ["round": round, "encodeCpuSeconds": cpu, "tableCpuSeconds": tally.cpuSeconds])
        }
        try Data("\(writer.rawValue)\n".utf8).write(to: URL(fileURLWithPath: tableReadyPath))
        let ratio = table.cpuSeconds / max(encodeCPU, 1e-9)
        let bytesRatio = Double(table.parquetBytes) / Double(max(1, objectBytes))
        var fields: [String: Any] = [
            "writer": writer.rawValue, "segments": objects.count, "partitions": Int(Self.partitions),
            "rows": table.rows, "rawBytes": rawBytes, "coldObjectBytes": objectBytes,
            "coldEncodeBytes": encodedBytes, "parquetBytes": table.parquetBytes, "parquetFiles": table.files,
            "parquetToColdBytes": bytesRatio, "coldEncodeCpuSeconds": encodeCPU, "tableCpuSeconds": table.cpuSeconds,
            "extraCpuRatio": ratio, "rounds": rounds,
            "coldEncodeMBps": megabytesPerSecond(rawBytes, encodeCPU),
            "tableMBps": megabytesPerSecond(rawBytes, table.cpuSeconds),
        ]
        if let decode = table.decodeCpuSeconds { fields["tableDecodeCpuSeconds"] = decode }
        if let wall = table.seconds { fields["tableSeconds"] = wall }
        var summary = [
            "\(objects.count) cold segments of \(Self.partitions) partitions, \(table.rows) records, "
                + "\(humanBytes(rawBytes)) raw: cold encode \(format(encodeCPU, digits: 3)) CPU s, table writer "
                + "(\(writer.rawValue)) \(format(table.cpuSeconds, digits: 3)) CPU s = ×\(format(ratio)) extra",
            "Parquet \(humanBytes(table.parquetBytes)) in \(table.files) files vs cold objects "
                + "\(humanBytes(objectBytes)) (×\(format(bytesRatio)))",
        ]
        if let decode = table.decodeCpuSeconds {
            summary.append(
                "of the table writer's CPU: \(format(decode, digits: 3)) s reading the cold objects' records "
                    + "(decompress, decode), \(format(table.cpuSeconds - decode, digits: 3)) s writing Parquet")
        }
        return BenchReport(
            scenario: "table-write", value: ratio, unit: "× cold encode CPU (extra)", fields: fields, summary: summary)
    }

    /// `ColdObject.encode` of every segment (decompressed from its object first, not timed):
    /// the encode the offload did. Returns the encoded bytes and the CPU seconds of the encodes.
    private func coldEncode(_ objects: [ColdObjectFile]) throws -> (Int64, Double) {
        var bytes: Int64 = 0
        var cpu = 0.0
        for object in objects {
            let raw = try ColdObject.decodeSegment(try readFile(object.path)).segment
            let start = cpuSeconds()
            let encoded = try ColdObject.encode(segment: raw, topic: object.log)
            cpu += cpuSeconds() - start
            bytes += Int64(encoded.bytes.count)
        }
        return (bytes, cpu)
    }

    /// `RecordTableWriter` on every cold object's records: decompress, decode every batch, write
    /// one Parquet file per segment. Timed: everything but reading the object file and writing
    /// the Parquet bytes out.
    private func writeDirect(_ objects: [ColdObjectFile], keepFiles: Bool) throws -> TableWriteTally {
        if keepFiles {
            removeTree(directDataPath)
            try FileManager.default.createDirectory(atPath: directDataPath, withIntermediateDirectories: true)
        }
        var tally = TableWriteTally(cpuSeconds: 0, decodeCpuSeconds: 0)
        for object in objects {
            let bytes = try readFile(object.path)
            let start = cpuSeconds()
            let raw = try ColdObject.decodeSegment(bytes).segment
            let records = try Self.records(ofSegment: raw)
            let decoded = cpuSeconds()
            let file = try RecordTableWriter(partition: object.partition)
            var parquet: [UInt8] = []
            for record in records {
                try file.append(record)
                if file.byteCount - parquet.count >= 1 << 20 { parquet += file.takeBytes() }
            }
            parquet += try file.finish()
            tally.cpuSeconds += cpuSeconds() - start
            tally.decodeCpuSeconds! += decoded - start
            tally.rows += Int64(records.count)
            tally.parquetBytes += Int64(parquet.count)
            tally.files += 1
            if keepFiles {
                let name = String(format: "%05d-%020lld.parquet", object.partition, object.segment.baseOffset)
                try Data(parquet).write(to: URL(fileURLWithPath: directDataPath + "/" + name))
            }
        }
        return tally
    }

    /// `Lake.rebuildTable` of the offloaded topic: the engine's table writer writing every
    /// partition from the cold objects, commit included, CPU of the whole call. (`offload`
    /// already synced the table while the lake was built, so a `syncTable` would find nothing
    /// to do; a rebuild is the same work as that first pass.)
    private func writeEngine(rebuild: Bool) async throws -> TableWriteTally {
        let lake = try openBenchLake(lakePath)
        let (report, seconds, cpu) = try await timedWithCPU {
            rebuild || writer == .engine
                ? try await lake.rebuildTable(Self.topicName) : try await lake.syncTable(Self.topicName)
        }
        try await lake.close()
        return TableWriteTally(
            cpuSeconds: cpu, decodeCpuSeconds: nil, seconds: seconds, rows: report.rowsAdded,
            parquetBytes: report.bytesAdded, files: report.filesAdded)
    }

    /// Every record of a raw segment, batch by batch (formats/segment.md: the header, then
    /// batches back to back), each batch checked.
    static func records(ofSegment raw: [UInt8]) throws -> [Record] {
        try raw.withUnsafeBytes { (buffer) throws -> [Record] in
            _ = try SegmentHeader.decode(buffer)
            var records: [Record] = []
            var position = SegmentHeader.size
            while position < buffer.count {
                guard let length = BatchCodec.declaredLength(buffer, at: position), length > 0 else {
                    throw BenchError("segment: a truncated batch at byte \(position)")
                }
                records += try BatchCodec.decode(buffer, at: position).records
                position += length
            }
            return records
        }
    }

    // MARK: - table-query

    func runQuery() async throws -> BenchReport {
        try await ensureLake()
        if !FileManager.default.fileExists(atPath: tableReadyPath) {
            printError("bench: writing the table of \(lakePath) (\(writer.rawValue))")
            switch writer {
            case .direct: _ = try writeDirect(try await coldObjects(), keepFiles: true)
            case .engine: _ = try await writeEngine(rebuild: false)
            }
            try Data("\(writer.rawValue)\n".utf8).write(to: URL(fileURLWithPath: tableReadyPath))
        }
        let parquet = try dataFiles()
        guard !parquet.isEmpty else { throw BenchError("no Parquet data file under \(lakePath)") }
        let exports = try exportJSON()
        let expected = try String(contentsOfFile: expectedPath, encoding: .utf8)
        var arguments = parquet.flatMap { ["--parquet", $0] }
        arguments += exports.flatMap { ["--json", "\($0.partition)=\($0.path)"] }
        arguments += ["--expected", expected, "--rounds", String(options.quick ? 2 : 5)]
        let result = try runPython(arguments)
        let speedup = result["speedup"] as? Double ?? 0
        let parquetSeconds = result["parquetSeconds"] as? Double ?? 0
        let jsonSeconds = result["jsonSeconds"] as? Double ?? 0
        var fields = result
        fields["writer"] = writer.rawValue
        return BenchReport(
            scenario: "table-query", value: speedup, unit: "× faster than over the JSON export",
            fields: fields,
            summary: [
                "DuckDB \(result["duckdb"] ?? "?"): count, sum(offset), min/max(timestamp) by partition over "
                    + "\(result["rows"] ?? 0) records: Parquet (\(parquet.count) files, "
                    + "\(humanBytes((result["parquetBytes"] as? NSNumber)?.int64Value ?? 0))) "
                    + "\(format(parquetSeconds, digits: 3)) s, JSON lines export ("
                    + "\(humanBytes((result["jsonBytes"] as? NSNumber)?.int64Value ?? 0))) "
                    + "\(format(jsonSeconds, digits: 3)) s: ×\(format(speedup))",
                "both answers equal the produced records' (checked by the script)",
            ])
    }

    /// The table's data files: the direct writer's, or every `.parquet` under the table's prefix.
    private func dataFiles() throws -> [String] {
        let root =
            writer == .direct ? directDataPath : coldPath + "/" + BucketLayout().tablePrefix(topic: Self.topicName)
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            if relative.hasSuffix(".parquet") { files.append(root + "/" + relative) }
        }
        return files.sorted()
    }

    /// `strata export --format jsonl` of every partition into `DIR/table-lake/export` (once per lake).
    private func exportJSON() throws -> [(partition: Int32, path: String)] {
        let files = (0 ..< Self.partitions).map { (partition: $0, path: exportPath + "/partition-\($0).jsonl") }
        if files.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) }) { return files }
        removeTree(exportPath)
        try FileManager.default.createDirectory(atPath: exportPath, withIntermediateDirectories: true)
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        for file in files {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = [
                "export", "--cold", "file://" + coldPath, Self.topicName, "--partition", String(file.partition),
                "--format", "jsonl", "--output", file.path, "--quiet",
            ]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw BenchError("strata export of partition \(file.partition) exited \(process.terminationStatus)")
            }
        }
        return files
    }

    private func runPython(_ arguments: [String]) throws -> [String: Any] {
        try runPythonJSON(try BenchScript.locate("table-query-bench.py", given: helper), arguments)
    }

    // MARK: - the lake

    /// Builds the lake unless a previous run left it at this size, seed and writer: `--mib` of
    /// clickstream events spread evenly over the partitions (`async`, default 128 MiB segments),
    /// sealed, offloaded, evicted. The direct writer's lake has `table` off, so the offload writes
    /// no table of its own.
    func ensureLake() async throws {
        let stamp = "\(options.bytesTarget) \(options.seed) \(writer.rawValue)\n"
        if (try? String(contentsOfFile: readyPath, encoding: .utf8)) == stamp { return }
        printError("bench: building the table lake \(lakePath) (produce \(Self.partitions) partitions, offload, evict)")
        removeTree(lakePath)
        // This bench reads each segment's object file directly: no packed objects (§2k).
        let lake = try openBenchLake(lakePath, packSegmentBytesMax: 0)
        var config = TopicConfig()
        config.durability = .async
        config.table = writer == .engine
        _ = try lake.topic(Self.topicName, creatingWith: config, partitions: Self.partitions)
        let data = BenchData(seed: options.seed)
        var next: Int64 = 0
        let perPartition = options.bytesTarget / Int64(Self.partitions)
        var expected: [String: [Int64]] = [:]
        for partition in 0 ..< Self.partitions {
            let topic = try lake.partition(Self.topicName, partition)
            var written: Int64 = 0
            var (count, offsetSum, first, last): (Int64, Int64, Int64, Int64) = (0, 0, .max, .min)
            while written < perPartition {
                let batch = (next ..< next + Int64(Self.batchRecords)).map(data.event)
                let result = try await topic.append(batch)
                for (i, record) in batch.enumerated() {
                    offsetSum += result.firstOffset + Int64(i)
                    first = min(first, record.timestamp ?? .max)
                    last = max(last, record.timestamp ?? .min)
                }
                count += Int64(batch.count)
                next += Int64(batch.count)
                written += batch.reduce(0) { $0 + Int64(($1.key?.count ?? 0) + ($1.value?.count ?? 0)) }
            }
            try await topic.flush()
            expected[String(partition)] = [count, offsetSum, first, last]
        }
        _ = try await lake.offload(topic: Self.topicName, seal: true, evict: true)
        try await lake.close()
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: expectedPath))
        try Data(stamp.utf8).write(to: URL(fileURLWithPath: readyPath))
    }

    /// Every cold segment of every partition, with its object file in the filesystem store.
    private func coldObjects() async throws -> [ColdObjectFile] {
        let lake = try openBenchLake(lakePath)
        var objects: [ColdObjectFile] = []
        for partition in 0 ..< Self.partitions {
            let topic = try lake.partition(Self.topicName, partition)
            for segment in try await topic.coldSegments() {
                objects.append(
                    ColdObjectFile(
                        partition: partition, log: topic.name, segment: segment, path: coldPath + "/" + segment.key))
            }
        }
        try await lake.close()
        return objects
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// One cold object of the table lake.
struct ColdObjectFile {
    let partition: Int32
    /// The partition's log name (`bench-table/2`), as the object's index records it.
    let log: String
    let segment: ManifestSegment
    let path: String
}

/// What one table-write round cost and produced.
struct TableWriteTally {
    var cpuSeconds: Double
    /// The direct writer's share spent reading the records out of the cold objects.
    var decodeCpuSeconds: Double? = nil
    var seconds: Double? = nil
    var rows: Int64 = 0
    var parquetBytes: Int64 = 0
    var files = 0
}

/// Finds a helper script of `tools/` next to the binary (up to six directories up) or in the
/// working directory.
enum BenchScript {
    static func locate(_ name: String, given: String?) throws -> String {
        if let given { return given }
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = (exe as NSString).deletingLastPathComponent
            for _ in 0 ..< 6 {
                candidates.append(dir + "/tools/" + name)
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/tools/" + name)
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw BenchError("tools/\(name) not found")
        }
        return found
    }
}
