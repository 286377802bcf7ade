import Foundation
import Strata
import StrataBlob
import StrataFormat

/// offload, replay-cold and seek-cold: the cold path on the filesystem store. They share one
/// lake, `DIR/cold-lake`, whose topic ends up wholly in the cold tier; `tools/bench` runs
/// `zstd` on the objects `offload` leaves there.
struct ColdBench {
    let options: BenchOptions
    let directory: String

    static let topicName = "bench-cold"
    /// Records per produced batch: about 85 KB of clickstream events.
    static let batchRecords = 256

    /// `--encrypted`: a lake of its own, sealed with `benchKeys`, beside the plain one.
    var lakePath: String { directory + (options.encrypted ? "/cold-lake-encrypted" : "/cold-lake") }
    /// The bench's one fixed key (a benchmark's, not a secret): encryption's cost, not its keys, is measured.
    static let benchKeys = try! ColdKeyRing(keys: [(id: "bench", key: [UInt8](repeating: 0x5a, count: 32))])

    /// The shared cold lake, with the bench key when `--encrypted`.
    func openColdLake(coldCacheBytes: Int? = nil) throws -> Lake {
        try openBenchLake(lakePath, coldCacheBytes: coldCacheBytes, keyRing: options.encrypted ? Self.benchKeys : nil)
    }

    /// The scenario's name in reports: `-encrypted` appended with `--encrypted`.
    func scenarioName(_ name: String) -> String { options.encrypted ? name + "-encrypted" : name }
    /// Written once the lake's topic is wholly cold; holds the produced byte target.
    var readyPath: String { lakePath + "/bench-ready" }
    var objectsDirectory: String { lakePath + "/cold/topics/\(Self.topicName)/segments" }

    // MARK: - offload

    /// Produces `--mib` of events into an `async` topic (default 128 MiB segments), then times
    /// seal → encode → upload → verify → commit of every segment. Afterwards it evicts the local
    /// copies (not timed), leaving the lake for replay-cold and seek-cold.
    func runOffload() async throws -> BenchReport {
        removeTree(lakePath)
        let lake = try openColdLake()
        let topic = try await produce(into: lake)
        let (report, seconds, cpu) = try await timedWithCPU {
            try await lake.offload(topic: Self.topicName, seal: true, evict: false)
        }
        // The breakdown times the plain encoder: with --encrypted the pass's own numbers say it all.
        let breakdown = options.encrypted ? nil : try phaseBreakdown(topic)
        _ = try await lake.offload(topic: Self.topicName, seal: false, evict: true)
        try await lake.close()
        try Data("\(options.bytesTarget)\n".utf8).write(to: URL(fileURLWithPath: readyPath))
        let rate = megabytesPerSecond(report.rawBytes, seconds)
        var fields: [String: Any] = [
            "rawBytes": report.rawBytes, "objectBytes": report.objectBytes,
            "segments": report.segmentsOffloaded, "seconds": seconds, "cpuSeconds": cpu,
            "compressionRatio": Double(report.rawBytes) / Double(max(1, report.objectBytes)),
            "objectsDir": objectsDirectory, "lake": lakePath,
        ]
        var summary = [
            "\(report.segmentsOffloaded) segments, \(humanBytes(report.rawBytes)) raw → "
                + "\(humanBytes(report.objectBytes)) "
                + "(×\(format(Double(report.rawBytes) / Double(max(1, report.objectBytes))))) in \(format(seconds)) "
                + "s, \(format(cpu)) CPU s"
        ]
        if let breakdown {
            fields["phases"] = breakdown.fields
            summary.append(breakdown.text)
        }
        return BenchReport(scenario: scenarioName("offload"), value: rate, unit: "MB/s raw", fields: fields, summary: summary)
    }

    /// Appends `--mib` of clickstream events, flushed. Returns the topic.
    private func produce(into lake: Lake) async throws -> Topic {
        var config = TopicConfig()
        config.durability = .async
        // No table: `Lake.offload` syncs tables after the pass, which is table-write's cost, not
        // the cold tier's (seal, encode, upload, check, commit) that offload measures.
        config.table = false
        let topic = try lake.topic(Self.topicName, creatingWith: config)
        let data = BenchData(seed: options.seed)
        var next: Int64 = 0
        var written: Int64 = 0
        while written < options.bytesTarget {
            let batch = (next ..< next + Int64(Self.batchRecords)).map(data.event)
            try await topic.append(batch)
            next += Int64(batch.count)
            written += batch.reduce(0) { $0 + Int64(($1.key?.count ?? 0) + ($1.value?.count ?? 0)) }
        }
        try await topic.flush()
        return topic
    }

