import Foundation
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Packed cold objects (ARCHITECTURE.md §2k): small sealed segments of many logs offloaded into
/// shared objects, read back through every reader, kept safe by retention, checked by verify and
/// cleaned by scrub.
@Suite struct PackedOffloadTests {
    static let logCount = 24
    static let recordsPerLog = 40

    static func options(
        store: (any BlobStore)? = nil, objectBytes: Int = 6 * 1024, clock: (any StrataClock)? = nil
    ) -> LakeOptions {
        var options = ColdFixture.options(store: store, clock: clock)
        options.packObjectBytes = objectBytes
        options.packSegmentBytesMax = 1 << 20
        options.tables = false
        return options
    }

    /// `logCount` one-partition topics `t00`…, each with `recordsPerLog` records in one segment.
    static func produce(_ lake: Lake, logs: Int = logCount, from: Int = 0) async throws -> [Topic] {
        var topics: [Topic] = []
        for i in 0 ..< logs {
            let topic = try lake.topic(String(format: "t%02d", i), creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, from ..< from + recordsPerLog, batch: 10)
            topics.append(topic)
        }
        return topics
    }

    /// Every record of every log, read through the lake (either tier).
    static func expectAllRecords(_ topics: [Topic], count: Int = recordsPerLog) async throws {
        for topic in topics {
            var cursor = try await Cursor(topic: topic, start: .offset(0))
            let records = try await ColdFixture.readAll(&cursor, until: Int64(count))
            #expect(ColdFixture.firstMismatch(records, 0 ..< count) == nil, "\(topic.name)")
        }
    }

    static func packedKeys(_ store: any BlobStore) async throws -> [String] {
        try await ColdFixture.keys(store, prefix: "packed/")
    }

    @Test func manySmallLogsShareFewObjectsAndReadBackFromEitherTier() async throws {
        let store = MemoryBlobStore()
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: Self.options(store: store))
        let topics = try await Self.produce(lake)
        try await Self.expectAllRecords(topics)  // hot

        let report = try await lake.offload(seal: true)
        #expect(report.segmentsOffloaded == Self.logCount)
        let packed = try await Self.packedKeys(store)
        #expect(report.packedObjects == packed.count)
        #expect(packed.count >= 2, "the 6 KiB bound splits them")
        #expect(packed.count < Self.logCount / 2)
        // No standalone object was written; each manifest points into a packed object.
        let standalone = try await ColdFixture.keys(store, prefix: "topics/").filter { $0.hasSuffix(".seg.zst") }
        #expect(standalone == [])
        var referenced: Set<String> = []
        for topic in topics {
            let manifest = try #require(try await ColdFixture.storedManifest(store, topic: topic.name))
            #expect(manifest.formatVersion == 2)
            #expect(manifest.nextOffset == Int64(Self.recordsPerLog))
            for entry in manifest.segments {
                #expect(entry.isPacked)
                referenced.insert(entry.key)
                let pack = try PackedObject.parseIndex(object: try await store.get(entry.key, range: .whole).bytes)
                let slice = try #require(pack.slice(log: topic.name, baseOffset: entry.baseOffset))
                #expect(slice.sliceOffset == entry.objectOffset)
                #expect(slice.sliceBytes == entry.objectBytes)
            }
        }
        #expect(referenced == Set(packed))
        try await Self.expectAllRecords(topics)  // both tiers hold them

        _ = try await lake.offload(seal: false, evict: true)
        for topic in topics { #expect(topic.localStartOffset == Int64(Self.recordsPerLog)) }
        try await Self.expectAllRecords(topics)  // cold only

        // Batch reads (Kafka fetch) and time lookups go through the slices too.
        let batches = try await topics[5].readBatches(from: 0)
        #expect(batches.batches.first?.header.baseOffset == 0)
        #expect(batches.batches.reduce(0) { $0 + Int($1.header.recordCount) } > 0)
        #expect(try await topics[7].offset(forTimestamp: ColdFixture.timestampBaseMs - 700) == 0)

        let verify = try await lake.verify()
        #expect(verify.problems == [])
        #expect(verify.objectsChecked == Self.logCount)
        let scrub = try await lake.scrub(deleteOrphans: false)
        #expect(scrub.problems == [])
        try await lake.close()
    }

