import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Seamless reads from the cold tier (issue 4 "must show"): identical records after eviction,
/// timestamp seeks, the blob cost of a seek, and objects that stock `zstd -d` decodes.
@Suite struct ColdReadTests {
    @Test func everyRecordReadsBackIdenticalFromColdAfterEviction() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let count = 200_000
        let lake = try Lake.open(dir, options: ColdFixture.options())
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< count, batch: 1000)

        let report = try await lake.offload(evict: true)
        #expect(report.segmentsOffloaded > 100)
        #expect(report.segmentsEvicted == report.segmentsOffloaded)
        // Only the fresh, empty active segment is left locally: every read below is cold.
        #expect(topic.localStartOffset == Int64(count))
        #expect(topic.segments().count == 1)

        var fromEarliest = try await Cursor(topic: topic, start: .earliest)
        #expect(fromEarliest.nextOffset == 0)
        let firstBatch = try await fromEarliest.next()
        #expect(firstBatch.first == ColdFixture.expected(0))

        var cursor = try await Cursor(topic: topic, start: .offset(0))
        let records = try await ColdFixture.readAll(&cursor, until: Int64(count))
        #expect(records.count == count)
        #expect(ColdFixture.firstMismatch(records, 0 ..< count) == nil)
        #expect(lake.coldStats.cacheMisses > 0)

        // `.timestamp(t)` lands on the first record (in offset order) with ts ≥ t, found by brute force.
        let timestamps = (0 ..< count).map { ColdFixture.record($0).timestamp ?? 0 }
        var probes: [Int64] = [Int64.min / 2, ColdFixture.timestampBaseMs - 1_000, (timestamps.max() ?? 0) + 1]
        for k in 1 ... 12 {
            let t = timestamps[(k * 15_485_863) % count]
            probes += [t, t - 1, t + 1]
        }
        for t in probes {
            let expected = timestamps.firstIndex { $0 >= t } ?? count
            var seek = try await Cursor(topic: topic, start: .timestamp(t))
            #expect(seek.nextOffset == Int64(expected), "timestamp \(t)")
            if expected < count {
                let first = try await seek.next().first
                #expect(first == ColdFixture.expected(expected), "timestamp \(t)")
            }
        }
        try await lake.close()
    }

    @Test func coldSeekCostsTailPlusFrameThenOneRequestWithTailCached() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let count = 20_000
        do {
            let lake = try Lake.open(dir, options: ColdFixture.options())
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< count)
            _ = try await lake.offload(evict: true)
            try await lake.close()
        }
        // A new process: the manifest comes from the lake's local copy, caches are cold.
        #expect(FileManager.default.fileExists(atPath: LakePaths(root: dir).topicManifestCopy(ColdFixture.topicName)))
        let lake = try Lake.open(dir, options: ColdFixture.options())
        let topic = try lake.topic(ColdFixture.topicName)
        #expect(topic.localStartOffset == Int64(count))

        let target: Int64 = 11_111
        let before = lake.coldStats.blob
        var cursor = try await Cursor(topic: topic, start: .offset(target))
        let records = try await cursor.next()
        let afterFirst = lake.coldStats.blob
        #expect(records.first == ColdFixture.expected(Int(target)))
        #expect(afterFirst.requests - before.requests <= 2)
        #expect(afterFirst.requests - before.requests == afterFirst.getRequests - before.getRequests)

        // Another frame of the same object: the footer is cached, so one ranged GET.
        let manifest = try #require(try await lake.cold.latestManifest(ColdFixture.topicName))
        let segment = try #require(try await lake.cold.segment(holding: target, in: manifest))
        let index = try await lake.cold.footer(of: segment, topic: ColdFixture.topicName)
        #expect(index.frames.count >= 2)
        let seenFrame = try #require(index.frameIndex(forOffset: target))
        let otherFrame = index.frames[seenFrame == 0 ? index.frames.count - 1 : 0]
        let otherTarget = otherFrame.firstOffset + (otherFrame.lastOffset - otherFrame.firstOffset) / 2
        #expect(lake.coldStats.blob == afterFirst)

        var second = try await Cursor(topic: topic, start: .offset(otherTarget))
        let more = try await second.next()
        #expect(more.first == ColdFixture.expected(Int(otherTarget)))
        #expect(lake.coldStats.blob.requests - afterFirst.requests == 1)
        try await lake.close()
    }

    @Test func stockZstdDecodesEveryColdObjectToTheSealedSegment() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: ColdFixture.options())
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 15_000)
        let report = try await lake.offload(evict: false)
        #expect(report.segmentsOffloaded > 5)

        let manifest = try #require(try await lake.cold.latestManifest(ColdFixture.topicName))
        #expect(manifest.segments.count == report.segmentsOffloaded)
        let coldRoot = dir + "/cold/"
        for segment in manifest.segments {
            let local = try FileIO.readWholeFile(
                lake.paths.segment(ColdFixture.topicName, baseOffset: segment.baseOffset))
            let decoded = try Self.zstdDecompress(coldRoot + segment.key)
            #expect(decoded == local, "object \(segment.key)")
            #expect(segment.frameCount > 1)
        }
        try await lake.close()
    }

    /// Runs `/usr/bin/zstd -d -c` on `path` and returns what it writes.
    static func zstdDecompress(_ path: String) throws -> [UInt8] {
        let (status, bytes) = runToEnd("/usr/bin/zstd", ["-d", "-c", "-q", path])
        #expect(status == 0, "zstd -d \(path)")
        return bytes
    }
}
