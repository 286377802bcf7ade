import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// `Topic.readBatches`: whole stored batches from either tier, the first holding the offset, then
/// more within `maxBytes`, with `read(from:)`'s range and damage rules.
@Suite struct BatchReadTests {
    /// Reads every batch from `offset` to the high watermark, checking continuity and the bound.
    private func drain(_ topic: Topic, from offset: Int64 = 0, maxBytes: Int) async throws -> [StoredBatch] {
        var out: [StoredBatch] = []
        var next = offset
        while next < topic.highWatermark {
            let result = try await topic.readBatches(from: next, maxBytes: maxBytes)
            guard let first = result.batches.first else {
                Issue.record("no batch at \(next) below the high watermark \(topic.highWatermark)")
                break
            }
            #expect(first.header.baseOffset <= next && first.header.lastOffset >= next, "first batch holds \(next)")
            let total = result.batches.reduce(0) { $0 + $1.bytes.count }
            #expect(result.batches.count == 1 || total <= maxBytes, "\(total) bytes for maxBytes \(maxBytes)")
            for (a, b) in zip(result.batches, result.batches.dropFirst()) {
                #expect(b.header.baseOffset == a.header.nextOffset)
            }
            #expect(result.nextOffset == result.batches.last!.header.nextOffset)
            out += result.batches
            next = result.nextOffset
        }
        return out
    }

    /// Decodes each stored batch (checking its CRC once more) and returns its records.
    private func records(_ batches: [StoredBatch]) throws -> [Record] {
        try batches.flatMap { batch in
            let decoded = try BatchCodec.decode(batch.bytes)
            #expect(decoded.header == batch.header)
            #expect(batch.bytes.count == batch.header.batchLength)
            return decoded.records
        }
    }

    @Test func hotBatchesComeWholeFromTheOneHoldingTheOffset() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("t", creatingWith: topicConfig(segmentBytes: 1024))
            for i in 0 ..< 40 { try await topic.append(offsetRecords(from: Int64(i * 5), count: 5)) }
            #expect(topic.segments().count > 2)

            let mid = try await topic.readBatches(from: 12, maxBytes: 1 << 20)
            #expect(mid.batches.first?.header.baseOffset == 10, "the batch holding 12 starts at 10")
            #expect(mid.highWatermark == 200 && mid.logStartOffset == 0)
            #expect(mid.nextOffset == mid.batches.last?.header.nextOffset)
            let first = try records([mid.batches[0]])
            #expect(first.map(\.offset) == [10, 11, 12, 13, 14])
            #expect(string(first[2].value) == "v12")

            // maxBytes smaller than one batch: exactly that batch.
            let tiny = try await topic.readBatches(from: 37, maxBytes: 1)
            #expect(tiny.batches.count == 1)
            #expect(tiny.batches[0].header.baseOffset == 35 && tiny.nextOffset == 40)
            // Room for exactly two batches.
            let two = try await topic.readBatches(from: 35, maxBytes: tiny.batches[0].bytes.count * 2)
            #expect(two.batches.count == 2 && two.nextOffset == 45)

