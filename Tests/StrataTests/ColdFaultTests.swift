import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// The cold tier under a failing store and under a second writer (ARCHITECTURE.md invariants 5, 6).
@Suite struct ColdFaultTests {
    @Test(arguments: [UInt64(1), 20_240_601, 99])
    func offloadAndReadsSucceedThroughAFlakyStore(seed: UInt64) async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let inner = MemoryBlobStore()
        // Besides the random faults: the first manifest commit (put 2) and the second upload
        // (put 3) land and then report failure, the ambiguous success a retry must resolve.
        let ambiguous = [2, 3].map { FaultPlan.FailCall(callNumber: $0, operation: .put, afterInner: true) }
        let plan = FaultPlan(
            failCalls: ambiguous, unavailableFraction: 0.1, truncatedGetFraction: 0.03,
            failAfterPutFraction: 0.03)
        let faulty = FaultyBlobStore(wrapping: inner, plan: plan, seed: seed)
        let count = 8_000
        let lake = try Lake.open(dir, options: ColdFixture.options(store: faulty))
        let topic = try lake.topic(
            ColdFixture.topicName,
            creatingWith: ColdFixture.smallSegments(segmentBytes: 16 * 1024, frameBytes: 4 * 1024))
        try await ColdFixture.produce(topic, 0 ..< count, batch: 100)
        let report = try await lake.offload(evict: true)
        #expect(report.segmentsOffloaded > 10)
        #expect(topic.localStartOffset == Int64(count))

        // Reads go through the same faults.
        var cursor = try await Cursor(topic: topic, start: .offset(0))
        let records = try await ColdFixture.readAll(&cursor, until: Int64(count))
        #expect(ColdFixture.firstMismatch(records, 0 ..< count) == nil)
        let counters = faulty.counters
        #expect(counters.failedBefore > 0)
        #expect(counters.failedAfter > 0)
        #expect(counters.truncatedGets > 0)

        // No manifest points at a missing object.
        let manifest = try #require(try await ColdFixture.storedManifest(inner))
        #expect(manifest.nextOffset == Int64(count))
        #expect(manifest.logStartOffset == 0)
        let segments = try await ColdFixture.allSegments(manifest, store: inner)
        #expect(segments.count == report.segmentsOffloaded)
        for segment in segments {
            let info = try await inner.head(segment.key)
            #expect(info.size == segment.objectBytes, "\(segment.key)")
        }
        try await lake.close()
    }

    /// A second lake with its own, different log finds the first lake's manifest covering its
    /// segments: it must be fenced, not take those segments for its own (and evict them).
    @Test func secondLakeOnTheSameColdDirectoryIsFenced() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let coldURL = "file://" + dir + "/shared-cold"
        let first = try Lake.open(dir + "/a", cold: coldURL, options: ColdFixture.options())
        let firstTopic = try first.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(firstTopic, 0 ..< 10_000)
        let firstReport = try await first.offload(evict: false)

        let second = try Lake.open(dir + "/b", cold: coldURL, options: ColdFixture.options())
        let secondTopic = try second.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        for i in 0 ..< 4_000 {  // fewer records than the first lake has offloaded, and different ones
            try await secondTopic.append([ProducerRecord(value: Array("second-\(i)".utf8), timestamp: Int64(i))])
        }
        await #expect(throws: StrataError.self) { _ = try await second.offload(evict: true) }
        do {
            _ = try await second.offload(evict: true)
            Issue.record("a fenced lake offloaded again")
        } catch let error as StrataError {
            #expect(error.code == .fenced)
        }
        // The fenced lake kept its own records locally and still reads them.
        #expect(secondTopic.localStartOffset == 0)
        let own = try await secondTopic.read(from: 0)
        #expect(own.records.first?.value == Array("second-0".utf8))

        let store = try FileSystemBlobStore(root: dir + "/shared-cold")
        let manifest = try #require(try await ColdFixture.storedManifest(store))
        #expect(manifest.nextOffset == 10_000)
        #expect(manifest.segments.count == firstReport.segmentsOffloaded)
        for segment in manifest.segments { _ = try await store.head(segment.key) }
        try await second.close()
        try await first.close()
    }

    /// Two copies of one lake diverge: the one that commits second loses the put-if-absent race
    /// on the next manifest version and is fenced; the manifest stays the winner's.
    @Test func losingTheManifestRaceFencesTheWriter() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let shared = MemoryBlobStore()
        do {
            let lake = try Lake.open(dir + "/a", options: ColdFixture.options(store: shared))
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 5_000)
            _ = try await lake.offload(evict: false)
            try await lake.close()
        }
        try FileManager.default.copyItem(atPath: dir + "/a", toPath: dir + "/b")
        let winner = try Lake.open(dir + "/a", options: ColdFixture.options(store: shared))
        let loser = try Lake.open(dir + "/b", options: ColdFixture.options(store: shared))
        let winnerTopic = try winner.topic(ColdFixture.topicName)
        let loserTopic = try loser.topic(ColdFixture.topicName)
        // Both have checked the manifest and hold the same version: a true race for the next one.
        _ = try await loser.offload(evict: false)
        _ = try await winner.offload(evict: false)
        try await ColdFixture.produce(winnerTopic, 5_000 ..< 7_000)
        try await loserTopic.append((0 ..< 300).map { ProducerRecord(value: Array("loser-\($0)".utf8), timestamp: 1) })
        _ = try await winner.offload(evict: false)

        do {
            _ = try await loser.offload(evict: true)
            Issue.record("the second writer committed over the first")
        } catch let error as StrataError {
            #expect(error.code == .fenced)
            #expect(error.file?.contains("/manifest/") == true)
        }
        let manifest = try #require(try await ColdFixture.storedManifest(shared))
        #expect(manifest.nextOffset == 7_000)
        #expect(manifest.segments.allSatisfy { shared.keys().contains($0.key) })
        // The winner goes on committing; its records read back.
        try await ColdFixture.produce(winnerTopic, 7_000 ..< 8_000)
        _ = try await winner.offload(evict: true)
        var cursor = try await Cursor(topic: winnerTopic, start: .offset(0))
        let records = try await ColdFixture.readAll(&cursor, until: 8_000)
        #expect(ColdFixture.firstMismatch(records, 0 ..< 8_000) == nil)
        try await loser.close()
        try await winner.close()
    }
}
