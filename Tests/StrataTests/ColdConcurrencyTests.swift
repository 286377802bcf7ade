import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// ARCHITECTURE.md invariant 6: a reader sees one log while appends, background offload and eviction
/// move its records between tiers under it.
@Suite struct ColdConcurrencyTests {
    @Test func readerFromZeroSeesEveryRecordOnceWhileOffloadAndEvictionRun() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let count = 12_000
        let lake = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore(), background: true))
        var config = ColdFixture.smallSegments(segmentBytes: 16 * 1024, frameBytes: 4 * 1024)
        config.localRetentionMs = 0  // evict as soon as a segment is committed
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: config)

        let producer = Task {
            var i = 0
            while i < count {
                let end = min(count, i + 40)
                try await topic.append((i ..< end).map(ColdFixture.record))
                i = end
                if i % 200 == 0 { try await Task.sleep(for: .milliseconds(10)) }
            }
        }
        // Start reading once eviction has begun, so the reader starts in the cold tier and
        // crosses into the hot one while segments keep leaving it.
        var waitedMs = 0
        while topic.localStartOffset == 0, waitedMs < 20_000 {
            try await Task.sleep(for: .milliseconds(10))
            waitedMs += 10
        }
        #expect(topic.localStartOffset > 0)

        var cursor = try await Cursor(topic: topic, start: .offset(0))
        var records: [Record] = []
        var reads = 0
        while records.count < count, reads < 100_000 {
            records += try await cursor.next(maxBytes: 8 * 1024, waitMs: 200)
            reads += 1
        }
        try await producer.value
        #expect(records.count == count)
        #expect(ColdFixture.firstMismatch(records, 0 ..< count) == nil)
        #expect(lake.coldStats.cacheMisses > 0)
        try await lake.close()
    }
}
