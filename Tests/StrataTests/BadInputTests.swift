import Foundation
import StrataTesting
import Testing

@testable import Strata

/// ARCHITECTURE.md invariant 9: bad input gets a typed error and changes nothing.
@Suite struct BadInputTests {
    @Test func emptyOversizedRecordAndOversizedBatchAreRejectedWithoutWriting() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            var config = topicConfig()
            config.recordBytesMax = 1000
            config.batchBytesMax = 10_000
            let topic = try lake.topic("t", creatingWith: config)
            try await topic.append(offsetRecords(from: 0, count: 5))
            let before = fileTree(dir)
            let segmentsBefore = topic.segments()

            let empty = await strataError { try await topic.append([]) }
            #expect(empty?.code == .invalidArgument)

            let bigRecord = [
                ProducerRecord(value: bytes("ok")), ProducerRecord(value: [UInt8](repeating: 7, count: 1001)),
            ]
            let tooLargeRecord = await strataError { try await topic.append(bigRecord) }
            #expect(tooLargeRecord?.code == .tooLarge)
            #expect(tooLargeRecord?.message.contains("recordBytesMax") == true)

            // Every record fits, the batch does not.
            let bigBatch = (0 ..< 20).map { _ in ProducerRecord(value: [UInt8](repeating: 1, count: 900)) }
            let tooLargeBatch = await strataError { try await topic.append(bigBatch) }
            #expect(tooLargeBatch?.code == .tooLarge)
            #expect(tooLargeBatch?.message.contains("batchBytesMax") == true)

            #expect(topic.highWatermark == 5)
            #expect(topic.segments() == segmentsBefore)
            #expect(fileTree(dir) == before)
            // The topic still works and offsets stay dense.
            #expect(
                try await topic.append(offsetRecords(from: 5, count: 1)) == AppendResult(firstOffset: 5, lastOffset: 5))
            #expect(try readAll(topic).map { string($0.value) } == (0 ..< 6).map { "v\($0)" })
            try await lake.close()
        }
    }

    static let badNames = [
        "", ".", "..", "a/b", "/abs", "../up", String(repeating: "a", count: 250), "tópico", "emoji🙂",
        "sp ace", "nul\u{0}",
    ]

    @Test(arguments: badNames)
    func invalidTopicNameIsRejectedAndCreatesNothing(name: String) async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let before = fileTree(dir)
            #expect(strataError { _ = try lake.topic(name, creatingWith: nil) }?.code == .invalidArgument)
            #expect(strataError { _ = try lake.topic(name) }?.code == .invalidArgument)
            #expect(fileTree(dir) == before)
            #expect(try lake.topicNames().isEmpty)
            try await lake.close()
        }
    }

    @Test func topicNameBoundaries() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let longest = String(repeating: "z", count: 249)
            for name in [longest, "a", "A-b_c.9", "...", ".a"] {
                _ = try lake.topic(name, creatingWith: nil)
            }
            #expect(try lake.topicNames() == ["...", ".a", "A-b_c.9", "a", longest].sorted())
            #expect(strataError { _ = try lake.topic("missing") }?.code == .notFound)
            try await lake.close()
        }
    }

    @Test func offsetsOutOfRangeCarryTheValidRange() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: lakeOptions(clock: clock))
            let topic = try lake.topic("t", creatingWith: nil)
            try await topic.append(offsetRecords(from: 0, count: 10))
            for bad: Int64 in [-1, -1000, Int64.min, 11, 12, Int64.max] {
                let error = strataError { _ = try topic.readLocal(from: bad) }
                #expect(error?.code == .offsetOutOfRange, "offset \(bad)")
                #expect(error?.validRange == 0 ... 10, "offset \(bad)")
                let cursorError = await strataError { _ = try await Cursor(topic: topic, start: .offset(bad)) }
                #expect(cursorError?.code == .offsetOutOfRange)
                #expect(cursorError?.validRange == 0 ... 10)
            }
            // At the high watermark: nothing yet, not an error.
            let atEnd = try topic.readLocal(from: 10)
            #expect(atEnd.records.isEmpty)
            #expect(atEnd.nextOffset == 10)
            #expect(atEnd.highWatermark == 10)
            let cursor = try await Cursor(topic: topic, start: .latest)
            async let polled: [Record] = {
                var c = cursor; return try await c.next(waitMs: 20)
            }()
            await clock.waitForSleepers(2)  // the lake's background loop and this poll's timeout
            clock.advance(ms: 20)
            #expect(try await polled.isEmpty)
            #expect(cursor.nextOffset == 10)
            try await lake.close()
        }
    }
}
