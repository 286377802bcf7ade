import Foundation
import Testing

@testable import Strata

/// Issue 3 "must show": a large round trip across many segments with random seeks by offset
/// and by time.
@Suite struct RoundTripTests {
    /// Record count: 1M by default (about 30 s in a debug build on the shared 2-core box);
    /// `STRATA_ROUNDTRIP_RECORDS` overrides it.
    static let recordCount = Int(ProcessInfo.processInfo.environment["STRATA_ROUNDTRIP_RECORDS"] ?? "") ?? 1_000_000
    static let batchRecords = 1000
    /// Random seeks by offset and by time (each decodes one whole 1000-record batch).
    static let seekCount = 400

    @Test func millionRecordsAcrossSegmentsWithRandomSeeks() async throws {
        try await withTempDirectory { dir in
            var random = SeededRandom(seed: 0x5EED_0001)
            // Timestamps never decrease and repeat often (step 0, 1 or 2 ms).
            var timestamps: [Int64] = []
            timestamps.reserveCapacity(Self.recordCount)
            var ts: Int64 = 1_700_000_000_000
            for _ in 0 ..< Self.recordCount {
                timestamps.append(ts)
                ts += Int64(random.next() % 3)
            }
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("big", creatingWith: topicConfig(segmentBytes: 1024 * 1024, durability: .async))
            var offset: Int64 = 0
            while offset < Int64(Self.recordCount) {
                let count = min(Self.batchRecords, Self.recordCount - Int(offset))
                let result = try await topic.append(offsetRecords(from: offset, count: count) { timestamps[Int($0)] })
                #expect(result == AppendResult(firstOffset: offset, lastOffset: offset + Int64(count) - 1))
                offset += Int64(count)
            }
            try await topic.flush()
            #expect(topic.highWatermark == Int64(Self.recordCount))
            let segments = topic.segments()
            #expect(segments.count >= max(2, Self.recordCount / 100_000))
            #expect(segments.dropLast().allSatisfy { $0.sealed && $0.bytes <= 1024 * 1024 })

            for _ in 0 ..< Self.seekCount {
                let o = Int64(random.next() % UInt64(Self.recordCount))
                let result = try topic.readLocal(from: o, maxBytes: 1)
                let first = try #require(result.records.first)
                #expect(first.offset == o)
                #expect(string(first.value) == "v\(o)")
                #expect(first.timestamp == timestamps[Int(o)])
            }
            let low = timestamps[0], high = timestamps[timestamps.count - 1]
            var probes: [Int64] = [low - 1, low, high, high + 1, Int64.min, Int64.max]
            for _ in 0 ..< Self.seekCount { probes.append(low + Int64(random.next() % UInt64(high - low + 1))) }
            for t in probes {
                #expect(
                    try topic.localOffset(forTimestamp: t) == Self.firstOffset(atOrAfter: t, in: timestamps), "t=\(t)")
            }
            try await lake.close()

            // Reopened: sealed segments load from their indexes; every record reads back.
            let reopened = try Lake.open(dir, options: lakeOptions())
            let again = try reopened.topic("big")
            #expect(again.segments() == segments)
            var next: Int64 = 0
            while next < Int64(Self.recordCount) {
                let result = try again.readLocal(from: next)
                for record in result.records {
                    guard record.offset == next, string(record.value) == "v\(next)",
                        record.timestamp == timestamps[Int(next)]
                    else {
                        Issue.record(
                            "record \(record.offset) '\(string(record.value) ?? "nil")' at expected offset \(next)")
                        return
                    }
                    next += 1
                }
                #expect(result.nextOffset == next)
            }
            try await reopened.close()
        }
    }

    /// Brute force reference: the first offset whose timestamp is ≥ t (binary search over the
    /// non-decreasing list the test generated), or the end.
    static func firstOffset(atOrAfter t: Int64, in timestamps: [Int64]) -> Int64 {
        var lo = 0, hi = timestamps.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if timestamps[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return Int64(lo)
    }
}
