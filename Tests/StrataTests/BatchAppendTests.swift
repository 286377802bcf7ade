import Foundation
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// A batch as the Kafka front door hands it over: base offset 0 (a placeholder).
func encodedBatch(
    _ values: [String], timestamp: Int64 = 1_700_000_000_000, producerId: Int64 = -1, epoch: Int16 = -1,
    sequence: Int32 = -1
) -> [UInt8] {
    let records = values.enumerated().map { i, value in
        Record(timestamp: timestamp + Int64(i), key: bytes("k\(i)"), value: bytes(value))
    }
    return BatchCodec.encode(
        baseOffset: 0, records: records, producerId: producerId, producerEpoch: epoch, baseSequence: sequence)
}

/// `batch` with its CRC recomputed over its bytes as they are now (tests damage a record, then
/// make the CRC match, so that the record rules decide).
func resealed(_ batch: [UInt8]) -> [UInt8] {
    var out = batch
    let crc = CRC32C.checksum(batch[BatchHeader.crcCoverageStart...])
    withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { out[8 + i] = $0[i] } }
    return out
}

/// Every stored batch of `topic`, from offset 0 to its high watermark, decoded.
func storedBatches(_ topic: Topic) async throws -> [RecordBatch] {
    var out: [RecordBatch] = []
    var next: Int64 = 0
    while next < topic.highWatermark {
        let result = try await topic.readBatches(from: next, maxBytes: 1 << 20)
        for batch in result.batches { out.append(try BatchCodec.decode(batch.bytes)) }
        guard result.nextOffset > next else { break }
        next = result.nextOffset
    }
    return out
}

/// `Topic.appendBatch`: offsets stamped under the state lock, CRCs recomputed, the same durability
/// and the same refusals as `append`.
@Suite struct BatchAppendTests {
    @Test func stampsOffsetsAndRecomputesCRCsBesideRecordAppends() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("t", creatingWith: topicConfig())
            let first = try await topic.appendBatch(encodedBatch(["a", "b", "c"]))
            #expect(first == BatchAppendResult(firstOffset: 0, lastOffset: 2, duplicate: false))
            let middle = try await topic.append(offsetRecords(from: 3, count: 2))
            #expect(middle.firstOffset == 3)
            // A base offset other than 0 in the incoming batch is a placeholder too.
            var placeholder = encodedBatch(["d"])
            placeholder = Topic.stamp(placeholder, baseOffset: 999)
            let second = try await topic.appendBatch(placeholder)
            #expect(second == BatchAppendResult(firstOffset: 5, lastOffset: 5, duplicate: false))

            let stored = try await storedBatches(topic)  // BatchCodec.decode checks every CRC
            #expect(stored.map(\.header.baseOffset) == [0, 3, 5])
            #expect(stored[0].records.map { string($0.value) } == ["a", "b", "c"])
            #expect(stored[0].records.map(\.offset) == [0, 1, 2])
            #expect(stored[0].records[1].timestamp == 1_700_000_000_001)
            #expect(stored[2].records.map(\.offset) == [5])
            // The bytes on disk are those batches, checked by the recovery scan too.
            let segment = try FileIO.readWholeFile(topic.segments()[0].path)
            let scan = try withBytes(segment) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
            #expect(scan.stopError == nil)
            #expect(scan.batches.map(\.header.baseOffset) == [0, 3, 5])
            #expect(try readAll(topic).map { string($0.value) } == ["a", "b", "c", "v3", "v4", "d"])
            try await lake.close()
        }
    }

    @Test func syncAppendsReturnAfterFdatasyncAndShareIt() async throws {
        try await withTempDirectory { dir in
            let tasks = 16
            let firstFsyncHeld = Mutex(false)
            var options = lakeOptions()
            // Hold the first fsync until every task has written: one fsync then covers them all.
            options.beforeGroupFsync = { topic in
                guard
                    !firstFsyncHeld.withLock({ held in
                        defer { held = true }; return held
                    })
                else { return }
                for _ in 0 ..< 20_000 where topic.writtenOffset < Int64(tasks) { usleep(500) }
            }
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("sync", creatingWith: topicConfig(durability: .sync))
            let before = topic.fsyncCount
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0 ..< tasks {
                    group.addTask {
                        let result = try await topic.appendBatch(encodedBatch(["t\(t)"]))
                        // Acknowledged means fdatasync'ed.
                        #expect(topic.durableOffset > result.lastOffset)
                    }
                }
                try await group.waitForAll()
            }
            #expect(topic.highWatermark == Int64(tasks))
            let fsyncs = topic.fsyncCount - before
            #expect(fsyncs >= 1)
            #expect(fsyncs < tasks, "group commit: \(fsyncs) fsyncs for \(tasks) batch appends")
            try await lake.close()
        }
    }

    @Test func asyncAppendIsVisibleAtOnceAndFlushedLater() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("a", creatingWith: topicConfig(durability: .async))
            let result = try await topic.appendBatch(encodedBatch(["x", "y"]))
            #expect(result.lastOffset == 1)
            #expect(topic.highWatermark == 2)
            #expect(topic.fsyncCount == 0)
            try await topic.flush()
            #expect(topic.durableOffset == 2)
            try await lake.close()
        }
    }

    @Test func badBatchesAreRefusedWithNothingStored() async throws {
        try await withTempDirectory { dir in
            var config = topicConfig()
            config.batchBytesMax = 4096
            config.recordBytesMax = 512
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("t", creatingWith: config)
            try await topic.appendBatch(encodedBatch(["ok"]))
            let segmentPath = topic.segments()[0].path
            let sizeBefore = FileIO.fileSize(atPath: segmentPath)

            func refused(_ batch: [UInt8], _ code: StrataError.Code, _ what: String) async {
                do {
                    _ = try await topic.appendBatch(batch)
                    Issue.record("\(what) was accepted")
                } catch {
                    #expect(error.code == code, "\(what): \(error)")
                    #expect(error.topic == "t")
                }
            }
            var flipped = encodedBatch(["value"])
            flipped[flipped.count - 3] ^= 0x01
            await refused(flipped, .corrupt, "a flipped record byte (CRC)")
            await refused(Array(encodedBatch(["value"]).dropLast()), .corrupt, "a truncated batch")
            await refused(encodedBatch(["value"]) + [0], .invalidArgument, "a byte after the batch")
            await refused([UInt8](repeating: 0, count: 100), .corrupt, "no batch at all")
            // A record that breaks the record layout under a valid CRC: attributes must be 0.
            var badRecord = encodedBatch(["value"])
            badRecord[BatchHeader.size + 1] = 1
            badRecord = resealed(badRecord)
            await refused(badRecord, .corrupt, "non-zero record attributes")
            await refused(encodedBatch([String(repeating: "x", count: 4200)]), .tooLarge, "a batch over batchBytesMax")
            await refused(encodedBatch([String(repeating: "x", count: 600)]), .tooLarge, "a record over recordBytesMax")
            await refused(
                encodedBatch(["v"], producerId: 7, epoch: -1, sequence: 0), .invalidArgument,
                "an idempotent batch without epoch")
            await refused(
                encodedBatch(["v"], producerId: -1, epoch: 0, sequence: 3), .invalidArgument,
                "sequence without producer")

            #expect(topic.highWatermark == 1)
            #expect(FileIO.fileSize(atPath: segmentPath) == sizeBefore)
            #expect(try await topic.appendBatch(encodedBatch(["next"])).firstOffset == 1)
            try await lake.close()
        }
    }

    @Test func closedAndReadOnlyTopicsRefuse() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("t", creatingWith: topicConfig())
            try await topic.appendBatch(encodedBatch(["a"]))
            try await lake.close()
            await #expect(throws: StrataError.self) { try await topic.appendBatch(encodedBatch(["b"])) }
            do { _ = try await topic.appendBatch(encodedBatch(["b"])) } catch {
                #expect((error as? StrataError)?.code == .closed)
            }

            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            let view = try reader.topic("t")
            do {
                _ = try await view.appendBatch(encodedBatch(["b"]))
                Issue.record("a read-only topic accepted a batch")
            } catch { #expect((error as? StrataError)?.code == .readOnly) }
            try await reader.close()
        }
    }

    @Test func batchesRollSegmentsLikeAppends() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("roll", creatingWith: topicConfig(segmentBytes: 2048))
            for i in 0 ..< 40 {
                try await topic.appendBatch(encodedBatch(["value-\(i)", String(repeating: "p", count: 100)]))
            }
            #expect(topic.segments().count > 3)
            #expect(topic.highWatermark == 80)
            let values = try readAll(topic).map { string($0.value) ?? "" }
            #expect(values.count == 80)
            #expect(values[78] == "value-39")
            try await lake.close()
        }
    }
}

