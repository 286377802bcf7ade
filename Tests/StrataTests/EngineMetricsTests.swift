import Foundation
import Prometheus
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// The engine's metrics move with what it does (ARCHITECTURE.md "Observability"). Each test
/// gives its lake a Prometheus registry of its own (`LakeOptions.metrics`), so the values read
/// back are this lake's alone, whatever else the test process runs.
@Suite struct EngineMetricsTests {
    /// A registry, and lake options whose metrics go into it.
    static func metered(_ options: LakeOptions) -> (PrometheusCollectorRegistry, LakeOptions) {
        let registry = PrometheusCollectorRegistry()
        var options = options
        options.metrics = EngineMetrics(factory: PrometheusMetricsFactory(registry: registry))
        return (registry, options)
    }

    /// The value of the sample `name{labels}` in the registry's text output (nil: absent).
    static func value(_ registry: PrometheusCollectorRegistry, _ sample: String) -> Double? {
        for line in registry.emitToString().split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == sample { return Double(parts[1]) }
        }
        return nil
    }

    @Test func syncAppendsCountJournalFsyncsAndTheBytesWritten() async throws {
        try await withTempDirectory { dir in
            let (registry, options) = Self.metered(lakeOptions())
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("metered", creatingWith: topicConfig(durability: .sync))
            let segmentStart = try #require(topic.localSegments().last).segmentBytes
            for i in 0 ..< 5 { _ = try await topic.append(offsetRecords(from: Int64(i * 3), count: 3)) }
            let fsyncs = try #require(Self.value(registry, #"strata_fsyncs_total{kind="journal"}"#))
            // Five appends one after another: each waited for its own group commit; and the first
            // made the journal's first file, whose header is fdatasync'ed before any entry.
            #expect(fsyncs == 6)
            #expect(Self.value(registry, #"strata_fsync_seconds_count{kind="journal"}"#) == fsyncs)
            #expect((Self.value(registry, #"strata_fsync_seconds_sum{kind="journal"}"#) ?? 0) > 0)
            let written = try #require(topic.localSegments().last).segmentBytes - segmentStart
            #expect(Self.value(registry, "strata_segment_written_bytes_total") == Double(written))
            // A journal entry carries the batch and a frame of its own.
            #expect((Self.value(registry, "strata_journal_written_bytes_total") ?? 0) > Double(written))
            try await lake.close()
        }
    }

    @Test func anAsyncFlushCountsASegmentFsync() async throws {
        try await withTempDirectory { dir in
            let (registry, options) = Self.metered(lakeOptions())
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("async", creatingWith: topicConfig(durability: .async))
            _ = try await topic.append(offsetRecords(from: 0, count: 10))
            #expect(Self.value(registry, #"strata_fsyncs_total{kind="segment"}"#) == 0)
            try await topic.flush()
            #expect(Self.value(registry, #"strata_fsyncs_total{kind="segment"}"#) == 1)
            #expect(Self.value(registry, #"strata_fsync_seconds_count{kind="segment"}"#) == 1)
            try await lake.close()
        }
    }

    /// Every fsync kind is counted where it happens: the catalog file and the topics directory
    /// behind a first-use create (made durable by the barrier before the first record), a
    /// partition's directories and a roll's segment fdatasync, and the one syncfs of a close
    /// with more than 64 dirty logs.
    @Test func catalogDirectoryRollAndFilesystemFsyncsAreCounted() async throws {
        try await withTempDirectory { dir in
            let (registry, options) = Self.metered(lakeOptions())
            let lake = try Lake.open(dir, options: options)
            func count(_ kind: String) -> Double { Self.value(registry, "strata_fsyncs_total{kind=\"\(kind)\"}") ?? 0 }
            #expect(count("catalog") == 0)
            let topic = try lake.topic("rolled", creatingWith: topicConfig(segmentBytes: 16 * 1024, durability: .async))
            _ = try await topic.append(offsetRecords(from: 0, count: 10))
            // Nothing durable yet: the create and the partition's directories wait for a flush.
            #expect(count("catalog") == 0)
            #expect(count("directory") == 0)
            try await topic.flush()
            #expect(count("catalog") == 1)
            #expect(Self.value(registry, #"strata_fsync_seconds_count{kind="catalog"}"#) == 1)
            // The topics directory (new topic), the topic's and the partition's.
            #expect(count("directory") >= 2)
            let segmentsBefore = count("segment")
            #expect(segmentsBefore == 1)
            // About 2 KiB a record past a 16 KiB segment: rolls, each fdatasyncing the old segment.
            for i in 0 ..< 20 { _ = try await topic.append([ProducerRecord(value: Array(repeating: UInt8(i), count: 2048))]) }
            let rolls = topic.localSegments().count - 1
            #expect(rolls >= 1)
            #expect(count("segment") == segmentsBefore + Double(rolls))
            #expect(count("filesystem") == 0)

            for i in 0 ..< 65 {
                _ = try await lake.topic("dirty-\(i)", creatingWith: topicConfig(durability: .async))
                    .append(offsetRecords(from: 0, count: 1))
            }
            try await lake.close()
            #expect(count("filesystem") == 1)
            #expect(Self.value(registry, #"strata_fsync_seconds_count{kind="filesystem"}"#) == 1)
        }
    }

    @Test func offloadLagThenBlobPutsThenColdCacheMissesAndHits() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let (registry, options) = Self.metered(ColdFixture.options(store: store))
        let lake = try Lake.open(dir, options: options)
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 5_000)
        let sealed = topic.localSegments().dropLast().filter { !$0.isEmpty }
        #expect(sealed.count >= 3)
        let lag = lake.refreshMetrics()
        #expect(lag.offloadLagSegments == sealed.count)
        #expect(lag.offloadLagBytes == sealed.reduce(0) { $0 + Int64($1.segmentBytes) })
        #expect(lag.openPartitions == 1)
        #expect(Self.value(registry, "strata_offload_lag_segments") == Double(sealed.count))

        let before = lake.coldStats.blob
        let report = try await lake.offload(evict: true)
        // Offloading with eviction seals the active segment too.
        #expect(report.segmentsOffloaded >= sealed.count)
        let after = lake.coldStats.blob
        #expect(lake.refreshMetrics().offloadLagSegments == 0)
        #expect(Self.value(registry, "strata_offload_lag_bytes") == 0)
        let puts = Double(after.putRequests - before.putRequests)
        #expect(puts >= Double(sealed.count))
        #expect(Self.value(registry, #"strata_blob_requests_total{op="put"}"#) == Double(after.putRequests))
        #expect(Self.value(registry, "strata_blob_written_bytes_total") == Double(after.bytesWritten))

        // The first read of an evicted offset misses the frame cache; reading it again hits.
        var cursor = try await Cursor(topic: topic, start: .offset(1_234))
        #expect(try await cursor.next().first == ColdFixture.expected(1_234))
        let misses = try #require(Self.value(registry, "strata_cold_cache_misses_total"))
        #expect(misses >= 1)
        let hits = Self.value(registry, "strata_cold_cache_hits_total") ?? 0
        var again = try await Cursor(topic: topic, start: .offset(1_234))
        #expect(try await again.next().first == ColdFixture.expected(1_234))
        #expect(Self.value(registry, "strata_cold_cache_hits_total") == hits + 1)
        #expect(Self.value(registry, "strata_cold_cache_misses_total") == misses)
        #expect(lake.refreshMetrics().coldCacheBytes > 0)
        #expect(
            Self.value(registry, #"strata_blob_requests_total{op="get"}"#) == Double(lake.coldStats.blob.getRequests))
        try await lake.close()

        // A cold reader without a lake (export, the table writer's readers) counts into the
        // metrics it is given, not the process-wide ones.
        let (coldRegistry, coldMetrics) = Self.metered(LakeOptions())
        var coldOptions = ColdLogOptions()
        coldOptions.store = store
        coldOptions.metrics = coldMetrics.metrics
        let cold = try ColdLog.open("file:///unused-the-store-is-injected", options: coldOptions)
        #expect(try await cold.topicNames() == [ColdFixture.topicName])
        let lists = try #require(Self.value(coldRegistry, #"strata_blob_requests_total{op="list"}"#))
        #expect(lists >= 1)
        #expect(Self.value(coldRegistry, #"strata_blob_requests_total{op="get"}"#) ?? 0 == Double(cold.stats.getRequests))
    }

    @Test func failedBlobCallsCountErrorsByKindAndRetries() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        // The first three calls fail as unavailable; the tier's retry loop then succeeds.
        let plan = FaultPlan(failCalls: (1 ... 3).map { FaultPlan.FailCall(callNumber: $0) })
        let store = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: plan, seed: 1)
        let (registry, options) = Self.metered(ColdFixture.options(store: store))
        let lake = try Lake.open(dir, options: options)
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 2_000)
        _ = try await lake.offload(evict: false)
        #expect(Self.value(registry, #"strata_blob_errors_total{kind="unavailable"}"#) == 3)
        #expect(Self.value(registry, "strata_blob_retries_total") == 3)
        try await lake.close()
    }
}
