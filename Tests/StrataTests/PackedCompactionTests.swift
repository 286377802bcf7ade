import Foundation
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Compaction of packed objects (ARCHITECTURE.md §2k, "Compaction"): the live slices of mostly
/// dead packed objects are copied byte for byte into new ones and the manifests moved onto them;
/// nothing is deleted but by scrub, damage and failed commits stay where they were, and every
/// record reads back throughout.
@Suite struct PackedCompactionTests {
    static let hourMs: Int64 = 3_600_000

    /// A lake on `store` whose clock (shared with the store's modification times) is `clock`,
    /// with `logs` small topics offloaded into one packed object and evicted locally.
    static func packedLake(
        _ dir: String, store: any BlobStore, clock: ManualClock, logs: Int = 8
    ) async throws -> (Lake, [Topic]) {
        let options = PackedOffloadTests.options(store: store, objectBytes: 1 << 20, clock: clock)
        let lake = try Lake.open(dir, options: options)
        let topics = try await PackedOffloadTests.produce(lake, logs: logs)
        let report = try await lake.offload(seal: true, evict: true)
        #expect(report.packedObjects == 1)
        #expect(report.segmentsOffloaded == logs)
        return (lake, topics)
    }

    static func entries(_ store: any BlobStore, _ topic: Topic) async throws -> [ManifestSegment] {
        try #require(try await ColdFixture.storedManifest(store, topic: topic.name)).segments
    }

    @Test func aMostlyDeadObjectIsRewrittenAndScrubFreesTheOldOneOnceItsVersionsLapse() async throws {
        let clock = ManualClock()
        let store = MemoryBlobStore(nowMs: { clock.nowMs() })
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let (lake, topics) = try await Self.packedLake(dir, store: store, clock: clock)
        let old = try await PackedOffloadTests.packedKeys(store)
        #expect(old.count == 1)
        let oldBytes = try await store.head(old[0]).size
        for topic in topics[2...] { _ = try await lake.deleteTopic(topic.name) }
        let kept = Array(topics[..<2])

        // Younger than the minimum age: an offload might still be committing into it.
        var report = try await lake.compactPacked()
        #expect(report.objectsListed == 1)
        #expect(report.candidates == [])
        clock.advance(ms: 2 * Self.hourMs)

        // A dry run says what it would do and writes nothing.
        report = try await lake.compactPacked(dryRun: true)
        #expect(report.candidates == old)
        #expect(report.candidateBytes == oldBytes)
        #expect(report.liveBytes > 0 && report.liveBytes < oldBytes / 3)
        #expect(report.objectsWritten == [])
        #expect(try await PackedOffloadTests.packedKeys(store) == old)

        let getsBefore = lake.coldStats.blob.getRequests
        report = try await lake.compactPacked()
        // The pack index, one ranged GET for t00's and t01's slices (back to back in the old
        // object), the read back of the new one.
        #expect(lake.coldStats.blob.getRequests - getsBefore == 3)
        #expect(report.problems == [])
        #expect(report.objectsWritten.count == 1)
        #expect(report.slicesMoved == 2)
        #expect(report.logsCommitted == 2)
        let new = try #require(report.objectsWritten.first)
        #expect(Set(try await PackedOffloadTests.packedKeys(store)) == Set(old + [new]))
        let newBytes = try await store.head(new).size
        #expect(newBytes == report.writtenBytes)
        #expect(newBytes < oldBytes / 3)
        // The new object is a packed object of exactly the live slices, byte for byte.
        let newObject = try await store.get(new, range: .whole).bytes
        let oldObject = try await store.get(old[0], range: .whole).bytes
        let pack = try PackedObject.parseIndex(object: newObject)
        #expect(pack.slices.map(\.log) == kept.map(\.name))
        for topic in kept {
            let moved = try await Self.entries(store, topic)
            #expect(moved.count == 1)
            #expect(moved.allSatisfy { $0.key == new }, "\(topic.name)")
            let slice = try #require(pack.slice(log: topic.name, baseOffset: 0))
            #expect(moved[0].objectOffset == slice.sliceOffset)
            let before = try #require(try PackedObject.parseIndex(object: oldObject).slice(log: topic.name, baseOffset: 0))
            #expect(Array(newObject[slice.byteRange]) == Array(oldObject[before.byteRange]))
        }
        try await PackedOffloadTests.expectAllRecords(kept)
        #expect(try await lake.verify().problems == [])

        // Within the grace period the versions that named the old object keep it for their readers.
        var scrub = try await lake.scrub(deleteOrphans: true, graceMs: Self.hourMs)
        #expect(!scrub.deleted.contains(old[0]))
        #expect(try await PackedOffloadTests.packedKeys(store).contains(old[0]))
        clock.advance(ms: 2 * Self.hourMs)
        scrub = try await lake.scrub(deleteOrphans: true, graceMs: Self.hourMs)
        #expect(scrub.deleted == old)
        #expect(try await PackedOffloadTests.packedKeys(store) == [new])
        try await PackedOffloadTests.expectAllRecords(kept)
        #expect(try await lake.verify().problems == [])
        #expect(try await lake.scrub(deleteOrphans: false).problems == [])

        // The new object is all live: nothing more to do, whatever the threshold (its pack index
        // is not counted as dead bytes, or a fully live object would be rewritten every run).
        report = try await lake.compactPacked(liveBelow: 1, minAgeMs: 0)
        #expect(report.candidates == [])
        #expect(report.objectsWritten == [])
        try await lake.close()

        // A reopened lake reads the moved slices from the cold tier alone.
        let options = PackedOffloadTests.options(store: store, objectBytes: 1 << 20, clock: clock)
        let reopened = try Lake.open(dir, options: options)
        try await PackedOffloadTests.expectAllRecords(try kept.map { try reopened.topic($0.name) })
        try await reopened.close()
    }

