import Foundation
import Glibc
import Testing

@testable import Strata

/// ARCHITECTURE.md invariant 3: recovery cuts a torn or corrupt tail at the last valid batch,
/// rebuilds missing or bad indexes, and loses no acknowledged record.
@Suite struct RecoveryTests {
    enum Damage: String, CaseIterable, Sendable {
        case tornTail, garbageAppended, flippedByteInLastBatch
    }

    static let topicName = "r"
    static let batchCount = 200
    /// Records appended by `populate` (5 per batch).
    static let recordCount = Int64(batchCount * 5)

    /// Appends 200 batches of 5 records (`v<offset>`) over several 4 KiB segments, then closes the
    /// lake or just drops it (what a crashed process leaves behind).
    func populate(_ dir: String, close: Bool) async throws -> [SegmentInfo] {
        let lake = try Lake.open(dir, options: lakeOptions())
        let topic = try lake.topic(Self.topicName, creatingWith: topicConfig(segmentBytes: 4096))
        for b in 0 ..< Self.batchCount { try await topic.append(offsetRecords(from: Int64(b * 5), count: 5)) }
        let segments = topic.segments()
        #expect(segments.count >= 4)
        if close { try await lake.close() }
        return segments
    }

    func modify(_ path: String, _ body: (inout [UInt8]) -> Void) throws {
        var data = try FileIO.readWholeFile(path)
        body(&data)
        try Data(data).write(to: URL(fileURLWithPath: path))
    }

    @Test(arguments: Damage.allCases, [true, false])
    func damagedTailIsCutAtTheLastValidBatch(damage: Damage, closeFirst: Bool) async throws {
        try await withTempDirectory { dir in
            let segments = try await populate(dir, close: closeFirst)
            let active = try #require(segments.last)
            let (_, scan) = try scanSegment(active.path)
            let last = try #require(scan.batches.last)
            let expectedEnd: Int64
            let expectedBytes: Int
            switch damage {
            case .tornTail:
                try modify(active.path) { $0.removeLast(last.header.batchLength / 2) }
                (expectedEnd, expectedBytes) = (last.header.baseOffset, last.position)
            case .garbageAppended:
                var random = SeededRandom(seed: 3)
                try modify(active.path) { data in
                    data += (0 ..< 100).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
                }
                (expectedEnd, expectedBytes) = (Self.recordCount, active.bytes)
            case .flippedByteInLastBatch:
                try modify(active.path) { $0[last.position + last.header.batchLength - 3] ^= 0x10 }
                (expectedEnd, expectedBytes) = (last.header.baseOffset, last.position)
            }

            // After a crash the journal would write an acknowledged batch back: this test is
            // about the cut, so the journal loses the damaged batch too (its fsync never came).
            if !closeFirst, damage != .garbageAppended {
                try JournalTests.forgetJournalEntries(dir, log: Self.topicName, from: last.header.baseOffset)
            }
            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            let topic = try lake.topic(Self.topicName)
            #expect(topic.highWatermark == expectedEnd)
            #expect(FileIO.fileSize(atPath: active.path) == expectedBytes)
            #expect(log.contains("truncating torn tail"), "\(log.messages)")
            #expect(log.contains(active.path))
            #expect(try readAll(topic).map { string($0.value) } == (0 ..< expectedEnd).map { "v\($0)" })
            // Appends continue densely after the cut.
            let result = try await topic.append(offsetRecords(from: expectedEnd, count: 3))
            #expect(result == AppendResult(firstOffset: expectedEnd, lastOffset: expectedEnd + 2))
            try await lake.close()

            let quiet = LogSink()
            let again = try Lake.open(dir, options: lakeOptions(log: quiet))
            #expect(
                try readAll(again.topic(Self.topicName)).map { string($0.value) }
                    == (0 ..< expectedEnd + 3).map { "v\($0)" })
            #expect(quiet.messages.isEmpty, "\(quiet.messages)")
            try await again.close()
        }
    }

    @Test func missingAndCorruptIndexesAreRebuilt() async throws {
        try await withTempDirectory { dir in
            let segments = try await populate(dir, close: true)
            let sealed = segments.filter(\.sealed)
            try #require(sealed.count >= 4)
            let indexPaths = sealed.map { String($0.path.dropLast(4)) + ".idx" }
            let originals = try indexPaths.map { try FileIO.readWholeFile($0) }
            try FileIO.remove(indexPaths[0])
            try modify(indexPaths[1]) { $0[$0.count / 2] ^= 0xFF }
            try modify(indexPaths[2]) { $0.removeLast(7) }
            // Another segment's index (valid CRC, wrong segment).
            try Data(originals[0]).write(to: URL(fileURLWithPath: indexPaths[3]))

            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            let topic = try lake.topic(Self.topicName)
            #expect(topic.segments() == segments)
            for path in indexPaths.prefix(4) { #expect(log.contains(path), "no rebuild logged for \(path)") }
            // Rebuilt byte for byte.
            #expect(try indexPaths.map { try FileIO.readWholeFile($0) } == originals)
            #expect(try readAll(topic).map { string($0.value) } == (0 ..< Self.recordCount).map { "v\($0)" })
            var random = SeededRandom(seed: 11)
            for _ in 0 ..< 100 {
                let o = Int64(random.next() % UInt64(Self.recordCount))
                #expect(try topic.readLocal(from: o, maxBytes: 1).records.first?.offset == o)
            }
            try await lake.close()
        }
    }

    @Test func leftoverTempFilesAreRemoved() async throws {
        try await withTempDirectory { dir in
            let segments = try await populate(dir, close: true)
            let topicDir = FileIO.parent(of: segments[0].path)
            let leftovers = [topicDir + "/topic.json.tmp", String(segments[0].path.dropLast(4)) + ".idx.tmp"]
            for path in leftovers { try Data("half".utf8).write(to: URL(fileURLWithPath: path)) }
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic(Self.topicName)
            for path in leftovers { #expect(!FileIO.exists(path), "\(path)") }
            #expect(topic.highWatermark == Self.recordCount)
            try await lake.close()
        }
    }

    /// A sealed segment is never cut: damage there is reported as corruption naming the file
    /// and the position (ARCHITECTURE.md invariant 7), and the records before it stay readable.
    @Test func corruptSealedSegmentIsATypedErrorNotATruncation() async throws {
        try await withTempDirectory { dir in
            let segments = try await populate(dir, close: true)
            let victim = segments[1]
            let (_, scan) = try scanSegment(victim.path)
            let batch = scan.batches[1]
            try modify(victim.path) { $0[batch.position + 70] ^= 0x01 }
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic(Self.topicName)
            #expect(FileIO.fileSize(atPath: victim.path) == victim.bytes)
            #expect(topic.highWatermark == Self.recordCount)
            let error = strataError { _ = try topic.readLocal(from: batch.header.baseOffset) }
            #expect(error?.code == .corrupt)
            #expect(error?.file == victim.path)
            #expect(error?.position == batch.position + 8)
            #expect(try topic.readLocal(from: 0, maxBytes: 1).records.first.map { string($0.value) } == "v0")
            #expect(try topic.readLocal(from: segments[2].baseOffset).records.first?.offset == segments[2].baseOffset)
            try await lake.close()
        }
    }
}
