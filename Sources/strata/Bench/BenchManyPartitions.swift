import Foundation
import Strata

/// many-partitions (issue 16): one topic per user. `partitions` one-partition topics, `records`
/// small records each, appended one record per call through the library (`async` topics, as the
/// issue's table measures), then what that costs: files, bytes, memory, descriptors, close,
/// reopen, random first-record reads and an offload of every partition.
struct ManyPartitionsBench {
    let options: BenchOptions
    let directory: String
    let partitions: Int
    let records: Int
    /// False: no offload phase (its fields are absent from the report).
    let offload: Bool
    /// `LakeOptions.partitionMemoryBytes` of the lake (nil: its default).
    let partitionMemoryBytes: Int?
    /// After the offload: delete three of every four topics, then compact (`Lake.compactPacked`).
    var compact = false

    /// Appenders running at once: enough to keep both cores busy without a task per partition.
    static let workers = 64
    /// Partitions the random-read phase reads the first record of.
    static let randomReads = 1_000

    func run() async throws -> BenchReport {
        let path = directory + "/many-partitions"
        removeTree(path)
        defer { removeTree(path) }
        let data = BenchData(seed: options.seed)
        let config = {
            var config = TopicConfig(); config.durability = .async; return config
        }()
        let names = (0 ..< partitions).map { "user-\($0)" }
        let lake = try openBenchLake(path, partitionMemoryBytes: partitionMemoryBytes)
        let (_, createSeconds) = try await timed {
            try await forEachPartition(names) { index, name in
                let topic = try lake.topic(name, creatingWith: config)
                _ = try await topic.append([data.event(Int64(index))])
            }
        }
        let (_, appendSeconds) = try await timed {
            for round in 1 ..< max(records, 1) {
                try await forEachPartition(names) { index, name in
                    _ = try await lake.topic(name).append([data.event(Int64(round * partitions + index))])
                }
            }
        }
        let appended = partitions * max(records - 1, 0)
        let (rss, fds) = (Self.residentBytes(), Self.openDescriptors())
        let (files, bytes) = Self.tree(path, excluding: "cold")
        let payload = Int64(partitions * records) * Int64(data.event(0).value?.count ?? 0)
        let (_, closeSeconds) = try await timed { try await lake.close() }

        let (reopened, reopenSeconds) = try await timed {
            try openBenchLake(path, partitionMemoryBytes: partitionMemoryBytes)
        }
        var generator = SystemRandomNumberGenerator()
        var latencies: [Double] = []
        for _ in 0 ..< min(Self.randomReads, partitions) {
            let name = names[Int.random(in: 0 ..< partitions, using: &generator)]
            let (result, seconds) = try await timed { try await reopened.topic(name).read(from: 0, maxBytes: 4096) }
            guard !result.records.isEmpty else { throw BenchError("\(name) read no record at offset 0") }
            latencies.append(seconds * 1000)
        }
        latencies.sort()
        let catalogBytes = Self.tree(path + "/catalog", excluding: nil).bytes
        var fields: [String: Any] = [
            "partitions": partitions, "records": records, "createPerSec": Double(partitions) / max(createSeconds, 1e-9),
            "appendAcksPerSec": Double(appended) / max(appendSeconds, 1e-9), "rssBytes": rss, "openFds": fds,
            "localFiles": files, "localBytes": bytes, "recordBytes": payload, "catalogBytes": catalogBytes,
            "closeSecs": closeSeconds, "reopenSecs": reopenSeconds, "randomReadP50Ms": percentile(latencies, 50),
            "randomReadP99Ms": percentile(latencies, 99),
        ]
        var summary = [
            "\(partitions) partitions x \(records) records: create+first append \(format(createSeconds)) s, "
                + "\(appended) more appends \(format(appendSeconds)) s",
            "rss \(rss / 1_048_576) MiB, \(fds) fds, \(files) local files, \(format(Double(bytes) / 1e6)) MB on "
                + "disk for \(format(Double(payload) / 1e6)) MB of values (catalog \(format(Double(catalogBytes) / 1e6)) MB)",
            "close \(format(closeSeconds)) s, reopen \(format(reopenSeconds)) s, random first-record read p99 "
                + "\(format(percentile(latencies, 99))) ms",
        ]
        if offload {
            let (offloaded, offloadSeconds) = try await timed { try await reopened.offload(seal: true) }
            let puts = reopened.coldStats.blob.putRequests
            let (coldFiles, coldBytes) = Self.tree(path + "/cold", excluding: nil)
            let cold = Self.coldKinds(path + "/cold")
            fields.merge([
                "offloadSecs": offloadSeconds, "segmentsOffloaded": offloaded.segmentsOffloaded,
                "coldFiles": coldFiles, "coldBytes": coldBytes, "coldObjects": cold.objects,
                "coldManifests": cold.manifests, "tableFiles": cold.tables, "coldPuts": puts,
            ]) { $1 }
            summary.append(
                "offload \(format(offloadSeconds)) s: \(coldFiles) cold files (\(cold.objects) segment objects, "
                    + "\(cold.manifests) manifests, \(cold.tables) table files), \(puts) PUTs")
            if compact {
                let (fields2, line) = try await compactPhase(reopened, names: names)
                fields.merge(fields2) { $1 }
                summary.append(line)
            }
        }
        try await reopened.close()
        return BenchReport(
            scenario: "many-partitions", value: Double(partitions) / max(createSeconds, 1e-9), unit: "partitions/s",
            fields: fields, summary: summary)
    }