    /// An entry that changed since the scan (retention dropped it, or it moved already) is not
    /// one the commit replaces: nothing is committed for it.
    @Test func aCommitMovesOnlyEntriesStillAsTheScanSawThem() async throws {
        let clock = ManualClock()
        let store = MemoryBlobStore(nowMs: { clock.nowMs() })
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let (lake, topics) = try await Self.packedLake(dir, store: store, clock: clock, logs: 3)
        let entry = try #require(try await Self.entries(store, topics[0]).first)
        let moves = [entry: PackedCompaction.Move(key: "packed/elsewhere.szst", offset: 0)]
        var stale = entry
        stale.rawCrc32c ^= 1
        #expect(try await topics[0].commitMovedSlices([stale: moves[entry]!]).slices == 0)
        let version = try #require(try await ColdFixture.storedManifest(store, topic: topics[0].name)).version
        #expect(try await Self.entries(store, topics[0]) == [entry])
        // Delete-records drops the entry: the move finds nothing to do and commits nothing.
        try await ColdFixture.produce(topics[0], 40 ..< 80, batch: 10)
        _ = try await lake.offload(seal: true, evict: true)
        _ = try await topics[0].deleteRecords(before: 40)
        let after = try #require(try await ColdFixture.storedManifest(store, topic: topics[0].name))
        #expect(after.version > version)
        #expect(!after.segments.contains(entry))
        #expect(try await topics[0].commitMovedSlices(moves).slices == 0)
        #expect(try #require(try await ColdFixture.storedManifest(store, topic: topics[0].name)).version == after.version)
        try await lake.close()
    }

