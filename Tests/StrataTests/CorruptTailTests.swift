import Foundation
import Testing

@testable import Strata

/// Issue 12 items 1 and 5: a torn tail (bytes after the last valid batch holding no valid batch)
/// is moved into quarantine/ and cut; corruption followed by valid batches is never cut: the
/// bytes stay, reads return what is valid and then a typed `corrupt` error, appends stop.
@Suite struct CorruptTailTests {
    static let topicName = "t"
    static let batchRecords = 1000

    /// A lake with one topic of five sync-acked batches of 1,000 records (`v<offset>`), closed.
    /// Returns the active segment's path and its batches.
    static func fiveBatches(
        _ dir: String, segmentBytes: Int = 128 * 1024 * 1024
    ) async throws -> (String, [ScannedBatch]) {
        let lake = try Lake.open(dir, options: lakeOptions())
        let topic = try lake.topic(topicName, creatingWith: topicConfig(segmentBytes: segmentBytes))
        for b in 0 ..< 5 { try await topic.append(offsetRecords(from: Int64(b * batchRecords), count: batchRecords)) }
        let path = try #require(topic.segments().last).path
        try await lake.close()
        let (_, scan) = try scanSegment(path)
        #expect(scan.batches.count == 5)
        return (path, scan.batches)
    }

    static func flip(_ path: String, at position: Int) throws {
        var data = try FileIO.readWholeFile(path)
        data[position] ^= 0x20
        try Data(data).write(to: URL(fileURLWithPath: path))
    }

    /// Every record a cursor returns from 0 until it throws; the error (nil when it reached the end).
    static func consume(_ topic: Topic) async throws -> ([Record], StrataError?) {
        var cursor = try await Cursor(topic: topic, start: .offset(0))
        var records: [Record] = []
        do {
            while true {
                let batch = try await cursor.next()
                if batch.isEmpty { return (records, nil) }
                records += batch
            }
        } catch {
            return (records, error)
        }
    }

    // MARK: - The scanner tells a torn tail from corruption

