import Glibc
import StrataBlob
import Testing

@testable import Strata

/// The append path's cheaper steps (issue 17): the stamped CRC patched rather than recomputed,
/// and the early writeback of `async` logs. Each must leave what is stored, checked and durable
/// exactly as it was.
@Suite struct AppendWriteCostTests {
    /// Random bytes from a seeded generator.
    private static func randomBytes(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        (0 ..< count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    @Test func combineMatchesTheChecksumOfTheConcatenation() {
        var rng = SplitMix64(seed: 17)
        for lengthA in [0, 1, 7, 64, 1000] {
            for lengthB in [0, 1, 8, 13, 4096, 70_000] {
                let a = Self.randomBytes(lengthA, &rng)
                let b = Self.randomBytes(lengthB, &rng)
                let combined = CRC32C.combine(CRC32C.checksum(a), CRC32C.checksum(b), lengthB: lengthB)
                #expect(combined == CRC32C.checksum(a + b), "lengths \(lengthA) + \(lengthB)")
            }
        }
    }

    @Test func replacingEightBytesMatchesARecompute() {
        var rng = SplitMix64(seed: 29)
        for length in [8, 9, 52, 1000, 66_000] {
            for _ in 0 ..< 8 {
                var message = Self.randomBytes(length, &rng)
                let at = Int(rng.next() % UInt64(length - 7))
                let before = CRC32C.checksum(message)
                let old = message[at ..< at + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * $1.0) }
                let new = rng.next()
                withUnsafeBytes(of: new.littleEndian) { for i in 0 ..< 8 { message[at + i] = $0[i] } }
                let patched = CRC32C.replacing(before, old: old, new: new, bytesAfter: length - at - 8)
                #expect(patched == CRC32C.checksum(message), "length \(length), bytes at \(at)")
            }
        }
    }

    @Test func stampGivesTheCRCARecomputeGivesAndKeepsAWrongOneWrong() throws {
        let batch = encodedBatch(["a", "bb", String(repeating: "c", count: 3000)])
        for base: Int64 in [0, 1, 255, 1 << 40, Int64.max - 10] {
            let stamped = Topic.stamp(batch, baseOffset: base)
            let decoded = try BatchCodec.decode(stamped)  // checks the CRC
            #expect(decoded.header.baseOffset == base)
            #expect(decoded.records.map(\.offset) == [base, base + 1, base + 2])
            #expect(stamped == resealed(stamped))
        }
        // Damage after the producer's CRC was computed survives the stamp: the patch does not
        // bless it as a recompute would.
        var damaged = batch
        damaged[damaged.count - 2] ^= 0x40
        let stamped = Topic.stamp(damaged, baseOffset: 42)
        #expect(throws: FormatError.self) { try BatchCodec.decode(stamped) }
    }

    @Test func startWritebackAcceptsAFileAndRefusesABadDescriptor() async throws {
        try await withTempDirectory { dir in
            let path = dir + "/f"
            let fd = try FileIO.open(path, flags: O_RDWR | O_CREAT)
            defer { FileIO.close(fd) }
            try FileIO.pwriteAll(fd, [UInt8](repeating: 7, count: 1 << 20), at: 0, path: path)
            #expect(FileIO.startWriteback(fd, offset: 0, count: 1 << 20))
            #expect(!FileIO.startWriteback(-1, offset: 0, count: 4096))
            #expect(!FileIO.startWriteback(fd, offset: 0, count: 0))
        }
    }

    /// An `async` log starts writeback every `writebackChunkBytes` and a `sync` one never does;
    /// what is stored and what is durable are unchanged (the flush still fdatasyncs).
    @Test func asyncLogsStartWritebackPerChunkAndStoreTheSameBytes() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let async = try lake.topic("a", creatingWith: topicConfig(durability: .async))
            let sync = try lake.topic("s", creatingWith: topicConfig(durability: .sync))
            let value = [UInt8](repeating: 0x5A, count: 512 * 1024)
            let batchCount = 2 * Topic.writebackChunkBytes / value.count + 1
            for i in 0 ..< batchCount {
                Topic.writebackQueue.sync {}  // so that no kick is skipped as still queued
                try await async.append([ProducerRecord(key: bytes("k\(i)"), value: value)])
            }
            try await sync.append([ProducerRecord(value: value)])
            Topic.writebackQueue.sync {}  // the queued call has run
            let started = async.state.withLock { $0.writebackStarted }
            let written = async.segments()[0].bytes
            #expect(started >= 2 * Topic.writebackChunkBytes)
            #expect(started <= written)
            #expect(written - started < Topic.writebackChunkBytes)
            let queued = async.writebackQueued.load(ordering: .acquiring)
            #expect(!queued)
            #expect(sync.state.withLock { $0.writebackStarted } == 0)
            #expect(async.durableOffset < Int64(batchCount))  // nothing made durable by it
            try await async.flush()
            #expect(async.durableOffset == Int64(batchCount))
            let records = try readAll(async)
            #expect(records.count == batchCount)
            #expect(records.allSatisfy { $0.value == value })
            try await lake.close()
        }
    }

    /// After a roll, chunks are counted in the new segment: a segment three chunks long has
    /// started writeback past its second chunk, and the next one starts its own at its first.
    @Test func aRollStartsTheNewSegmentsWritebackFromItsStart() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let segmentBytes = 3 * Topic.writebackChunkBytes
            let topic = try lake.topic("a", creatingWith: topicConfig(segmentBytes: segmentBytes, durability: .async))
            let value = [UInt8](repeating: 1, count: 1000 * 1024)
            var firstSegmentStarted = 0
            while topic.segments().count < 2 {
                Topic.writebackQueue.sync {}
                firstSegmentStarted = topic.state.withLock { $0.writebackStarted }
                try await topic.append([ProducerRecord(value: value)])
            }
            #expect(firstSegmentStarted >= 2 * Topic.writebackChunkBytes)
            while topic.segments()[1].bytes < Topic.writebackChunkBytes + value.count {
                Topic.writebackQueue.sync {}  // so that no kick is skipped as still queued
                try await topic.append([ProducerRecord(value: value)])
            }
            Topic.writebackQueue.sync {}
            let started = topic.state.withLock { $0.writebackStarted }
            #expect(started >= Topic.writebackChunkBytes)
            #expect(started <= topic.segments()[1].bytes)
            try await lake.close()
        }
    }
}