    /// Slices an archive manifest lists (a log past `manifestSegmentsMax` segments: a small topic
    /// offloaded for years) move as the newest manifest's do: the archive is written again under
    /// a key of its own, the manifest references that, and the old archive and object are left
    /// for scrub. Before, such objects were never compacted, and the dead slices of every other
    /// log in them stayed for as long as the archived log lived.
    @Test func slicesListedByAnArchiveMoveWithTheArchiveWrittenAgain() async throws {
        let clock = ManualClock()
        let store = MemoryBlobStore(nowMs: { clock.nowMs() })
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        var options = PackedOffloadTests.options(store: store, objectBytes: 1 << 20, clock: clock)
        options.manifestSegmentsMax = 2
        let lake = try Lake.open(dir, options: options)
        // Three passes of 4 logs, one segment each a pass: the third spills two into an archive.
        var topics: [Topic] = []
        for pass in 0 ..< 3 {
            topics = try await PackedOffloadTests.produce(lake, logs: 4, from: pass * PackedOffloadTests.recordsPerLog)
            let report = try await lake.offload(seal: true, evict: true)
            #expect(report.packedObjects == 1)
        }
        let old = try await PackedOffloadTests.packedKeys(store)
        #expect(old.count == 3)
        let kept = Array(topics[..<2])
        for topic in kept {
            let manifest = try #require(try await ColdFixture.storedManifest(store, topic: topic.name))
            #expect(manifest.archives.count == 1, "\(topic.name)")
            #expect(manifest.archives.first?.segmentCount == 2)
        }
        let oldArchives = try await ColdFixture.keys(store, prefix: "topics/t00/archive/")
        #expect(oldArchives.count == 1)
        for topic in topics[2...] { _ = try await lake.deleteTopic(topic.name) }
        clock.advance(ms: 2 * Self.hourMs)

        let report = try await lake.compactPacked(liveBelow: 1)
        #expect(report.problems == [])
        #expect(Set(report.candidates) == Set(old))
        #expect(report.objectsWritten.count == 1)
        #expect(report.slicesMoved == 6)
        #expect(report.logsCommitted == 2)
        #expect(report.archivesRewritten == 2)
        let new = try #require(report.objectsWritten.first)
        for topic in kept {
            let manifest = try #require(try await ColdFixture.storedManifest(store, topic: topic.name))
            #expect(manifest.segments.allSatisfy { $0.key == new }, "\(topic.name)")
            let reference = try #require(manifest.archives.first)
            // `<base>-<last>-<16 hex>.json`: the range's key with the rewrite's id.
            let plain = BucketLayout.archiveKeyRelative(
                topic: topic.name, baseOffset: reference.baseOffset, lastOffset: reference.lastOffset)
            #expect(reference.key != plain)
            #expect(reference.key.hasPrefix(plain.dropLast(".json".count) + "-"))
            let archive = try ArchiveManifest.decode(
                try await store.get(reference.key, range: .whole).bytes, topic: topic.name, reference: reference)
            #expect(archive.segments.allSatisfy { $0.key == new })
            #expect(try BucketLayout(prefix: "").parseArchiveKey(reference.key, topic: topic.name)
                == (reference.baseOffset, reference.lastOffset))
        }
        try await PackedOffloadTests.expectAllRecords(kept, count: 3 * PackedOffloadTests.recordsPerLog)
        let verified = try await lake.verify()
        #expect(verified.problems == [], "\(verified.problems)")

        // Past the grace period scrub frees the old objects; the replaced archive stays for as
        // long as an older manifest version kept in the store (for its readers) references it.
        clock.advance(ms: 2 * Self.hourMs)
        let scrub = try await lake.scrub(deleteOrphans: true, graceMs: Self.hourMs)
        #expect(Set(scrub.deleted) == Set(old), "\(scrub)")
        #expect(try await ColdFixture.keys(store, prefix: "topics/t00/archive/").contains(oldArchives[0]))
        #expect(try await PackedOffloadTests.packedKeys(store) == [new])
        #expect(try await lake.scrub(deleteOrphans: false).problems == [])
        #expect(try await lake.verify().problems == [])
        try await lake.close()

