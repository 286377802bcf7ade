import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// `Cursor.nextBatches` (records read in place from the batches' bytes) across both tiers, the
/// frame cache's scan resistance and buffer reuse during a cold replay, and damage seen through it.
@Suite struct RecordViewTests {
    /// Reads `topic` from `start` to `end` with `nextBatches`, checking the views follow on.
    static func readViews(_ topic: Topic, from start: Int64, to end: Int64) async throws -> [Record] {
        var cursor = try await Cursor(topic: topic, start: .offset(start))
        var records: [Record] = []
        var reads = 0
        while cursor.nextOffset < end, reads < 100_000 {
            let before = cursor.nextOffset
            let views = try await cursor.nextBatches()
            let got = views.flatMap(\.records)
            #expect(got.first?.offset == before)
            #expect(got.count == views.reduce(0) { $0 + $1.count })
            #expect(cursor.nextOffset == before + Int64(got.count))
            records += got
            reads += 1
        }
        return records
    }

    @Test func batchViewsYieldTheRecordsNextReturnsInBothTiers() async throws {
        try await ColdFixture.withLake(store: MemoryBlobStore()) { lake, _ in
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 6_000)
            _ = try await lake.offload(evict: true)
            try await ColdFixture.produce(topic, 6_000 ..< 9_000)
            #expect(topic.localStartOffset > 0 && topic.localStartOffset <= 6_000)
            for start in [0, 1, 2_345, 5_999, 6_000, 8_999] {
                let records = try await Self.readViews(topic, from: Int64(start), to: 9_000)
                #expect(ColdFixture.firstMismatch(records, start ..< 9_000) == nil, "from \(start)")
            }
            // At the high watermark: nothing, without waiting.
            var atEnd = try await Cursor(topic: topic, start: .latest)
            #expect(try await atEnd.nextBatches().isEmpty)
        }
    }

    /// A replay from offset 0 through the cold tier: each frame leaves the cache once the replay
    /// is past it (the cache does not fill up with it), a frame a random reader read stays, and
    /// the frames are decoded into a few reused buffers, not one new buffer per frame.
    @Test func aColdReplayLeavesTheCacheAsItGoesAndReusesFrameBuffers() async throws {
        try await ColdFixture.withLake(store: MemoryBlobStore()) { lake, _ in
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 20_000)
            _ = try await lake.offload(evict: true)
            let cold = lake.cold
            let random = try await topic.read(from: 12_345, readAhead: false)
            #expect(random.records.first == ColdFixture.expected(12_345))
            #expect(cold.frames.count == 1)
            let allocatedBefore = cold.framePool.allocationCount
            let missesBefore = cold.frames.misses

            var cursor = try await Cursor(topic: topic, start: .earliest)
            var count = 0
            var valueBytes = 0
            var cachedMax = 0
            var afterFirstRead: Int? = nil
            while cursor.nextOffset < 20_000 {
                for view in try await cursor.nextBatches(maxBytes: 64 * 1024) {
                    view.withRecords { records in
                        for record in records {
                            count += 1
                            valueBytes += record.value?.count ?? 0
                        }
                    }
                }
                cachedMax = max(cachedMax, cold.frames.count)
                if afterFirstRead == nil { afterFirstRead = cold.frames.count }
            }
            #expect(count == 20_000)
            #expect(valueBytes == (0 ..< 20_000).reduce(0) { $0 + (ColdFixture.record($1).value?.count ?? 0) })
            for task in cold.prefetchTasks { await task.value }
            let framesRead = cold.frames.misses - missesBefore
            #expect(framesRead > 30)
            // The random reader's frame and those of the first read (before the cursor counts as
            // sequential) stay; of the rest, at most the read-ahead is left.
            let kept = try #require(afterFirstRead)
            #expect(cold.frames.count <= kept + ColdTier.readAheadFrames)
            #expect(cachedMax <= kept + 2 * ColdTier.readAheadFrames + 4, "\(framesRead) frames read")
            let again = try await topic.read(from: 12_345, readAhead: false)
            #expect(again.records.first == ColdFixture.expected(12_345))
            #expect(cold.frames.misses == missesBefore + framesRead, "the random reader's frame was evicted")
            #expect(cold.framePool.allocationCount - allocatedBefore <= 16, "\(framesRead) frames")
        }
    }

    /// A flipped byte in one frame of an evicted object, read with `nextBatches`: every record
    /// before the frame, then `corrupt` naming object and frame, and the cursor stays there.
    @Test func aCorruptColdFrameStopsBatchViewsWithATypedError() async throws {
        let store = MemoryBlobStore()
        try await ColdFixture.withLake(store: store) { lake, _ in
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 10_000)
            _ = try await lake.offload(evict: true)
            let manifest = try #require(try await ColdFixture.storedManifest(store))
            let victim = manifest.segments[manifest.segments.count / 2]
            let index = try ColdObjectFooter.parse(object: try await store.get(victim.key, range: .whole).bytes)
            let frame = index.frames[1]
            try store.corrupt(key: victim.key, at: frame.objectOffset + frame.compressedBytes / 2, xor: 0x10)

            var cursor = try await Cursor(topic: topic, start: .offset(0))
            var records: [Record] = []
            var failure: StrataError? = nil
            for _ in 0 ..< 10_000 {
                do throws(StrataError) {
                    let views = try await cursor.nextBatches()
                    if views.isEmpty { break }
                    records += views.flatMap(\.records)
                } catch {
                    failure = error
                    break
                }
            }
            let error = try #require(failure)
            #expect(error.code == .corrupt)
            #expect(error.file == victim.key)
            #expect(error.message.contains("frame 1"))
            #expect(ColdFixture.firstMismatch(records, 0 ..< Int(frame.firstOffset)) == nil)
            #expect(cursor.nextOffset == frame.firstOffset)
            await #expect(throws: StrataError.self) { _ = try await cursor.nextBatches() }
            #expect(cursor.nextOffset == frame.firstOffset)
        }
    }

    /// A damaged batch in a local segment: the views before it, then the typed error naming
    /// the segment file.
    @Test func aCorruptLocalBatchStopsBatchViewsWithATypedError() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: ColdFixture.options())
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 400, batch: 100)
        try await topic.flush()
        let segment = try #require(topic.segments().first)
        // Inside the third batch's records: its CRC no longer matches.
        let batchBytes = try FileIO.readWholeFile(segment.path)
        var at = SegmentHeader.size
        for _ in 0 ..< 2 { at += try #require(batchBytes.withUnsafeBytes { BatchCodec.declaredLength($0, at: at) }) }
        let handle = try #require(FileHandle(forUpdatingAtPath: segment.path))
        try handle.seek(toOffset: UInt64(at + 100))
        let old = try #require(try handle.read(upToCount: 1)).first ?? 0
        try handle.seek(toOffset: UInt64(at + 100))
        try handle.write(contentsOf: Data([old ^ 0x01]))
        try handle.close()

        var cursor = try await Cursor(topic: topic, start: .offset(0))
        var records: [Record] = []
        var failure: StrataError? = nil
        do throws(StrataError) {
            while cursor.nextOffset < 400 {
                let views = try await cursor.nextBatches(maxBytes: 1)
                records += views.flatMap(\.records)
            }
        } catch {
            failure = error
        }
        let error = try #require(failure)
        #expect(error.code == .corrupt)
        #expect(error.file == segment.path)
        #expect(ColdFixture.firstMismatch(records, 0 ..< 200) == nil)
        #expect(cursor.nextOffset == 200)
        try await lake.close()
    }
}
