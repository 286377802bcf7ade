import Foundation
import StrataTesting
import Testing

@testable import Strata

/// Segments roll on size and on age; sealed ones get an index and survive a reopen.
@Suite struct SegmentRollTests {
    /// Checks `segments()` against the files: contiguous offsets, sizes, timestamps, indexes.
    func checkSegments(_ topic: Topic, timestamps: [Int64]) throws {
        let segments = topic.segments()
        for (a, b) in zip(segments, segments.dropFirst()) { #expect(b.baseOffset == a.lastOffset + 1) }
        #expect(segments.first?.baseOffset == 0)
        #expect(segments.last.map { $0.lastOffset + 1 } == topic.highWatermark)
        for (i, info) in segments.enumerated() {
            #expect(info.sealed == (i < segments.count - 1))
            #expect(FileIO.fileSize(atPath: info.path) == info.bytes)
            let indexPath = String(info.path.dropLast(4)) + ".idx"
            #expect(FileIO.exists(indexPath) == info.sealed, "\(indexPath)")
            let (header, scan) = try scanSegment(info.path)
            #expect(header.baseOffset == info.baseOffset)
            #expect(header.createdMs == info.createdMs)
            #expect(scan.stopError == nil)
            #expect(scan.nextOffset == info.lastOffset + 1)
            if info.recordCount > 0 {
                let range = Int(info.baseOffset) ... Int(info.lastOffset)
                #expect(info.firstTimestamp == timestamps[range.lowerBound])
                #expect(info.maxTimestamp == timestamps[range].max())
            }
        }
    }

    @Test func rollsBySizeAndReopensWithIndexes() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: lakeOptions(clock: clock))
            let topic = try lake.topic("size", creatingWith: topicConfig(segmentBytes: 4096))
            var timestamps: [Int64] = []
            for b in 0 ..< 100 {
                let first = Int64(b * 10)
                // Timestamps go back and forth a little: max ≠ last.
                let records = offsetRecords(from: first, count: 10) { 1_000 + ($0 % 7) * 3 + $0 / 10 }
                timestamps += records.map { $0.timestamp! }
                try await topic.append(records)
            }
            let segments = topic.segments()
            #expect(segments.count >= 4)
            #expect(segments.allSatisfy { $0.bytes <= 4096 })
            try checkSegments(topic, timestamps: timestamps)
            try await lake.close()

            let log = LogSink()
            let reopened = try Lake.open(dir, options: lakeOptions(clock: clock, log: log))
            let again = try reopened.topic("size")
            #expect(again.segments() == segments)
            #expect(log.messages.isEmpty, "a clean reopen rebuilds nothing: \(log.messages)")
            let records = try readAll(again)
            #expect(records.map { string($0.value) } == (0 ..< 1000).map { "v\($0)" })
            #expect(records.map(\.timestamp) == timestamps)
            try await again.append(offsetRecords(from: 1000, count: 1))
            try checkSegments(again, timestamps: timestamps + [again.readLocal(from: 1000).records[0].timestamp])
            try await reopened.close()
        }
    }

    @Test func rollsByAgeWithAManualClock() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: lakeOptions(clock: clock))
            var config = topicConfig()
            config.segmentMs = 60_000
            let topic = try lake.topic("age", creatingWith: config)
            // An empty active segment never rolls, however old.
            clock.advance(ms: 120_000)
            topic.rollIfAged()
            #expect(topic.segments().count == 1)

            try await topic.append(offsetRecords(from: 0, count: 2))  // rolls nothing: segment is empty
            #expect(topic.segments().count == 1)
            // The segment was created 120 s ago: the next append rolls it first.
            try await topic.append(offsetRecords(from: 2, count: 1))
            #expect(topic.segments().map(\.baseOffset) == [0, 2])

            clock.advance(ms: 30_000)
            topic.rollIfAged()
            try await topic.append(offsetRecords(from: 3, count: 1))
            #expect(topic.segments().map(\.baseOffset) == [0, 2])

            clock.advance(ms: 30_001)
            topic.rollIfAged()  // without an append
            #expect(topic.segments().map(\.baseOffset) == [0, 2, 4])
            #expect(topic.segments().map(\.sealed) == [true, true, false])
            #expect(topic.segments()[2].createdMs == clock.nowMs())
            try await topic.append(offsetRecords(from: 4, count: 1))
            #expect(topic.segments().map(\.lastOffset) == [1, 3, 4])
            try checkSegments(topic, timestamps: try readAll(topic).map(\.timestamp))
            try await lake.close()

            let reopened = try Lake.open(dir, options: lakeOptions(clock: clock))
            let again = try reopened.topic("age")
            #expect(again.segments().map(\.baseOffset) == [0, 2, 4])
            #expect(try readAll(again).map { string($0.value) } == (0 ..< 5).map { "v\($0)" })
            try await reopened.close()
        }
    }
}