    /// The background tick packs the small sealed segments of the logs it visits (before their
    /// own offload passes), as `Lake.offload` does.
    @Test func theBackgroundTickPacksSealedSmallSegments() async throws {
        let store = MemoryBlobStore()
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        var options = Self.options(store: store)
        options.backgroundOffload = true
        options.clock = ManualClock()  // the loop itself sleeps; the test ticks by hand
        let lake = try Lake.open(dir, options: options)
        let topics = try await Self.produce(lake)
        for topic in topics { try topic.sealActiveSegment() }
        await lake.backgroundTick()
        #expect(try await Self.packedKeys(store).count >= 2)
        let standalone = try await ColdFixture.keys(store, prefix: "topics/").filter { $0.hasSuffix(".seg.zst") }
        #expect(standalone == [], "every small segment went into a packed object")
        for topic in topics {
            let manifest = try #require(try await ColdFixture.storedManifest(store, topic: topic.name))
            #expect(manifest.nextOffset == Int64(Self.recordsPerLog))
            #expect(manifest.segments.allSatisfy { $0.objectOffset != nil })
        }
        try await Self.expectAllRecords(topics)
        try await lake.close()
    }

    @Test func coldLogExportPathAndTablesReadPackedSlices() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        var options = Self.options()
        options.tables = true
        let lake = try Lake.open(dir, options: options)
        let topics = try await Self.produce(lake, logs: 6)
        _ = try await lake.offload(seal: true, evict: true)
        // A fresh reader of the bucket alone (what `strata export` uses).
        let log = try ColdLog.open("file://" + dir + "/cold")
        for topic in topics {
            #expect(try await log.offsets(topic.name) == 0 ..< Int64(Self.recordsPerLog))
            var records: [Record] = []
            for try await chunk in try await log.records(topic.name, in: 0 ..< Int64(Self.recordsPerLog)) {
                records += chunk
            }
            #expect(ColdFixture.firstMismatch(records, 0 ..< Self.recordsPerLog) == nil, "\(topic.name)")
        }
        // The table writer read every slice (the offload synced the tables).
        for topic in topics {
            let status = try await lake.tableStatus(topic.name)
            #expect(status.rows == Int64(Self.recordsPerLog), "\(topic.name)")
        }
        try await lake.close()
    }

    /// A store that refuses manifest puts while `refusing` is set (the commits after a packed
    /// object's put fail, as in a crash between them).
    final class ManifestRefusingStore: BlobStore {
        let inner: any BlobStore
        let refusing = Mutex(true)
        init(_ inner: any BlobStore) { self.inner = inner }
        var location: String { inner.location }
        func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
            if key.contains("/manifest/"), refusing.withLock({ $0 }) {
                throw BlobError(.unavailable, "refused for the test", key: key, location: location)
            }
            try await inner.put(key, bytes, mode: mode)
        }
        func get(_ key: String, range: ByteRange) async throws -> BlobData { try await inner.get(key, range: range) }
        func head(_ key: String) async throws -> BlobInfo { try await inner.head(key) }
        func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
            try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
        }
        func delete(_ keys: [String]) async throws { try await inner.delete(keys) }
    }

    @Test func crashBetweenThePutAndTheCommitsLosesNothingAndLeavesAnOrphanScrubDeletes() async throws {
        let inner = MemoryBlobStore()
        let refusing = ManifestRefusingStore(inner)
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        do {
            var lake: Lake? = try Lake.open(dir, options: Self.options(store: refusing, objectBytes: 1 << 20))
            var produced = try await Self.produce(try #require(lake), logs: 8)
            for topic in produced { try topic.sealActiveSegment() }
            // The packed pass alone (Lake.offload would go on to the standalone offloader).
            let first = await lake?.offloadPacked(produced)
            #expect(first?.segmentsOffloaded == 0)
            #expect(first?.packedObjects == 1)
            produced = []
            lake = nil  // crash: the object is in the store, no manifest references it
            _ = lake
        }
        let orphans = try await Self.packedKeys(inner)
        #expect(orphans.count == 1)

        let reopened = try Lake.open(dir, options: Self.options(store: inner, objectBytes: 1 << 20))
        let topics = try (0 ..< 8).map { try reopened.topic(String(format: "t%02d", $0)) }
        try await Self.expectAllRecords(topics)
        let second = try await reopened.offload(seal: true, evict: true)
        #expect(second.segmentsOffloaded == 8)
        try await Self.expectAllRecords(topics)
        let scrub = try await reopened.scrub(deleteOrphans: true, graceMs: 0)
        #expect(scrub.findings.filter { $0.kind == .orphanObject }.map(\.key) == orphans)
        #expect(scrub.deleted == orphans)
        let left = try await Self.packedKeys(inner)
        #expect(left.count == 1 && left != orphans)
        #expect(try await reopened.verify().problems == [])
        try await Self.expectAllRecords(topics)
        try await reopened.close()
    }

    @Test(arguments: [UInt64(3), 2026])
    func offloadThroughAFlakyStoreKeepsEveryRecord(seed: UInt64) async throws {
        let inner = MemoryBlobStore()
        let plan = FaultPlan(unavailableFraction: 0.15, truncatedGetFraction: 0.05, failAfterPutFraction: 0.05)
        let faulty = FaultyBlobStore(wrapping: inner, plan: plan, seed: seed)
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: Self.options(store: faulty))
        let topics = try await Self.produce(lake)
        var offloaded = 0
        for _ in 0 ..< 5 where offloaded < Self.logCount {
            offloaded += try await lake.offload(seal: true, evict: true).segmentsOffloaded
        }
        #expect(offloaded == Self.logCount)
        #expect(faulty.counters.faults > 0)
        try await Self.expectAllRecords(topics)
        faulty.setPlan(FaultPlan())
        #expect(try await lake.verify().problems == [])
        // Objects whose commits all failed are orphans; none is referenced and missing.
        let scrub = try await lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(scrub.problems.allSatisfy { $0.kind == .orphanObject }, "\(scrub.problems)")
        #expect(try await lake.scrub(deleteOrphans: false).problems == [])
        try await Self.expectAllRecords(topics)
        try await lake.close()
    }

    @Test func retentionAndTopicDeleteNeverDeleteAPackedObjectOthersReference() async throws {
        let clock = ManualClock()
        let store = MemoryBlobStore(nowMs: { clock.nowMs() })
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: Self.options(store: store, objectBytes: 1 << 20, clock: clock))
        let topics = try await Self.produce(lake, logs: 4)
        _ = try await lake.offload(seal: true, evict: true)
        let packed = try await Self.packedKeys(store)
        #expect(packed.count == 1)
        clock.advance(ms: 2 * 3_600_000)  // the object is past scrub's age gate from here
        // Log 0 gains a second segment, then deletes the records of its first (dropping its entry).
        try await ColdFixture.produce(topics[0], Self.recordsPerLog ..< 2 * Self.recordsPerLog, batch: 10)
        _ = try await lake.offload(seal: true, evict: true)
        _ = try await topics[0].deleteRecords(before: Int64(Self.recordsPerLog))
        let manifest = try #require(try await ColdFixture.storedManifest(store, topic: topics[0].name))
        #expect(manifest.segments.allSatisfy { $0.key != packed[0] })
        #expect(try await store.head(packed[0]).size > 0)
        // Topic delete of another log leaves the object (logs 2 and 3 still read from it).
        _ = try await lake.deleteTopic(topics[1].name)
        #expect(try await store.head(packed[0]).size > 0)
        try await Self.expectAllRecords(Array(topics[2...]))
        var scrub = try await lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(!scrub.deleted.contains(packed[0]))
        // Log 0's older manifest versions, superseded within the grace period, keep it for their readers.
        _ = try await lake.deleteTopic(topics[2].name)
        _ = try await lake.deleteTopic(topics[3].name)
        scrub = try await lake.scrub(deleteOrphans: true, graceMs: 3_600_000)
        #expect(!scrub.deleted.contains(packed[0]))
        #expect(try await store.head(packed[0]).size > 0)
        // Once they were superseded longer ago than the grace period, scrub deletes it.
        clock.advance(ms: 2 * 3_600_000)
        scrub = try await lake.scrub(deleteOrphans: true, graceMs: 3_600_000)
        #expect(scrub.deleted.contains(packed[0]))
        await #expect(throws: BlobError.self) { try await store.head(packed[0]) }
        var cursor = try await Cursor(topic: topics[0], start: .offset(Int64(Self.recordsPerLog)))
        let records = try await ColdFixture.readAll(&cursor, until: Int64(2 * Self.recordsPerLog))
        #expect(ColdFixture.firstMismatch(records, Self.recordsPerLog ..< 2 * Self.recordsPerLog) == nil)
        try await lake.close()
    }

    @Test func largeSegmentsAndALoneLogKeepObjectsOfTheirOwn() async throws {
        let store = MemoryBlobStore()
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        var options = Self.options(store: store, objectBytes: 1 << 20)
        options.packSegmentBytesMax = 1500  // the 40-record segments are larger
        let lake = try Lake.open(dir, options: options)
        let topics = try await Self.produce(lake, logs: 3)
        for name in ["small-a", "small-b"] {
            let small = try lake.topic(name, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(small, 0 ..< 3, batch: 3)
        }
        _ = try await lake.offload(seal: true, evict: true)
        #expect(try await Self.packedKeys(store).count == 1)
        for topic in topics {
            let manifest = try #require(try await ColdFixture.storedManifest(store, topic: topic.name))
            #expect(manifest.segments.allSatisfy { !$0.isPacked })
            #expect(manifest.formatVersion == 1)
        }
        try await Self.expectAllRecords(topics)
        // One log with small segments to offload and no other: standalone objects, version 1.
        let lone = try lake.topic("lone", creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(lone, 0 ..< 3, batch: 3)
        _ = try await lake.offload(seal: true, evict: true)
        #expect(try await Self.packedKeys(store).count == 1)
        let loneManifest = try #require(try await ColdFixture.storedManifest(store, topic: "lone"))
        #expect(loneManifest.formatVersion == 1 && loneManifest.segments.allSatisfy { !$0.isPacked })
        try await lake.close()
    }

    @Test func verifyNamesAPackIndexThatDisagreesWithTheManifest() async throws {
        let store = MemoryBlobStore()
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: Self.options(store: store, objectBytes: 1 << 20))
        _ = try await Self.produce(lake, logs: 3)
        _ = try await lake.offload(seal: true, evict: true)
        let key = try #require(try await Self.packedKeys(store).first)
        var bytes = try await store.get(key, range: .whole).bytes
        bytes[bytes.count - 20] ^= 0x40  // inside the pack index: its CRC no longer matches
        try await store.delete([key])
        try await store.put(key, bytes, mode: .overwrite)
        let report = try await lake.verify()
        #expect(report.problems.contains { $0.kind == .badFooter && $0.location == key }, "\(report.problems)")
        try await lake.close()
    }
}