    /// The offloader's CPU steps on one sealed segment, timed apart on one thread: encode
    /// (compress + index) and the upload check (every frame decoded once, CRC32C of what they
    /// decode to), so the report shows the check's share.
    private func phaseBreakdown(_ topic: Topic) throws -> (fields: [String: Any], text: String)? {
        guard let segment = topic.segments().first(where: { $0.sealed && $0.bytes > 0 }) else { return nil }
        let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment.path)))
        let encodeStart = monotonicSeconds()
        let encoded = try ColdObject.encode(segment: raw, topic: Self.topicName)
        let encodeSeconds = monotonicSeconds() - encodeStart
        // The offloader's upload check (one decode of every frame), here on one thread.
        let decodeStart = monotonicSeconds()
        guard try ColdObject.uploadDecodes(encoded.bytes, expected: encoded.index) else {
            throw BenchError("the encoded segment \(segment.path) does not pass the upload check")
        }
        let decodeSeconds = monotonicSeconds() - decodeStart
        let bytes = Int64(raw.count)
        let fields: [String: Any] = [
            "segmentBytes": bytes, "encodeMBps": megabytesPerSecond(bytes, encodeSeconds),
            "verifyDecodeMBps": megabytesPerSecond(bytes, decodeSeconds),
            "verifyShare": decodeSeconds / (encodeSeconds + decodeSeconds),
        ]
        let text =
            "one segment alone, one thread: encode "
            + "\(format(megabytesPerSecond(bytes, encodeSeconds), digits: 0)) MB/s, "
            + "upload check \(format(megabytesPerSecond(bytes, decodeSeconds), digits: 0)) MB/s "
            + "(verify = \(format(100 * decodeSeconds / (encodeSeconds + decodeSeconds), digits: 0))% of encode+verify)"
        return (fields, text)
    }

    /// Builds the shared cold lake unless a previous `offload` left it.
    func ensureColdLake() async throws {
        if FileManager.default.fileExists(atPath: readyPath) { return }
        printError("bench: building the cold lake \(lakePath) (produce, offload, evict)")
        removeTree(lakePath)
        let lake = try openColdLake()
        _ = try await produce(into: lake)
        _ = try await lake.offload(topic: Self.topicName, seal: true, evict: true)
        try await lake.close()
        try Data("\(options.bytesTarget)\n".utf8).write(to: URL(fileURLWithPath: readyPath))
    }

    // MARK: - replay-cold

    /// Reads the whole topic from offset 0 with a cursor (read-ahead on) as batch views: every
    /// frame and batch checked, every record decoded in place and its key, value and headers
    /// touched (their lengths summed); MB/s of raw segment bytes.
    func runReplay() async throws -> BenchReport {
        try await ensureColdLake()
        let lake = try openColdLake()
        let topic = try lake.topic(Self.topicName)
        let cold = try await topic.coldSegments()
        guard topic.localStartOffset >= (cold.last?.lastOffset ?? 0) else {
            throw StrataError(.invalidArgument, "\(lakePath) still holds local segments; rerun `strata bench offload`")
        }
        let rawBytes = cold.reduce(0) { $0 + $1.rawBytes }
        let frames = cold.reduce(0) { $0 + $1.frameCount }
        let end = topic.highWatermark
        let before = lake.coldStats
        var records: Int64 = 0
        var fieldBytes: Int64 = 0
        let (_, seconds, cpu) = try await timedWithCPU {
            var cursor = try await Cursor(topic: topic, start: .earliest)
            var expected = cursor.nextOffset
            while cursor.nextOffset < end {
                for batch in try await cursor.nextBatches(maxBytes: 1024 * 1024) {
                    let (count, bytes, last) = Self.touch(batch, expected: expected)
                    guard count == batch.count, count > 0, last == expected + Int64(count) - 1 else {
                        throw StrataError(.corrupt, "replay expected offset \(expected)", topic: Self.topicName)
                    }
                    records += Int64(count)
                    fieldBytes += bytes
                    expected = last + 1
                }
                guard cursor.nextOffset == expected else {
                    throw StrataError(.corrupt, "replay expected offset \(expected)", topic: Self.topicName)
                }
            }
        }
        let after = lake.coldStats
        try await lake.close()
        let requests = after.blob.getRequests - before.blob.getRequests
        let bytesRead = after.blob.bytesRead - before.blob.bytesRead
        return BenchReport(
            scenario: scenarioName("replay-cold"), value: megabytesPerSecond(rawBytes, seconds), unit: "MB/s raw",
            fields: [
                "rawBytes": rawBytes, "records": records, "fieldBytes": fieldBytes, "seconds": seconds,
                "cpuSeconds": cpu, "segments": cold.count,
                "frames": frames,
                "getRequests": requests, "bytesRead": bytesRead, "recordsPerSecond": Double(records) / seconds,
                "cacheHits": after.cacheHits - before.cacheHits, "cacheMisses": after.cacheMisses - before.cacheMisses,
            ],
            summary: [
                "\(records) records, \(humanBytes(rawBytes)) raw in \(cold.count) objects / \(frames) frames, "
                    + "\(format(seconds)) s "
                    + "(\(format(Double(records) / seconds / 1e6)) M records/s), \(format(cpu)) CPU s",
                "\(requests) GETs for \(frames) frames, \(humanBytes(bytesRead)) read",
            ])
    }

    /// Walks every record of `batch` in place: the records seen, the bytes of their keys,
    /// values and headers, and the last offset (`expected - 1` when none; offsets must follow
    /// on from `expected`, else the count comes back short).
    static func touch(_ batch: RecordBatchView, expected: Int64) -> (Int, Int64, Int64) {
        batch.withRecords { views in
            var (count, bytes, next) = (0, Int64(0), expected)
            for record in views {
                guard record.offset == next else { break }
                bytes += Int64((record.key?.count ?? 0) + (record.value?.count ?? 0))
                for header in record.headers { bytes += Int64(header.key.count + (header.value?.count ?? 0)) }
                count += 1
                next += 1
            }
            return (count, bytes, next - 1)
        }
    }

    // MARK: - seek-cold

    /// Random offsets in the cold objects, read one record each. Mode "cold": a freshly opened
    /// lake per seek, so nothing is cached but the local manifest copy. Mode "tail cached": one
    /// lake whose object footers were read once and whose frame cache is off.
    func runSeek(seeks: Int) async throws -> BenchReport {
        try await ensureColdLake()
        var rng = SplitMix64(seed: options.seed)  // the same offsets for every run with a seed
        let end: Int64
        do {
            let lake = try openColdLake()
            end = try lake.topic(Self.topicName).highWatermark
            try await lake.close()
        }
        let coldOffsets = (0 ..< seeks).map { _ in Int64.random(in: 0 ..< max(1, end), using: &rng) }
        let tailOffsets = (0 ..< seeks).map { _ in Int64.random(in: 0 ..< max(1, end), using: &rng) }
        var cold = SeekTally()
        for offset in coldOffsets {
            let lake = try openColdLake()
            try await cold.seek(try lake.topic(Self.topicName), lake: lake, offset: offset)
            try await lake.close()
        }
        let lake = try openColdLake(coldCacheBytes: 0)
        let topic = try lake.topic(Self.topicName)
        for segment in try await topic.coldSegments() {
            _ = try await topic.read(from: segment.baseOffset, maxBytes: 1, readAhead: false)
        }
        var tail = SeekTally()
        for offset in tailOffsets { try await tail.seek(topic, lake: lake, offset: offset) }
        try await lake.close()
        let coldRequests = cold.requestsPerSeek, tailRequests = tail.requestsPerSeek
        return BenchReport(
            scenario: "seek-cold", value: coldRequests, unit: "requests/seek (cold caches)",
            fields: [
                "seeks": seeks, "cold": cold.fields, "tailCached": tail.fields,
                "coldRequestsPerSeek": coldRequests, "tailCachedRequestsPerSeek": tailRequests,
            ],
            summary: ["cold caches: " + cold.text, "footers cached: " + tail.text])
    }
}

