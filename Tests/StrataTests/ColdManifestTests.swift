import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Manifests over time: recovery from the store's listing, spillover into archives, pruning of
/// old versions, and total retention.
@Suite struct ColdManifestTests {
    /// Without the local manifest copy a reopened lake must find the newest version by listing.
    @Test func reopenedLakeWithoutLocalManifestCopyListsTheStore() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        do {
            let lake = try Lake.open(dir, options: ColdFixture.options())
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 10_000)
            _ = try await lake.offload(evict: true)
            try await lake.close()
        }
        let copy = LakePaths(root: dir).topicManifestCopy(ColdFixture.topicName)
        try FileManager.default.removeItem(atPath: copy)

        let lake = try Lake.open(dir, options: ColdFixture.options())
        let topic = try lake.topic(ColdFixture.topicName)
        var cursor = try await Cursor(topic: topic, start: .earliest)
        #expect(cursor.nextOffset == 0)
        let stats = lake.coldStats.blob
        #expect(stats.requests > stats.getRequests)  // the listing
        #expect(FileManager.default.fileExists(atPath: copy))
        let records = try await ColdFixture.readAll(&cursor, until: 10_000)
        #expect(ColdFixture.firstMismatch(records, 0 ..< 10_000) == nil)

        // The reopened lake goes on offloading after the manifest it found.
        try await ColdFixture.produce(topic, 10_000 ..< 12_000)
        let report = try await lake.offload(evict: true)
        #expect(report.segmentsOffloaded >= 1)
        var again = try await Cursor(topic: topic, start: .offset(0))
        let all = try await ColdFixture.readAll(&again, until: 12_000)
        #expect(ColdFixture.firstMismatch(all, 0 ..< 12_000) == nil)
        try await lake.close()
    }

    @Test func manifestSpillsIntoArchivesAndStaysSmall() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let recording = RecordingBlobStore(MemoryBlobStore())
        var options = ColdFixture.options(store: recording)
        options.manifestSegmentsMax = 8
        let count = 8_000
        do {
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic(
                ColdFixture.topicName,
                creatingWith: ColdFixture.smallSegments(segmentBytes: 2 * 1024, frameBytes: 512))
            // One offload pass per few segments, so there are many commits.
            for start in stride(from: 0, to: count, by: 500) {
                try await ColdFixture.produce(topic, start ..< (start + 500), batch: 50)
                _ = try await lake.offload(evict: true)
            }
            try await lake.close()
        }
        let manifest = try #require(try await ColdFixture.storedManifest(recording))
        let segments = try await ColdFixture.allSegments(manifest, store: recording)
        #expect(manifest.segments.count <= 8)
        #expect(manifest.archives.count >= 3)
        #expect(segments.count > 40)
        #expect(segments.first?.baseOffset == 0)
        #expect(segments.last?.lastOffset == Int64(count - 1))
        #expect(zip(segments, segments.dropFirst()).allSatisfy { $0.lastOffset + 1 == $1.baseOffset })

        // Every commit stays small: far below a manifest listing every segment.
        var unspilled = manifest
        unspilled.segments = segments
        unspilled.archives = []
        let unspilledBytes = try unspilled.encode().count
        let manifestPuts = recording.log.compactMap { call -> Int? in
            if case .put(let key, let bytes) = call, key.contains("/manifest/") { return bytes }
            return nil
        }
        #expect(manifestPuts.count >= 40)
        #expect((manifestPuts.max() ?? .max) < unspilledBytes / 2)

        // Old versions are pruned: only the last few remain, the newest among them.
        let layout = BucketLayout(prefix: "")
        let versions = try await ColdFixture.keys(
            recording, prefix: layout.manifestPrefix(topic: ColdFixture.topicName))
        #expect(versions.count <= 4)
        #expect(versions.contains(layout.manifestKey(topic: ColdFixture.topicName, version: manifest.version)))

        // A new lake (cold caches) reads into archived ranges, by offset and by time.
        let lake = try Lake.open(dir, options: options)
        let topic = try lake.topic(ColdFixture.topicName)
        let archived = try #require(manifest.archives.dropFirst().first)
        let target = (archived.baseOffset + archived.lastOffset) / 2
        var seek = try await Cursor(topic: topic, start: .offset(target))
        #expect(try await seek.next().first == ColdFixture.expected(Int(target)))
        let t = ColdFixture.record(Int(target)).timestamp ?? 0
        let timestamps = (0 ..< count).map { ColdFixture.record($0).timestamp ?? 0 }
        let byTime = try await Cursor(topic: topic, start: .timestamp(t))
        #expect(byTime.nextOffset == Int64(timestamps.firstIndex { $0 >= t } ?? count))
        var cursor = try await Cursor(topic: topic, start: .earliest)
        let records = try await ColdFixture.readAll(&cursor, until: Int64(count))
        #expect(ColdFixture.firstMismatch(records, 0 ..< count) == nil)
        try await lake.close()
    }

    @Test func totalRetentionByAgeDropsFromTheManifestFirstThenDeletesObjects() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let recording = RecordingBlobStore(MemoryBlobStore())
        // Records are stamped base-700 … base+1000; everything older than base+400 expires.
        let clock = ManualClock(startMs: ColdFixture.timestampBaseMs + 1_000)
        let lake = try Lake.open(dir, options: ColdFixture.options(store: recording, clock: clock))
        var config = ColdFixture.smallSegments(segmentBytes: 8 * 1024, frameBytes: 2 * 1024)
        config.retentionMs = 600
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: config)
        try await ColdFixture.produce(topic, 0 ..< 4_000)
        _ = try await lake.offload(evict: false)  // offload, then retention (local and total)

        let manifest = try #require(try await ColdFixture.storedManifest(recording))
        let logStart = manifest.logStartOffset
        #expect(logStart > 0)
        #expect(manifest.segments.first?.baseOffset == logStart)
        // Expiry stops at the first segment still within retention.
        #expect((manifest.segments.first?.maxTimestamp ?? .min) > clock.nowMs() - 600)
        let expiredKeys = recording.log.flatMap { call -> [String] in
            if case .delete(let keys) = call { return keys.filter { $0.contains("/segments/") } }
            return []
        }
        #expect(!expiredKeys.isEmpty)
        let stored = Set(try await ColdFixture.keys(recording, prefix: "topics/"))
        #expect(expiredKeys.allSatisfy { !stored.contains($0) })
        #expect(manifest.segments.allSatisfy { stored.contains($0.key) })
        // Order: the manifest without them was committed before any of them was deleted.
        let commitIndex = try #require(
            recording.log.firstIndex {
                if case .put(let key, _) = $0 {
                    return key
                        == BucketLayout(prefix: "").manifestKey(topic: ColdFixture.topicName, version: manifest.version)
                }
                return false
            })
        let deleteIndex = try #require(
            recording.log.firstIndex {
                if case .delete(let keys) = $0 { return keys.contains { $0.contains("/segments/") } }
                return false
            })
        #expect(commitIndex < deleteIndex)

        // Retention spans both tiers: the local copies below the log start are gone as well.
        #expect(topic.localStartOffset == logStart)
        #expect(try await topic.logStartOffset() == logStart)
        await #expect(throws: StrataError.self) { _ = try await topic.read(from: 0) }
        do {
            _ = try await Cursor(topic: topic, start: .offset(logStart - 1))
            Issue.record("a cursor started below the log start")
        } catch {
            #expect(error.code == .offsetOutOfRange)
            #expect(error.validRange?.lowerBound == logStart)
        }
        var cursor = try await Cursor(topic: topic, start: .earliest)
        #expect(cursor.nextOffset == logStart)
        let records = try await ColdFixture.readAll(&cursor, until: 4_000)
        #expect(ColdFixture.firstMismatch(records, Int(logStart) ..< 4_000) == nil)
        try await lake.close()
    }

    @Test func totalRetentionByBytesKeepsTheNewestObjectsWithinTheBound() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        var config = ColdFixture.smallSegments(segmentBytes: 8 * 1024, frameBytes: 2 * 1024)
        config.retentionBytes = 20 * 1024
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: config)
        try await ColdFixture.produce(topic, 0 ..< 4_000)
        _ = try await lake.offload(evict: true)
        #expect(topic.localStartOffset == 4_000)
        try await topic.applyRetention()

        let manifest = try #require(try await ColdFixture.storedManifest(store))
        #expect(manifest.logStartOffset > 0)
        #expect(manifest.segments.count >= 1)
        let totalBytes = manifest.segments.reduce(Int64(0)) { $0 + $1.objectBytes }
        #expect(totalBytes <= 20 * 1024 || manifest.segments.count == 1)
        let objects = try await ColdFixture.keys(
            store, prefix: BucketLayout(prefix: "").segmentPrefix(topic: ColdFixture.topicName))
        #expect(Set(objects) == Set(manifest.segments.map(\.key)))
        do {
            _ = try await topic.read(from: manifest.logStartOffset - 1)
            Issue.record("read below the log start")
        } catch {
            #expect(error.code == .offsetOutOfRange)
        }
        let first = try await topic.read(from: manifest.logStartOffset)
        #expect(first.records.first == ColdFixture.expected(Int(manifest.logStartOffset)))
        try await lake.close()
    }
}