    @Test func scannerTellsATornTailFromCorruptionFollowedByValidBatches() async throws {
        try await withTempDirectory { dir in
            let (path, batches) = try await Self.fiveBatches(dir)
            let original = try FileIO.readWholeFile(path)
            func scan(_ bytes: [UInt8]) throws -> SegmentScan {
                try withBytesResult(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw).1 }.get()
            }

            #expect(try scan(original).tail == .clean)
            var torn = original
            torn.removeLast(100)
            let lastStart = batches[4].position
            #expect(try scan(torn).tail == .torn(validEnd: lastStart, bytes: torn.count - lastStart))
            let garbage = original + [UInt8](repeating: 0xA5, count: 300)
            #expect(try scan(garbage).tail == .torn(validEnd: original.count, bytes: 300))
            var flippedLast = original
            flippedLast[batches[4].position + 200] ^= 1
            #expect(try scan(flippedLast).tail == .torn(validEnd: lastStart, bytes: original.count - lastStart))

            var flippedFirst = original
            flippedFirst[batches[0].position + 200] ^= 1
            let corrupt = try scan(flippedFirst)
            #expect(corrupt.validEnd == batches[0].position && corrupt.nextOffset == 0)
            #expect(
                corrupt.tail
                    == .corrupt(
                        position: batches[0].position, resumePosition: batches[1].position,
                        resumeOffset: 1000, lastOffset: 4999))
            // A whole batch missing (an offset gap) is corruption too: the batch after it is valid.
            let gap = Array(original[..<batches[1].position]) + Array(original[batches[2].position...])
            #expect(
                try scan(gap).tail
                    == .corrupt(
                        position: batches[1].position, resumePosition: batches[1].position,
                        resumeOffset: 2000, lastOffset: 4999))
        }
    }

    // MARK: - Issue 12.1: a flipped byte in the first batch

    @Test func aFlippedByteInTheFirstBatchCutsNothingAndStopsAppends() async throws {
        try await withTempDirectory { dir in
            let (path, batches) = try await Self.fiveBatches(dir)
            try Self.flip(path, at: batches[0].position + 500)
            let before = try FileIO.readWholeFile(path)

            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            let topic = try lake.topic(Self.topicName)
            #expect(try FileIO.readWholeFile(path) == before, "recovery changed the segment")
            #expect(!FileIO.exists(dir + "/topics/t/quarantine"))
            #expect(log.contains("corrupt active segment, nothing cut"), "\(log.messages)")
            #expect(!log.contains("truncating"))
            let corruption = try #require(topic.corruption)
            #expect(corruption.code == .corrupt && corruption.file == path)
            #expect(corruption.position == batches[0].position)
            #expect(corruption.topic == Self.topicName)
            #expect(corruption.message.contains("1000...4999"), "\(corruption)")

            let read = strataError { _ = try topic.readLocal(from: 0) }
            #expect(read?.code == .corrupt && read?.position == batches[0].position && read?.file == path)
            let (records, error) = try await Self.consume(topic)
            #expect(records.isEmpty)
            #expect(error?.code == .corrupt)

            let append = await strataError { try await topic.append(offsetRecords(from: 0, count: 1)) }
            #expect(append?.code == .corrupt)
            #expect(append?.message.contains("strata repair --lake") == true, "\(String(describing: append))")
            #expect(try FileIO.readWholeFile(path) == before)

            let report = try await lake.verify()
            #expect(!report.isClean)
            #expect(
                report.errors.contains {
                    $0.kind == .corruptBatch && $0.location == path && $0.position == batches[0].position
                })
            try await lake.close()

            // Opening again still cuts nothing.
            let again = try Lake.open(dir, options: lakeOptions())
            #expect(try again.topic(Self.topicName).corruption != nil)
            try await again.close()
            #expect(try FileIO.readWholeFile(path) == before)
        }
    }

    /// Damage in the third batch: reads return the 2,000 records before it, then the typed error.
    @Test func readsReturnEveryRecordBeforeTheBadBatchThenTheError() async throws {
        try await withTempDirectory { dir in
            let (path, batches) = try await Self.fiveBatches(dir)
            try Self.flip(path, at: batches[2].position + 700)
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic(Self.topicName)
            #expect(topic.highWatermark == 2000)
            let (records, error) = try await Self.consume(topic)
            #expect(records.map { string($0.value) } == (0 ..< 2000).map { "v\($0)" })
            #expect(error?.code == .corrupt && error?.position == batches[2].position && error?.file == path)
            #expect(try topic.readLocal(from: 1995).records.map(\.offset) == Array(1995 ..< 2000))
            try await lake.close()
        }
    }

    // MARK: - Issue 12.5: one damaged batch of a sealed segment must not hide the ones before it

    @Test func aDamagedSealedBatchDoesNotHideTheRecordsBeforeIt() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic(Self.topicName, creatingWith: topicConfig())
            for b in 0 ..< 10 { try await topic.append(offsetRecords(from: Int64(b * 1000), count: 1000)) }
            try topic.sealActiveSegment()
            try await topic.append(offsetRecords(from: 10_000, count: 10))
            let sealed = try #require(topic.segments().first)
            try await lake.close()
            // The index stays sound, so the damage is found by the read, not at open.
            let (_, scan) = try scanSegment(sealed.path)
            let victim = try #require(scan.batches.first { $0.header.baseOffset == 7000 })
            try Self.flip(sealed.path, at: victim.position + 300)

            let reopened = try Lake.open(dir, options: lakeOptions())
            let again = try reopened.topic(Self.topicName)
            let first = try again.readLocal(from: 0)
            #expect(first.records.first?.offset == 0 && !first.records.isEmpty)
            var cursor = try await Cursor(topic: again, start: .offset(0))
            var values: [String?] = []
            let error = await strataError {
                while true {
                    let records = try await cursor.next()
                    if records.isEmpty { break }
                    values += records.map { string($0.value) }
                }
            }
            #expect(values == (0 ..< 7000).map { "v\($0)" })
            #expect(error?.code == .corrupt && error?.file == sealed.path && error?.position == victim.position + 8)
            // The segments after it still read.
            #expect(try again.readLocal(from: 10_000).records.count == 10)
            try await reopened.close()
        }
    }

    // MARK: - A real torn tail is moved aside, not thrown away

    @Test func aTornTailIsKeptInQuarantineAndLoggedWithItsSize() async throws {
        try await withTempDirectory { dir in
            let (path, batches) = try await Self.fiveBatches(dir)
            let original = try FileIO.readWholeFile(path)
            let cutAt = batches[4].position
            var torn = original
            torn.removeLast(1234)
            try Data(torn).write(to: URL(fileURLWithPath: path))

            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            let topic = try lake.topic(Self.topicName)
            #expect(topic.highWatermark == 4000 && topic.corruption == nil)
            #expect(FileIO.fileSize(atPath: path) == cutAt)
            let kept = dir + "/topics/t/quarantine/00000000000000000000.seg.torn-\(cutAt)"
            #expect(try FileIO.readWholeFile(kept) == Array(torn[cutAt...]))
            #expect(
                log.contains("truncating torn tail") && log.contains("bytes=\(torn.count - cutAt)"), "\(log.messages)")
            #expect(log.contains(kept), "\(log.messages)")
            // The same cut twice never overwrites the first copy.
            try await topic.append(offsetRecords(from: 4000, count: 3))
            try await lake.close()
            try Data(Array(try FileIO.readWholeFile(path).dropLast(5))).write(to: URL(fileURLWithPath: path))
            let second = try Lake.open(dir, options: lakeOptions())
            #expect(try second.topic(Self.topicName).highWatermark == 4000)
            #expect(try FileIO.readWholeFile(kept) == Array(torn[cutAt...]))
            #expect(FileIO.fileSize(atPath: kept + ".1") != nil)
            try await second.close()
        }
    }
}