/// `BatchCheck` walks records without decoding them; it must accept exactly what
/// `BatchCodec.decode` accepts and report the same field and position, or `appendBatch` would
/// store batches readers refuse (or refuse batches readers take).
@Suite struct BatchCheckTests {
    @Test func acceptsExactlyWhatDecodeAccepts() throws {
        var rng = SplitMix64(seed: 13)
        var accepted = 0
        var refused = 0
        for round in 0 ..< 4000 {
            let count = 1 + Int(rng.next() % 4)
            let records = (0 ..< count).map { i -> Record in
                let key: [UInt8]? =
                    rng.next() % 3 == 0 ? nil : (0 ..< Int(rng.next() % 6)).map { _ in UInt8(rng.next() & 0xFF) }
                let value: [UInt8]? =
                    rng.next() % 5 == 0 ? nil : (0 ..< Int(rng.next() % 20)).map { _ in UInt8(rng.next() & 0xFF) }
                let headers = (0 ..< Int(rng.next() % 3)).map { h in
                    RecordHeader(key: h == 0 ? "hé" : "h\(h)", value: rng.next() % 2 == 0 ? nil : [UInt8(h)])
                }
                return Record(
                    timestamp: Int64(i) * 7 - Int64(rng.next() % 50), key: key, value: value, headers: headers)
            }
            var batch = BatchCodec.encode(baseOffset: 0, records: records)
            if round > 0 {
                // Damage one to three bytes of the records, then make the CRC match again, so that
                // the record rules are what decides.
                for _ in 0 ..< 1 + Int(rng.next() % 3) {
                    let at = BatchHeader.size + Int(rng.next() % UInt64(batch.count - BatchHeader.size))
                    batch[at] = rng.next() % 2 == 0 ? UInt8(rng.next() & 0xFF) : batch[at] ^ 0x80
                }
                batch = resealed(batch)
            }
            let decoded = Result { () throws(FormatError) in try BatchCodec.decode(batch) }
            let checked = batch.withUnsafeBytes { raw in Result { () throws(FormatError) in try BatchCheck.check(raw) }
            }
            switch (decoded, checked) {
            case (.success(let batchDecoded), .success(let (header, largest))):
                #expect(batchDecoded.header == header)
                #expect(largest <= batchDecoded.records.map(\.encodedSize).max() ?? 0)
                accepted += 1
            case (.failure(let a), .failure(let b)):
                #expect(a == b, "round \(round)")
                refused += 1
            default:
                Issue.record("round \(round): decode \(decoded), check \(checked)")
            }
        }
        #expect(accepted > 100 && refused > 1000, "accepted \(accepted), refused \(refused)")
    }
}
