import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Total retention of a topic whose manifest has spilled into archive manifests: expired
/// archived segments leave the chain (a new manifest version without them) before their objects,
/// and the archives that held them, are deleted.
@Suite struct ArchiveRetentionTests {
    static let layout = BucketLayout(prefix: "")

    /// A lake whose manifests spill after 4 segments, with a topic of many small segments, all
    /// offloaded and evicted in several passes so the chain holds several archives.
    static func spilledTopic(
        _ dir: String, store: any BlobStore, clock: ManualClock, config: TopicConfig, count: Int = 4_000
    ) async throws -> (Lake, Topic) {
        var options = ColdFixture.options(store: store, clock: clock)
        options.manifestSegmentsMax = 4
        let lake = try Lake.open(dir, options: options)
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: config)
        for start in stride(from: 0, to: count, by: 500) {
            try await ColdFixture.produce(topic, start ..< min(count, start + 500), batch: 50)
            _ = try await lake.offload(evict: true)
        }
        return (lake, topic)
    }

    static var smallSegments: TopicConfig {
        ColdFixture.smallSegments(segmentBytes: 2 * 1024, frameBytes: 512)
    }

    @Test func retentionByAgeExpiresArchivedSegments() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let recording = RecordingBlobStore(MemoryBlobStore())
        // While the topic fills, the clock stands at the oldest stamp: nothing has expired yet.
        let clock = ManualClock(startMs: ColdFixture.timestampBaseMs)
        var config = Self.smallSegments
        config.retentionMs = 600
        let (lake, topic) = try await Self.spilledTopic(dir, store: recording, clock: clock, config: config)
        let before = try #require(try await ColdFixture.storedManifest(recording))
        let chainBefore = try await ColdFixture.allSegments(before, store: recording)
        #expect(before.logStartOffset == 0)
        #expect(before.archives.count >= 3)

        // Records are stamped base-700 … base+1000; now everything older than base+400 expires,
        // which reaches far into the archived part of the chain.
        clock.advance(ms: 1_000)
        let commitsBefore = recording.log.count
        try await topic.applyRetention()

        let after = try #require(try await ColdFixture.storedManifest(recording))
        #expect(after.version == before.version + 1)
        let chain = try await ColdFixture.allSegments(after, store: recording)
        let logStart = after.logStartOffset
        #expect(logStart > before.archives[1].lastOffset, "whole archives must expire")
        // Expiry stops at the first segment still within retention, and nothing below the log
        // start stays listed.
        #expect(chain.first?.baseOffset == logStart)
        #expect((chain.first?.maxTimestamp ?? .min) > clock.nowMs() - 600)
        let expired = chainBefore.filter { $0.lastOffset < logStart }
        #expect(expired.allSatisfy { now in clock.nowMs() - now.maxTimestamp >= 600 })
        #expect(chainBefore.drop { $0.lastOffset < logStart }.map(\.key) == chain.map(\.key))
        #expect(after.archives.allSatisfy { $0.baseOffset >= logStart })

        // Exactly the chain's objects and archives remain in the store.
        let stored = Set(try await ColdFixture.keys(recording, prefix: "topics/"))
        let segmentsStored = stored.filter { $0.contains("/segments/") }
        let archivesStored = stored.filter { $0.contains("/archive/") }
        #expect(segmentsStored == Set(chain.map(\.key)))
        #expect(archivesStored == Set(after.archives.map(\.key)))

        // Order: the manifest without them was committed before any object or archive went.
        let commitKey = Self.layout.manifestKey(topic: ColdFixture.topicName, version: after.version)
        let calls = Array(recording.log.dropFirst(commitsBefore))
        let commitIndex = try #require(calls.firstIndex { $0 == .put(key: commitKey, bytes: $0.putBytes) })
        let deletes = calls.indices.filter {
            guard case .delete(let keys) = calls[$0] else { return false }
            return keys.contains { $0.contains("/segments/") || $0.contains("/archive/") }
        }
        #expect(!deletes.isEmpty)
        #expect(deletes.allSatisfy { $0 > commitIndex })

        // Both tiers agree on the new start.
        #expect(try await topic.logStartOffset() == logStart)
        do {
            _ = try await topic.read(from: logStart - 1)
            Issue.record("read below the log start")
        } catch {
            #expect(error.code == .offsetOutOfRange)
        }
        var cursor = try await Cursor(topic: topic, start: .earliest)
        #expect(cursor.nextOffset == logStart)
        let records = try await ColdFixture.readAll(&cursor, until: 4_000)
        #expect(ColdFixture.firstMismatch(records, Int(logStart) ..< 4_000) == nil)
        try await lake.close()
    }

    @Test func retentionByBytesCountsAndExpiresArchives() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        var config = Self.smallSegments
        config.retentionBytes = 16 * 1024
        let (lake, topic) = try await Self.spilledTopic(dir, store: store, clock: ManualClock(), config: config)
        try await topic.applyRetention()

        let manifest = try #require(try await ColdFixture.storedManifest(store))
        let chain = try await ColdFixture.allSegments(manifest, store: store)
        let totalBytes = chain.reduce(Int64(0)) { $0 + $1.objectBytes }
        #expect(totalBytes <= 16 * 1024)
        #expect(chain.count >= 2)
        #expect(chain.first?.baseOffset == manifest.logStartOffset)
        #expect(chain.last?.lastOffset == 3_999)
        let stored = try await ColdFixture.keys(store, prefix: "topics/")
        #expect(Set(stored.filter { $0.contains("/segments/") }) == Set(chain.map(\.key)))
        #expect(Set(stored.filter { $0.contains("/archive/") }) == Set(manifest.archives.map(\.key)))
        let first = try await topic.read(from: manifest.logStartOffset)
        #expect(first.records.first == ColdFixture.expected(Int(manifest.logStartOffset)))
        try await lake.close()
    }

    /// A partly expired archive is written again holding only what survives (the chain must
    /// start at the log start); a pass repeated after a failed commit finds the same bytes.
    @Test func partlyExpiredArchiveIsRewrittenWithTheSurvivors() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: .none, seed: 1)
        let clock = ManualClock(startMs: ColdFixture.timestampBaseMs)
        var config = Self.smallSegments
        config.retentionMs = 600
        let (lake, topic) = try await Self.spilledTopic(dir, store: store, clock: clock, config: config)
        let before = try #require(try await ColdFixture.storedManifest(store))
        let chainBefore = try await ColdFixture.allSegments(before, store: store)
        // Move the clock so that expiry ends inside the second archive.
        let second = try #require(before.archives.dropFirst().first)
        let inside = try #require(
            chainBefore.first {
                $0.baseOffset > second.baseOffset && $0.lastOffset < second.lastOffset
            })
        let newestExpired = chainBefore.prefix { $0.lastOffset < inside.baseOffset }.map(\.maxTimestamp).max() ?? 0
        let oldestKept = chainBefore.first { $0.baseOffset == inside.baseOffset }?.maxTimestamp ?? 0
        try #require(newestExpired + 1 < oldestKept, "the timestamps must allow a cut at \(inside.baseOffset)")
        clock.advance(ms: newestExpired + 600 - clock.nowMs())
        // The first pass writes the new archive, then fails to commit (as a crash would): the
        // chain is unchanged, and the repeated pass accepts the archive it finds.
        let puts = store.counters.callsByOperation[.put] ?? 0
        store.setPlan(FaultPlan(failCalls: [.init(callNumber: puts + 2, operation: .put, code: .denied)]))
        let failed = await strataError { try await topic.applyRetention() }
        #expect(failed?.code == .io)
        #expect(try await ColdFixture.storedManifest(store) == before)
        store.setPlan(.none)
        clock.advance(ms: 1)  // a later pass: the rewritten archive must not depend on the time
        try await topic.applyRetention()

        let after = try #require(try await ColdFixture.storedManifest(store))
        #expect(after.logStartOffset == inside.baseOffset)
        let rewritten = try #require(after.archives.first)
        #expect(rewritten.baseOffset == inside.baseOffset)
        #expect(rewritten.lastOffset == second.lastOffset)
        let chain = try await ColdFixture.allSegments(after, store: store)
        #expect(chain.map(\.key) == chainBefore.drop { $0.lastOffset < inside.baseOffset }.map(\.key))
        let stored = Set(try await ColdFixture.keys(store, prefix: "topics/"))
        #expect(!stored.contains(second.key))
        #expect(stored.contains(rewritten.key))
        try await lake.close()
    }
}