/// Requests, bytes and latency of a series of seeks.
struct SeekTally {
    var requests = 0
    var bytes: Int64 = 0
    var latencies: [Double] = []

    mutating func seek(_ topic: Topic, lake: Lake, offset: Int64) async throws {
        let before = lake.coldStats.blob
        let (result, seconds) = try await timed { try await topic.read(from: offset, maxBytes: 1, readAhead: false) }
        let after = lake.coldStats.blob
        guard result.records.first?.offset == offset else {
            throw StrataError(
                .corrupt, "seek to \(offset) returned \(String(describing: result.records.first?.offset))",
                topic: topic.name)
        }
        requests += after.requests - before.requests
        bytes += after.bytesRead - before.bytesRead
        latencies.append(seconds)
    }

    var requestsPerSeek: Double { Double(requests) / Double(max(1, latencies.count)) }
    var bytesPerSeek: Double { Double(bytes) / Double(max(1, latencies.count)) }

    var fields: [String: Any] {
        let sorted = latencies.sorted()
        return [
            "requestsPerSeek": requestsPerSeek, "bytesPerSeek": bytesPerSeek,
            "p50Ms": percentile(sorted, 50) * 1000, "p99Ms": percentile(sorted, 99) * 1000,
        ]
    }

    var text: String {
        let sorted = latencies.sorted()
        return "\(format(requestsPerSeek)) requests and \(humanBytes(Int64(bytesPerSeek))) per seek, latency p50 "
            + "\(format(percentile(sorted, 50) * 1000, digits: 3)) ms, p99 "
            + "\(format(percentile(sorted, 99) * 1000, digits: 3)) ms"
    }
}