    /// Deletes three of every four topics, then compacts what they left in the packed objects:
    /// seconds, requests, and the bytes under `packed/` before and after (the old objects still
    /// there: deleting them is scrub's, behind its grace period).
    private func compactPhase(
        _ lake: Lake, names: [String]
    ) async throws -> (fields: [String: Any], summary: String) {
        let (_, deleteSeconds) = try await timed {
            try await forEachPartition(names) { index, name in
                if index % 4 != 0 { _ = try await lake.deleteTopic(name) }
            }
        }
        let before = lake.coldStats.blob
        let (report, seconds) = try await timed { try await lake.compactPacked(minAgeMs: 0) }
        let after = lake.coldStats.blob
        guard report.problems.isEmpty else { throw BenchError("compaction left slices in place: \(report.problems)") }
        for (index, name) in names.enumerated() where index % 4 == 0 && index % 97 == 0 {
            let read = try await lake.topic(name).read(from: 0, maxBytes: 4096)
            guard !read.records.isEmpty else { throw BenchError("\(name) read no record after compaction") }
        }
        let fields: [String: Any] = [
            "deleteSecs": deleteSeconds, "compactSecs": seconds, "compactCandidates": report.candidates.count,
            "compactCandidateBytes": report.candidateBytes, "compactWrittenBytes": report.writtenBytes,
            "compactObjectsWritten": report.objectsWritten.count, "compactSlicesMoved": report.slicesMoved,
            "compactGets": after.getRequests - before.getRequests, "compactPuts": after.putRequests - before.putRequests,
        ]
        let summary =
            "delete 3 of 4 topics \(format(deleteSeconds)) s; compact \(format(seconds)) s: \(report.candidates.count) "
            + "objects (\(format(Double(report.candidateBytes) / 1e6)) MB) into \(report.objectsWritten.count) "
            + "(\(format(Double(report.writtenBytes) / 1e6)) MB), \(report.slicesMoved) slices moved, "
            + "\(after.getRequests - before.getRequests) GETs, \(after.putRequests - before.putRequests) PUTs"
        return (fields, summary)
    }

    /// Runs `body` once per partition, `workers` at a time, each worker taking every
    /// `workers`-th partition in order.
    private func forEachPartition(
        _ names: [String], _ body: @escaping @Sendable (Int, String) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0 ..< min(Self.workers, names.count) {
                group.addTask {
                    for index in stride(from: worker, to: names.count, by: Self.workers) {
                        try await body(index, names[index])
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Files of the filesystem cold store at `root` by kind: segment (and packed) objects,
    /// manifests (archives included), table files; the rest (`lake.json` …) in none.
    static func coldKinds(_ root: String) -> (objects: Int, manifests: Int, tables: Int) {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return (0, 0, 0) }
        var kinds = (objects: 0, manifests: 0, tables: 0)
        while let relative = walker.nextObject() as? String {
            guard walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            let parts = relative.split(separator: "/")
            if parts.first == "tables" {
                kinds.tables += 1
            } else if relative.hasSuffix(".seg.zst") || parts.first == "packed" {
                kinds.objects += 1
            } else if parts.first == "topics", relative.hasSuffix(".json") {
                kinds.manifests += 1
            }
        }
        return kinds
    }

    /// VmRSS of this process, in bytes.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// Descriptors this process holds open.
    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// Regular files under `root` and their bytes, skipping the top-level entry `excluding`.
    static func tree(_ root: String, excluding: String?) -> (files: Int, bytes: Int64) {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return (0, 0) }
        var (files, bytes) = (0, Int64(0))
        while let relative = walker.nextObject() as? String {
            if let excluding, relative == excluding {
                walker.skipDescendants()
                continue
            }
            let attributes = walker.fileAttributes
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            files += 1
            bytes += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return (files, bytes)
    }
}