/// The packed offload against a real S3 server (SeaweedFS, `tools/test-s3`): ranged GETs of
/// slices, put-if-absent of packed objects, listing of `packed/` by scrub.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["STRATA_S3_TEST_ENDPOINT"] != nil, "needs tools/test-s3"))
struct PackedOffloadS3Tests {
    static func store() throws -> S3BlobStore {
        let environment = ProcessInfo.processInfo.environment
        let endpoint = try #require(environment["STRATA_S3_TEST_ENDPOINT"].flatMap(URL.init(string:)))
        let credentials = S3Credentials(
            accessKeyId: environment["STRATA_S3_TEST_ACCESS_KEY"] ?? "",
            secretAccessKey: environment["STRATA_S3_TEST_SECRET_KEY"] ?? "")
        let config = S3Config(
            endpoint: endpoint, region: environment["STRATA_S3_TEST_REGION"] ?? "us-east-1",
            bucket: environment["STRATA_S3_TEST_BUCKET"] ?? "strata-test",
            prefix: "tests/packed-\(UUID().uuidString.prefix(8))/", addressing: .pathStyle, credentials: credentials)
        return try S3BlobStore(config: config)
    }

    @Test func packedOffloadAndReadsOnS3() async throws {
        let store = try Self.store()
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: PackedOffloadTests.options(store: store))
        let topics = try await PackedOffloadTests.produce(lake)
        let report = try await lake.offload(seal: true, evict: true)
        #expect(report.segmentsOffloaded == PackedOffloadTests.logCount)
        #expect(report.packedObjects >= 2 && report.packedObjects < PackedOffloadTests.logCount / 2)
        #expect(try await PackedOffloadTests.packedKeys(store).count == report.packedObjects)
        try await PackedOffloadTests.expectAllRecords(topics)
        #expect(try await lake.verify().problems == [])
        #expect(try await lake.scrub(deleteOrphans: false).problems == [])
        // Compaction after most logs are gone: ranged GETs of the live slices, one put-if-absent
        // per new object, a whole read back, manifest commits.
        let kept = topics.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
        for topic in topics where !kept.contains(where: { $0 === topic }) { _ = try await lake.deleteTopic(topic.name) }
        let compaction = try await lake.compactPacked(minAgeMs: 0)
        #expect(compaction.problems == [])
        #expect(compaction.objectsWritten.count >= 1)
        #expect(compaction.slicesMoved == kept.count)
        try await PackedOffloadTests.expectAllRecords(kept)
        #expect(try await lake.verify().problems == [])
        try await lake.close()
        // A fresh lake on the same bucket reads the slices with ranged GETs only.
        let reader = try Lake.openReadOnly(dir, options: PackedOffloadTests.options(store: store))
        for topic in kept {
            let copy = try reader.log(topic.name)
            var cursor = try await Cursor(topic: copy, start: .offset(0))
            let records = try await ColdFixture.readAll(&cursor, until: Int64(PackedOffloadTests.recordsPerLog))
            #expect(ColdFixture.firstMismatch(records, 0 ..< PackedOffloadTests.recordsPerLog) == nil)
        }
    }
}