extension ArchiveRetentionTests {
    /// The offloader's spill has the same hazard: a commit that fails after the archive was
    /// written is repeated by the next pass, which must find identical archive bytes, not take
    /// its own earlier write for another writer's.
    @Test func spillRepeatedAfterAFailedCommitFindsTheSameArchive() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: .none, seed: 1)
        let clock = ManualClock()
        var options = ColdFixture.options(store: store, clock: clock)
        options.manifestSegmentsMax = 4
        let lake = try Lake.open(dir, options: options)
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: Self.smallSegments)
        try await ColdFixture.produce(topic, 0 ..< 160, batch: 40)
        _ = try await lake.offload()
        let before = try #require(try await ColdFixture.storedManifest(store))
        #expect(before.archives.isEmpty)
        #expect(before.segments.count == 4)

        // The fifth segment spills: its upload (put 1), the archive (put 2), then the commit
        // (put 3) fails.
        try await ColdFixture.produce(topic, 160 ..< 200, batch: 40)
        let puts = store.counters.callsByOperation[.put] ?? 0
        store.setPlan(FaultPlan(failCalls: [.init(callNumber: puts + 3, operation: .put, code: .denied)]))
        let failed = await strataError { _ = try await lake.offload() }
        #expect(failed?.code == .io)
        #expect(try await ColdFixture.storedManifest(store) == before)

        store.setPlan(.none)
        clock.advance(ms: 1)
        let report = try await lake.offload()
        #expect(report.segmentsOffloaded == 1)
        let after = try #require(try await ColdFixture.storedManifest(store))
        #expect(after.archives.count == 1)
        #expect(try await ColdFixture.allSegments(after, store: store).count == 5)
        try await lake.close()
    }
}