            let all = try await drain(topic, maxBytes: 700)
            #expect(try records(all).map { string($0.value) } == (0 ..< 200).map { "v\($0)" })
            // At the high watermark: nothing, and nothing is wrong.
            let end = try await topic.readBatches(from: 200)
            #expect(end.batches.isEmpty && end.nextOffset == 200)
            do throws(StrataError) {
                _ = try await topic.readBatches(from: 201)
                Issue.record("read above the high watermark")
            } catch {
                #expect(error.code == .offsetOutOfRange && error.validRange == 0 ... 200)
            }
            await #expect(throws: StrataError.self) { try await topic.readBatches(from: 0, maxBytes: 0) }
            try await lake.close()
        }
    }

    @Test func coldBatchesAfterEvictionReadSequentiallyWithReadAhead() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let count = 20_000
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< count, batch: 100)
        try await lake.offload(evict: true)
        #expect(topic.localStartOffset == Int64(count))
        let segments = try await topic.coldSegments()
        let frames = segments.reduce(0) { $0 + $1.frameCount }
        #expect(frames > segments.count)

        let before = lake.coldStats
        let batches = try await drain(topic, maxBytes: 64 * 1024)
        let got = try records(batches)
        #expect(got.count == count)
        #expect(ColdFixture.firstMismatch(got, 0 ..< count) == nil)
        for task in lake.cold.prefetchTasks { await task.value }
        let after = lake.coldStats
        // Each frame fetched once (read-ahead joined, never refetched), one footer per object.
        let gets = after.blob.getRequests - before.blob.getRequests
        #expect(gets <= frames + 2 * segments.count, "\(gets) GETs for \(frames) frames in \(segments.count) objects")
        #expect(after.cacheHits > before.cacheHits, "read-ahead served frames from the cache")

        // Mid-object, mid-batch, maxBytes below one batch.
        let seek = try await topic.readBatches(from: 12_345, maxBytes: 1)
        #expect(seek.batches.count == 1)
        #expect(seek.batches[0].header.baseOffset == 12_300 && seek.nextOffset == 12_400)
        #expect(seek.logStartOffset == 0 && seek.highWatermark == Int64(count))
        try await lake.close()
    }

    @Test func readsCrossTheTierBoundaryAndWorkReadOnly() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: ColdFixture.options())
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 5_000, batch: 50)
        try await lake.offload(evict: true)
        try await ColdFixture.produce(topic, 5_000 ..< 6_000, batch: 50)
        #expect(topic.localStartOffset == 5_000)
        let boundary = try await topic.readBatches(from: 4_990, maxBytes: 1 << 20)
        #expect(boundary.batches.first?.header.baseOffset == 4_950)
        #expect(boundary.nextOffset == 5_000, "a cold read stops at the local start")
        let all = try await drain(topic, maxBytes: 16 * 1024)
        let got = try records(all)
        #expect(got.count == 6_000 && ColdFixture.firstMismatch(got, 0 ..< 6_000) == nil)
        try await topic.flush()

        let reader = try Lake.openReadOnly(dir, options: ColdFixture.options())
        let view = try reader.topic(ColdFixture.topicName)
        let viewed = try records(try await drain(view, maxBytes: 16 * 1024))
        #expect(viewed.count == 6_000 && ColdFixture.firstMismatch(viewed, 0 ..< 6_000) == nil)
        try await reader.close()
        try await lake.close()
    }

    /// A damaged cold frame: the batches before it come back, then `corrupt` naming the object
    /// and the frame; nothing after it is returned or skipped to.
    @Test func aDamagedColdFrameEndsTheReadAfterTheBatchesBeforeIt() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 10_000, batch: 100)
        try await lake.offload(evict: true)
        let manifest = try #require(try await ColdFixture.storedManifest(store))
        let victim = manifest.segments[manifest.segments.count / 2]
        let index = try ColdObjectFooter.parse(object: try await store.get(victim.key, range: .whole).bytes)
        #expect(index.frames.count >= 3)
        let frame = index.frames[1]
        try store.corrupt(key: victim.key, at: frame.objectOffset + frame.compressedBytes / 2, xor: 0x10)

        var next = victim.baseOffset
        var got: [StoredBatch] = []
        var failure: StrataError? = nil
        for _ in 0 ..< 100 {
            do throws(StrataError) {
                let result = try await topic.readBatches(from: next, maxBytes: 1 << 20)
                got += result.batches
                next = result.nextOffset
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.code == .corrupt && error.file == victim.key && error.message.contains("frame 1"))
        #expect(next == frame.firstOffset)
        #expect(got.first?.header.baseOffset == victim.baseOffset)
        #expect(got.last?.header.nextOffset == frame.firstOffset)
        try await lake.close()
    }

    /// A cold object cut short (its footer is gone): as `read(from:)`, the whole frames at its
    /// start still read, then `corrupt` naming the object.
    @Test func aTruncatedColdObjectYieldsItsWholeFramesThenTheError() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 10_000, batch: 100)
        try await lake.offload(evict: true)
        try await lake.close()
        let manifest = try #require(try await ColdFixture.storedManifest(store))
        let victim = manifest.segments[1]
        let object = try await store.get(victim.key, range: .whole).bytes
        let index = try ColdObjectFooter.parse(object: object)
        #expect(index.frames.count >= 3)
        let kept = index.frames[2]
        store.setRaw(victim.key, Array(object[..<(kept.objectOffset + kept.compressedBytes / 2)]))

        let reopened = try Lake.open(dir, options: ColdFixture.options(store: store))
        let view = try reopened.topic(ColdFixture.topicName)
        let first = try await view.readBatches(from: victim.baseOffset + 1, maxBytes: 1 << 20)
        #expect(first.batches.first?.header.baseOffset == victim.baseOffset)
        #expect(first.nextOffset == kept.firstOffset, "the two whole frames before the cut")
        #expect(try records(first.batches).count == Int(kept.firstOffset - victim.baseOffset))
        do throws(StrataError) {
            _ = try await view.readBatches(from: first.nextOffset)
            Issue.record("read past the cut")
        } catch {
            #expect(error.code == .corrupt && error.file == victim.key)
        }
        try await reopened.close()
    }

    @Test func deletedRecordsAreOutOfRangeAsForRead() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("t", creatingWith: topicConfig())
            for i in 0 ..< 10 { try await topic.append(offsetRecords(from: Int64(i * 10), count: 10)) }
            _ = try await topic.deleteRecords(before: 25)
            for offset: Int64 in [0, 24] {
                do throws(StrataError) {
                    _ = try await topic.readBatches(from: offset)
                    Issue.record("deleted offset \(offset) was read")
                } catch {
                    #expect(error.code == .offsetOutOfRange && error.validRange == 25 ... 100)
                }
            }
            let result = try await topic.readBatches(from: 25, maxBytes: 1)
            #expect(result.logStartOffset == 25)
            #expect(result.batches.first?.header.baseOffset == 20, "the whole batch holding 25")
            try await lake.close()
        }
    }

    @Test func damageEndsTheReadAfterTheBatchesBeforeIt() async throws {
        try await withTempDirectory { dir in
            let path: String
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let topic = try lake.topic("t", creatingWith: topicConfig())
                for i in 0 ..< 5 { try await topic.append(offsetRecords(from: Int64(i * 4), count: 4)) }
                path = topic.segments()[0].path
                try await lake.close()
            }
            // Flip a byte inside the third batch's records; the segment is the active one, and the
            // valid batches after the damage make it corruption, not a torn tail.
            var bytes = try FileIO.readWholeFile(path)
            let scan = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
            let third = scan.batches[2]
            bytes[third.position + BatchHeader.size + 3] ^= 0x40
            try FileIO.writeAtomically(path, bytes)

            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("t")
            let before = try await topic.readBatches(from: 0, maxBytes: 1 << 20)
            #expect(before.batches.map(\.header.baseOffset) == [0, 4])
            #expect(before.nextOffset == 8)
            do throws(StrataError) {
                _ = try await topic.readBatches(from: 8)
                Issue.record("the damaged batch was returned")
            } catch {
                #expect(error.code == .corrupt && error.file == path)
            }
            try await lake.close()
        }
    }
}