        // A reopened lake reads every record through the rewritten archives, and retention
        // cutting into one keeps its rewrite id (a new key for the survivors, never the plain one).
        let reopened = try Lake.open(dir, options: options)
        try await PackedOffloadTests.expectAllRecords(
            try kept.map { try reopened.topic($0.name) }, count: 3 * PackedOffloadTests.recordsPerLog)
        let before = try #require(try await ColdFixture.storedManifest(store, topic: "t00"))
        let rewritten = try #require(before.archives.first)
        let chain = try await ColdFixture.allSegments(before, store: store)
        let total = chain.reduce(Int64(0)) { $0 + $1.objectBytes }
        // Just the oldest segment is past this bound: the archive keeps its second.
        _ = try await reopened.alterTopicConfig("t00", set: [("retentionBytes", "\(total - 1)")])
        _ = try await reopened.topic("t00").applyRetention()
        let after = try #require(try await ColdFixture.storedManifest(store, topic: "t00"))
        #expect(after.logStartOffset == chain[1].baseOffset)
        let cut = try #require(after.archives.first)
        #expect(cut.baseOffset == chain[1].baseOffset && cut.segmentCount == 1)
        #expect(cut.key.suffix(22) == rewritten.key.suffix(22), "\(cut.key) keeps the id of \(rewritten.key)")
        #expect(cut.key != BucketLayout.archiveKeyRelative(
            topic: "t00", baseOffset: cut.baseOffset, lastOffset: cut.lastOffset))
        #expect(try await reopened.verify().problems == [])
        try await reopened.close()
    }

    @Test func aDamagedSliceAndAFailedCommitStayWhereTheyWere() async throws {
        let clock = ManualClock()
        let memory = MemoryBlobStore(nowMs: { clock.nowMs() })
        let store = PackedReviewTests.FailingManifestPuts(memory, log: "t01")
        store.failing.withLock { $0 = false }
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let (lake, topics) = try await Self.packedLake(dir, store: store, clock: clock)
        let old = try #require(try await PackedOffloadTests.packedKeys(memory).first)
        for topic in topics[3...] { _ = try await lake.deleteTopic(topic.name) }
        // A flipped byte in the middle of t02's slice (its frames' checksums no longer hold).
        var bytes = try await memory.get(old, range: .whole).bytes
        let damaged = try #require(try PackedObject.parseIndex(object: bytes).slice(log: "t02", baseOffset: 0))
        bytes[Int(damaged.sliceOffset + damaged.sliceBytes / 3)] ^= 0x40
        try await memory.put(old, bytes, mode: .overwrite)
        let before = try await (0 ..< 3).asyncMap { try await Self.entries(memory, topics[$0]) }
        store.failing.withLock { $0 = true }  // t01's manifest puts fail from here
        clock.advance(ms: 2 * Self.hourMs)

        let report = try await lake.compactPacked()
        #expect(report.candidates == [old])
        #expect(report.objectsWritten.count == 1)
        #expect(report.slicesMoved == 1)
        #expect(report.logsCommitted == 1)
        #expect(report.problems.count == 2, "\(report.problems)")
        #expect(report.problems.contains { $0.hasPrefix("t02 0...39 in \(old) left in place") })
        #expect(report.problems.contains { $0.hasPrefix("t01: commit of its moved slices failed") })
        let new = try #require(report.objectsWritten.first)
        // Only t00 moved; t01 and t02 still read from the old object, which nothing deleted.
        #expect(try await Self.entries(memory, topics[0]).allSatisfy { $0.key == new })
        #expect(try await Self.entries(memory, topics[1]) == before[1])
        #expect(try await Self.entries(memory, topics[2]) == before[2])
        #expect(try await PackedObject.parseIndex(object: memory.get(new, range: .whole).bytes).slices.map(\.log)
            == ["t00", "t01"])
        try await PackedOffloadTests.expectAllRecords(Array(topics[..<2]))
        store.failing.withLock { $0 = false }
        // The old object is still the newest manifests' (t01, t02): scrub keeps it, even with no gate.
        let scrub = try await lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(!scrub.deleted.contains(old))
        #expect(try await memory.head(old).size == Int64(bytes.count))
        // A second run moves t01 once its commits work again; t02's damage is still reported.
        let again = try await lake.compactPacked()
        #expect(again.slicesMoved >= 1)
        #expect(try await Self.entries(memory, topics[1]).allSatisfy { $0.key != old })
        #expect(again.problems.count == 1 && again.problems[0].hasPrefix("t02 "), "\(again.problems)")
        #expect(try await Self.entries(memory, topics[2]) == before[2])
        try await PackedOffloadTests.expectAllRecords(Array(topics[..<2]))
        try await lake.close()
    }

    /// Slices of one object at most `runGapBytesMax` apart are read with one ranged GET; a wider
    /// gap or another object starts a new read.
    @Test func slicesCloseTogetherInOneObjectAreReadTogether() {
        func slice(_ object: String, at offset: Int64, bytes: Int64 = 1000) -> PackedCompaction.LiveSlice {
            let entry = ManifestSegment(
                baseOffset: offset, lastOffset: offset, firstTimestamp: 0, maxTimestamp: 0, recordCount: 1,
                rawBytes: 1, objectBytes: bytes, rawCrc32c: 0, frameCount: 1, key: object, objectOffset: offset)
            return PackedCompaction.LiveSlice(log: "t", entry: entry, objectKey: object)
        }
        let gap = PackedCompaction.runGapBytesMax
        let group = [
            slice("packed/a", at: 0), slice("packed/a", at: 1000),  // back to back
            slice("packed/a", at: 2000 + gap),  // exactly the largest gap read through
            slice("packed/a", at: 3000 + 2 * gap + 1),  // one byte more: a new read
            slice("packed/b", at: 3000 + 2 * gap + 1001),  // another object: a new read
        ]
        let runs = PackedCompaction.runs(group).map { $0.map(\.entry.objectStart) }
        #expect(runs == [[0, 1000, 2000 + gap], [3000 + 2 * gap + 1], [3000 + 2 * gap + 1001]])
    }

    @Test func badArgumentsAndReadOnlyLakesAreRefusedAndADryRunWorksReadOnly() async throws {
        let clock = ManualClock()
        let store = MemoryBlobStore(nowMs: { clock.nowMs() })
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let (lake, topics) = try await Self.packedLake(dir, store: store, clock: clock, logs: 4)
        for bad in [0.0, -0.5, 1.5, .nan] {
            await #expect(throws: StrataError.self) { _ = try await lake.compactPacked(liveBelow: bad) }
        }
        await #expect(throws: StrataError.self) { _ = try await lake.compactPacked(minAgeMs: -1) }
        for topic in topics[1...] { _ = try await lake.deleteTopic(topic.name) }
        try await lake.close()

        let options = PackedOffloadTests.options(store: store, objectBytes: 1 << 20, clock: clock)
        let readOnly = try Lake.openReadOnly(dir, options: options)
        let dry = try await readOnly.compactPacked(minAgeMs: 0, dryRun: true)
        #expect(dry.candidates == (try await PackedOffloadTests.packedKeys(store)))
        let refused = await #expect(throws: StrataError.self) { _ = try await readOnly.compactPacked(minAgeMs: 0) }
        #expect(refused?.code == .readOnly)
        #expect(try await PackedOffloadTests.packedKeys(store).count == 1)
        try await readOnly.close()
    }

    @Test func theCommandCompactsAndItsDryRunOnlyReports() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: PackedOffloadTests.options(objectBytes: 1 << 20))
        let topics = try await PackedOffloadTests.produce(lake, logs: 6)
        _ = try await lake.offload(seal: true, evict: true)
        for topic in topics[2...] { _ = try await lake.deleteTopic(topic.name) }
        try await lake.close()
        let packedDir = dir + "/cold/packed"
        let before = try FileManager.default.contentsOfDirectory(atPath: packedDir)
        #expect(before.count == 1)

        // The default minimum age (1 h) leaves an object written just now.
        let young = try CLIRun.strata(["compact", "--lake", dir, "--json"])
        #expect(young.status == 0, "\(young)")
        #expect(young.stdout.contains("\"candidates\":0"), "\(young.stdout)")
        let dry = try CLIRun.strata(["compact", "--lake", dir, "--min-age-ms", "0", "--dry-run"])
        #expect(dry.status == 0, "\(dry)")
        #expect(dry.stdout.contains("would compact 1 of 1 packed objects"), "\(dry.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: packedDir) == before)

        let run = try CLIRun.strata(["compact", "--lake", dir, "--min-age-ms", "0", "--json"])
        #expect(run.status == 0, "\(run)")
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        #expect(summary["objectsWritten"] as? Int == 1)
        #expect(summary["slicesMoved"] as? Int == 2)
        #expect(summary["logsCommitted"] as? Int == 2)
        #expect(summary["archivesRewritten"] as? Int == 0)
        #expect(summary["problems"] as? Int == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: packedDir).count == 2)

        let bad = try CLIRun.strata(["compact", "--lake", dir, "--live-below", "2"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--live-below must be in (0, 1]"), "\(bad.stderr)")

        let reopened = try Lake.open(dir, options: PackedOffloadTests.options(objectBytes: 1 << 20))
        try await PackedOffloadTests.expectAllRecords(try topics[..<2].map { try reopened.topic($0.name) })
        #expect(try await reopened.verify().problems == [])
        try await reopened.close()
    }
}

extension Sequence {
    /// `map` with an async transform, in order.
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
