import Testing

@testable import StrataFormat

/// `RecordBatchView` against `BatchCodec.decode`: the same records, the same rejections, and the
/// cold frame check that lets the frame cache's batches be read with no second check.
@Suite struct RecordViewFormatTests {
    /// Every record of a view, copied out through the view's own fields (not `RecordView.record`).
    static func copied(_ view: RecordBatchView) -> [Record] {
        view.withRecords { records in
            records.map { r in
                Record(
                    offset: r.offset, timestamp: r.timestamp, key: r.key.map { Array($0) },
                    value: r.value.map { Array($0) },
                    headers: r.headers.map { RecordHeader(key: $0.keyString, value: $0.value.map { Array($0) }) })
            }
        }
    }

    static func withCRC(_ batch: [UInt8]) -> [UInt8] {
        var fixed = batch
        let crc = batch.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[12...])) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { fixed[8 + i] = $0[i] } }
        return fixed
    }

    @Test func viewsYieldExactlyTheRecordsDecodeReturns() throws {
        var rng = SeededRNG(seed: 0x71E3_0001)
        for iteration in 0 ..< 300 {
            let records = Random.records(&rng, maxCount: 20)
            let base = Int64.random(in: 0 ... (Int64.max / 2), using: &rng)
            let bytes = BatchCodec.encode(baseOffset: base, records: records)
            let decoded = try BatchCodec.decode(bytes)
            let view = try RecordBatchView(bytes: bytes, header: decoded.header)
            #expect(view.count == records.count, "iteration \(iteration)")
            #expect(Self.copied(view) == decoded.records, "iteration \(iteration)")
            #expect(view.records == decoded.records, "iteration \(iteration)")
            view.withBatchBytes { #expect(Array($0) == bytes) }
            // A part of the batch: exactly the records in that range.
            let from = base + Int64.random(in: 0 ..< Int64(records.count), using: &rng)
            let to = Int64.random(in: from ... decoded.header.nextOffset, using: &rng)
            let part = view.restricted(to: from ..< to)
            #expect(part.records == decoded.records.filter { $0.offset >= from && $0.offset < to })
            #expect(part.count == Int(to - from))
        }
    }

    /// Changes inside the records with the CRC made to match again: the view refuses exactly what
    /// decode refuses (same field, same position), and what both accept iterates to decode's records
    /// (the view's unchecked reader agrees with the checking parser).
    @Test func viewsRejectExactlyWhatDecodeRejects() throws {
        var rng = SeededRNG(seed: 0x71E3_0002)
        var rejected = 0
        for iteration in 0 ..< 2_000 {
            let records = Random.records(&rng, maxCount: 6)
            var bytes = BatchCodec.encode(baseOffset: 5, records: records)
            for _ in 0 ..< Int.random(in: 1 ... 3, using: &rng) {
                let at = Int.random(in: BatchHeader.size ..< bytes.count, using: &rng)
                bytes[at] = Bool.random(using: &rng) ? UInt8.random(in: 0 ... 255, using: &rng) : bytes[at] ^ 0x80
            }
            bytes = Self.withCRC(bytes)
            let header = try withBytes(bytes) { (raw) throws(FormatError) in try BatchCodec.verify(raw) }
            let decodeError = formatError { () throws(FormatError) in try BatchCodec.decode(bytes) }
            let viewError = formatError { () throws(FormatError) in try RecordBatchView(bytes: bytes, header: header) }
            #expect(decodeError?.field == viewError?.field, "iteration \(iteration)")
            #expect(decodeError?.position == viewError?.position, "iteration \(iteration)")
            if decodeError == nil {
                let view = try RecordBatchView(bytes: bytes, header: header)
                #expect(Self.copied(view) == (try BatchCodec.decode(bytes)).records, "iteration \(iteration)")
            } else {
                rejected += 1
            }
        }
        #expect(rejected > 300)
    }

    @Test func headerKeyCheckAcceptsWhatStringValidatingAccepts() {
        var rng = SeededRNG(seed: 0x71E3_0003)
        var invalid = 0
        for _ in 0 ..< 5_000 {
            var bytes = Random.bytes(&rng, maxCount: 12)
            if !bytes.isEmpty, Bool.random(using: &rng) {
                bytes[Int.random(in: 0 ..< bytes.count, using: &rng)] = UInt8.random(in: 0x80 ... 0xFF, using: &rng)
            }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            if !expected { invalid += 1 }
            #expect(bytes.withUnsafeBytes { RecordCodec.isUTF8($0) } == expected, "\(bytes)")
        }
        #expect(invalid > 500)
    }

    /// One frame of a cold object, decoded the checked way: its batches read as views equal
    /// decode's, and a flipped compressed byte fails as `decodeFrame` fails.
    @Test func checkedFrameHoldsEveryBatchChecked() throws {
        var rng = SeededRNG(seed: 0x71E3_0004)
        let (segment, batches) = Random.segment(&rng, baseOffset: 40, batchCount: 30)
        let object = try ColdObject.encode(segment: segment, topic: "t", frameRawBytesTarget: 2_048)
        let pool = BytePool(bufferBytesMax: 8_192, idleBuffersMax: 4)
        var records: [Record] = []
        try object.bytes.withUnsafeBytes { raw in
            for frame in object.index.frames {
                let compressed = UnsafeRawBufferPointer(rebasing: raw[frame.objectRange])
                let checked = try ColdObject.decodeCheckedFrame(compressed, frame: frame, pool: pool)
                #expect(checked.damage == nil)
                #expect(checked.batches.count == frame.batchCount)
                #expect(checked.bytes.array == (try ColdObject.decodeFrame(compressed, frame: frame)))
                for i in checked.batches.indices { records += checked.view(i).records }
            }
        }
        let expected = batches.joined().enumerated().map { i, r in
            var record = r
            record.offset = 40 + Int64(i)
            return record
        }
        #expect(records == expected)

        let frame = object.index.frames[1]
        var damaged = object.bytes
        damaged[frame.objectOffset + frame.compressedBytes / 2] ^= 0x10
        let plain = formatError { () throws(FormatError) in
            try withBytes(damaged) { (raw) throws(FormatError) in
                try ColdObject.decodeFrame(UnsafeRawBufferPointer(rebasing: raw[frame.objectRange]), frame: frame)
            }
        }
        let checked = formatError { () throws(FormatError) in
            try withBytes(damaged) { (raw) throws(FormatError) in
                try ColdObject.decodeCheckedFrame(
                    UnsafeRawBufferPointer(rebasing: raw[frame.objectRange]), frame: frame, pool: pool)
            }
        }
        #expect(plain != nil)
        #expect(checked?.field == plain?.field)
        #expect(checked?.message == plain?.message)
        #expect(checked?.message.hasPrefix("frame 1: ") == true)
    }

    /// A batch whose CRC checks but whose records do not (a writer bug, not a torn byte): the
    /// frame's batches before it stay readable and the batch is the frame's `damage`.
    @Test func aBatchWithBadRecordsEndsTheCheckedFrame() throws {
        let good = BatchCodec.encode(baseOffset: 0, records: [Record(timestamp: 1, value: [1, 2, 3])])
        var bad = BatchCodec.encode(baseOffset: 1, records: [Record(timestamp: 1, value: [4, 5, 6])])
        bad[BatchHeader.size + 1] = 7  // record attributes must be 0
        bad = Self.withCRC(bad)
        let last = BatchCodec.encode(baseOffset: 2, records: [Record(timestamp: 1, value: [7])])
        let segment = SegmentHeader(baseOffset: 0, createdMs: 0).encode() + good + bad + last
        let object = try ColdObject.encode(segment: segment, topic: "t")
        let frame = try #require(object.index.frames.first)
        let checked = try object.bytes.withUnsafeBytes { raw in
            try ColdObject.decodeCheckedFrame(
                UnsafeRawBufferPointer(rebasing: raw[frame.objectRange]), frame: frame, pool: BytePool())
        }
        #expect(checked.batches.map(\.header.baseOffset) == [0])
        #expect(checked.view(0).records.map(\.value) == [[1, 2, 3]])
        let damage = try #require(checked.damage)
        #expect(damage.field == "record.attributes")
        #expect(damage.position == SegmentHeader.size + good.count + BatchHeader.size + 1)
    }

    @Test func poolBuffersComeBackWhenTheLastReferenceGoes() throws {
        let pool = BytePool(bufferBytesMax: 8_192, idleBuffersMax: 2)
        var first: PooledBytes? = pool.make(count: 100) { $0.initializeMemory(as: UInt8.self, repeating: 7) }
        #expect(first?.array == [UInt8](repeating: 7, count: 100))
        #expect(pool.idleCount == 0)
        first = nil
        #expect(pool.idleCount == 1)
        // Reused (the idle page-sized buffer is taken), and the contents are what the fill wrote.
        let second = pool.make(count: 1_000) { $0.initializeMemory(as: UInt8.self, repeating: 9) }
        #expect(pool.idleCount == 0)
        #expect(pool.allocationCount == 1)
        #expect(second.array == [UInt8](repeating: 9, count: 1_000))
        // A failing fill gives the buffer back.
        struct Refused: Error {}
        #expect(throws: Refused.self) { _ = try pool.make(count: 10) { _ throws(Refused) in throw Refused() } }
        #expect(pool.idleCount == 1)
        // A buffer much larger than asked for is not used for it: the bytes behind a cached
        // frame stay close to its size.
        var bigger: PooledBytes? = pool.make(count: 6_000) { $0.initializeMemory(as: UInt8.self, repeating: 1) }
        #expect(bigger?.count == 6_000)
        bigger = nil
        #expect(pool.idleCount == 2)
        let small = pool.make(count: 16) { $0.initializeMemory(as: UInt8.self, repeating: 2) }
        let alsoSmall = pool.make(count: 16) { $0.initializeMemory(as: UInt8.self, repeating: 3) }
        #expect(pool.idleCount == 1, "the 8 KiB buffer stays idle")
        #expect(small.array == [UInt8](repeating: 2, count: 16) && alsoSmall.array == [UInt8](repeating: 3, count: 16))
        // The idle list is bounded; odd sizes are not kept.
        var many: [PooledBytes] = (0 ..< 4).map { _ in
            pool.make(count: 8) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        many.append(pool.make(count: 10_000) { $0.initializeMemory(as: UInt8.self, repeating: 0) })
        many.removeAll()
        #expect(pool.idleCount == 2)
        _ = second
    }
}
