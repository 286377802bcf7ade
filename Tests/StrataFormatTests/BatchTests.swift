import Testing

@testable import StrataFormat

@Suite struct BatchTests {
    @Test func roundTrip() throws {
        let records = [
            Record(timestamp: 10, key: [1, 2], value: nil, headers: [RecordHeader(key: "h", value: nil)]),
            Record(timestamp: -5, key: nil, value: Array("é".utf8)),
        ]
        let bytes = BatchCodec.encode(baseOffset: 7, records: records)
        let batch = try BatchCodec.decode(bytes)
        #expect(batch.header.baseOffset == 7)
        #expect(batch.header.lastOffset == 8)
        #expect(batch.header.firstTimestamp == 10)
        #expect(batch.header.maxTimestamp == 10)
        #expect(batch.records.map(\.offset) == [7, 8])
        #expect(batch.records.map(\.value) == [nil, Array("é".utf8)])
        #expect(batch.records[0].headers == records[0].headers)
    }

    /// Random batches (sizes, nulls, headers, unicode, extreme and negative timestamps) decode
    /// to exactly what was encoded.
    @Test func propertyRoundTrip() throws {
        var rng = SeededRNG(seed: 0x5EED_0001)
        for iteration in 0 ..< 500 {
            let records = Random.records(&rng, maxCount: 20)
            let base = Int64.random(in: 0 ... (Int64.max / 2), using: &rng)
            let bytes = BatchCodec.encode(baseOffset: base, records: records)
            let batch = try BatchCodec.decode(bytes)
            #expect(batch.header.recordCount == Int32(records.count), "iteration \(iteration)")
            #expect(batch.header.batchLength == bytes.count)
            for (i, record) in batch.records.enumerated() {
                var expected = records[i]
                expected.offset = base + Int64(i)
                #expect(record == expected, "iteration \(iteration) record \(i)")
            }
            #expect(batch.header.maxTimestamp == records.map(\.timestamp).max())
            #expect(records.allSatisfy { $0.encodedSize >= Record(timestamp: 0, value: nil).encodedSize })
        }
    }

    /// Record.encodedSize is an upper bound of what a record really adds to a batch.
    @Test func encodedSizeIsAnUpperBound() {
        var rng = SeededRNG(seed: 0x5EED_0002)
        for _ in 0 ..< 200 {
            let record = Random.record(&rng, timestampBase: 0)
            let first = Record(timestamp: Int64.random(in: Int64.min ... Int64.max, using: &rng), value: nil)
            let alone = BatchCodec.encode(baseOffset: 0, records: [first]).count
            let both = BatchCodec.encode(baseOffset: 0, records: [first, record]).count
            #expect(both - alone <= record.encodedSize)
        }
    }

    /// Every truncation of the batch vector is a typed error, never a crash or a value.
    @Test func everyTruncationIsRejected() throws {
        let bytes = try vector("batch.bin")
        for length in 0 ..< bytes.count {
            let error = formatError { () throws(FormatError) in try BatchCodec.decode(Array(bytes[0 ..< length])) }
            #expect(error != nil, "prefix of \(length) bytes decoded")
            #expect(error?.field.isEmpty == false)
            #expect((error?.position ?? -1) >= 0 && (error?.position ?? Int.max) <= length)
        }
    }

    /// Every single-bit flip of the batch vector is rejected: the CRC covers all bytes after
    /// itself, and magic/length/CRC flips are caught by their own checks.
    @Test func everyBitFlipIsRejected() throws {
        let bytes = try vector("batch.bin")
        var codes: [FormatError.Code: Int] = [:]
        for bit in 0 ..< (bytes.count * 8) {
            let error = formatError { () throws(FormatError) in try BatchCodec.decode(flipped(bytes, bit: bit)) }
            #expect(error != nil, "flip of bit \(bit) decoded")
            guard let error else { continue }
            #expect(error.field.hasPrefix("batch"), "bit \(bit): \(error)")
            #expect(error.position >= 0 && error.position < bytes.count)
            codes[error.code, default: 0] += 1
        }
        // Header fields are range-checked before the CRC is computed, so some flips name their
        // field (version, recordCount, ...) instead; flips in the records all hit the CRC.
        #expect(codes[.checksumMismatch, default: 0] >= (bytes.count - BatchHeader.size) * 8)
        #expect(codes[.badMagic, default: 0] == 32)
    }

    @Test func oversizedLengthIsRejectedBeforeAllocating() {
        var w = ByteWriter()
        w.u32(BatchHeader.magic)
        w.u32(UInt32.max)
        let error = formatError { () throws(FormatError) in try BatchCodec.decode(w.bytes) }
        #expect(error?.code == .outOfBounds)
        #expect(error?.field == "batch.batchLength")
        #expect(error?.position == 4)
    }

    @Test func crc32cKnownAnswerAndPortableAgreement() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.portableChecksum(Array("123456789".utf8)) == 0xE306_9283)
        var rng = SeededRNG(seed: 0x5EED_0003)
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097] {
            let bytes = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            #expect(CRC32C.checksum(bytes) == CRC32C.portableChecksum(bytes), "length \(length)")
            let split = length / 3
            let continued = CRC32C.checksum(Array(bytes[split...]), continuing: CRC32C.checksum(Array(bytes[..<split])))
            #expect(continued == CRC32C.checksum(bytes))
        }
    }
}