extension ArchiveRetentionTests {
    /// Retention and an offload pass of one topic run side by side: retention waits only for
    /// the manifest-commit lock (it used to return silently while a pass ran), and the pass's
    /// next commit builds on retention's version instead of fencing the lake against itself.
    @Test(.timeLimit(.minutes(5))) func retentionRunsWhileAnOffloadPassUploads() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let gated = GatedBlobStore(MemoryBlobStore(), gating: .segmentPuts)
        let clock = ManualClock(startMs: ColdFixture.timestampBaseMs)
        let lake = try Lake.open(dir, options: ColdFixture.options(store: gated, clock: clock))
        var config = Self.smallSegments
        config.retentionMs = 600
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: config)
        try await ColdFixture.produce(topic, 0 ..< 2_000, batch: 50)
        _ = try await lake.offload(evict: true)

        try await ColdFixture.produce(topic, 2_000 ..< 2_400, batch: 50)
        try topic.sealActiveSegment()
        gated.close()
        let pass = Task { try await topic.offloadSealed(wait: true) }
        await gated.waitForWaiters(1)  // the pass is uploading, holding the pass lock

        clock.advance(ms: 1_000)
        try await topic.applyRetention()
        let retained = try #require(try await ColdFixture.storedManifest(gated))
        #expect(retained.logStartOffset > 0, "retention ran while the pass was uploading")

        gated.open()
        let report = try await pass.value
        #expect(report.segmentsOffloaded > 0)
        let after = try #require(try await ColdFixture.storedManifest(gated))
        #expect(after.logStartOffset == retained.logStartOffset)
        #expect(after.nextOffset == 2_400)
        let chain = try await ColdFixture.allSegments(after, store: gated)
        #expect(chain.first?.baseOffset == after.logStartOffset)
        #expect(zip(chain, chain.dropFirst()).allSatisfy { $0.lastOffset + 1 == $1.baseOffset })
        try await lake.close()
    }
}

extension ArchiveRetentionTests {
    /// A handle that has not committed yet (a restart, or the one `alterTopicConfig` opens)
    /// still applies total retention, and retention after `deleteRecords` never moves the log
    /// start back below the deleted records.
    @Test func retentionOfAFreshHandleKeepsTheLogStartOfDeleteRecords() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let clock = ManualClock(startMs: ColdFixture.timestampBaseMs)
        let (lake, topic) = try await Self.spilledTopic(dir, store: store, clock: clock, config: Self.smallSegments)
        let before = try #require(try await ColdFixture.storedManifest(store))
        #expect(before.archives.count >= 2)
        let inSecondArchive = try await ColdFixture.allSegments(before, store: store).filter {
            $0.baseOffset >= before.archives[1].baseOffset && $0.lastOffset <= before.archives[1].lastOffset
        }
        try #require(inSecondArchive.count >= 3)
        // Inside the third segment of the second archive: two archived segments stay wholly below.
        let target = inSecondArchive[2].baseOffset + 1
        _ = try await topic.deleteRecords(before: target)
        let deleted = try #require(try await ColdFixture.storedManifest(store))
        #expect(deleted.logStartOffset == target)
        let chainBytes = try await ColdFixture.allSegments(deleted, store: store).reduce(Int64(0)) {
            $0 + $1.objectBytes
        }

        // Just over the bound: the oldest listed segment (wholly below `target`) expires.
        _ = try await lake.alterTopicConfig(ColdFixture.topicName, set: [("retentionBytes", "\(chainBytes - 1)")])
        let fresh = try lake.topic(ColdFixture.topicName)
        try await fresh.applyRetention()
        let after = try #require(try await ColdFixture.storedManifest(store))
        #expect(after.version > deleted.version, "a handle that never committed must apply retention")
        #expect(after.logStartOffset >= target, "log start moved back from \(target) to \(after.logStartOffset)")
        let cursor = try await Cursor(topic: fresh, start: .earliest)
        #expect(cursor.nextOffset >= target)
        try await lake.close()
    }
}

extension RecordingBlobStore.Call {
    /// The byte count of a put (0 for a delete), to match puts by key alone.
    var putBytes: Int {
        if case .put(_, let bytes) = self { return bytes }
        return 0
    }
}
