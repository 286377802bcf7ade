import StrataFormat
import StrataKafka
import Testing

/// Kafka v2 record batches: the header, its CRC-32C, and the header rewrites to and from
/// Strata's batch, checked against batches built by kafka-python's DefaultRecordBatchBuilder.
@Suite struct KafkaBatchTests {
    @Test func kafkaPythonBatchHeaderParses() throws {
        let bytes = try kafkaVector("batch-v2.bin")
        let header = try KafkaBatch.parseHeader(bytes)
        #expect(header.totalBytes == bytes.count)
        #expect(header.magic == 2)
        #expect(header.baseOffset == 0)
        #expect(header.recordCount == 4 && header.lastOffsetDelta == 3)
        #expect(header.producerId == 1000 && header.producerEpoch == 3 && header.baseSequence == 17)
        #expect(header.baseTimestamp == 1_700_000_000_000)
        #expect(header.maxTimestamp == 1_700_000_000_250)
        #expect(header.compression == KafkaCompression.none)
        #expect(!header.isTransactional && !header.isControl && !header.isLogAppendTime)
    }

    /// A flipped bit anywhere under the CRC is a checksum mismatch naming the CRC's position.
    @Test func everyFlippedBitUnderTheCRCIsCaught() throws {
        let bytes = try kafkaVector("batch-v2.bin")
        for index in KafkaBatchHeader.crcCoverageStart ..< bytes.count {
            for bit in [0, 7] {
                var copy = bytes
                copy[index] ^= UInt8(1) << UInt8(bit)
                let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.parseHeader(copy) }
                #expect(error?.code == .checksumMismatch, "byte \(index) bit \(bit)")
                #expect(error?.position == KafkaBatchHeader.crcPosition)
                #expect(error?.kafkaErrorCode == .corruptMessage)
            }
        }
    }

    @Test func truncatedOrForeignBatchesAreTypedErrors() throws {
        let bytes = try kafkaVector("batch-v2.bin")
        for count in 0 ..< bytes.count {
            let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.parseHeader(Array(bytes[..<count])) }
            #expect(error?.code == .truncated, "cut to \(count)")
        }
        var legacy = bytes
        legacy[KafkaBatchHeader.magicPosition] = 1
        let legacyError = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.parseHeader(legacy) }
        #expect(legacyError?.code == .unsupportedVersion)
        var negative = bytes
        negative[8] = 0xFF
        let negativeError = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.parseHeader(negative) }
        #expect(negativeError?.code == .outOfBounds)
    }

    /// kafka-python's batch becomes a Strata batch that Strata's own decoder accepts, with the
    /// records kafka-python was given, the producer fields kept and the engine's base offset.
    @Test func kafkaPythonBatchConvertsToStrata() throws {
        let bytes = try kafkaVector("batch-v2.bin")
        let strata = try KafkaBatch.toStrata(bytes, baseOffset: 500)
        #expect(strata.count == bytes.count - KafkaBatchHeader.size + BatchHeader.size)
        let batch = try BatchCodec.decode(strata)
        #expect(batch.header.baseOffset == 500)
        #expect(batch.header.producerId == 1000 && batch.header.producerEpoch == 3 && batch.header.baseSequence == 17)
        let vectors = try KafkaVectors.load()
        let expected = try #require(vectors.batches["plain"]?["records"] as? [[String: Any]])
        #expect(batch.records.count == expected.count)
        for (index, (record, json)) in zip(batch.records, expected).enumerated() {
            #expect(record.offset == 500 + Int64(index))
            #expect(record.timestamp == Int64(try #require(json["timestamp"] as? Int)))
            #expect(record.key == (try hexOrNil(json["key"])), "record \(index) key")
            #expect(record.value == (try hexOrNil(json["value"])), "record \(index) value")
            let headers = try #require(json["headers"] as? [[String: Any]])
            #expect(record.headers.map(\.key) == headers.map { $0["key"] as? String ?? "?" })
            #expect(try record.headers.map(\.value) == headers.map { try hexOrNil($0["value"]) })
        }
    }

    /// Strata → Kafka → Strata and Kafka → Strata → Kafka are byte-identical: only headers change.
    @Test func headerRewritesRoundTrip() throws {
        let kafka = try kafkaVector("batch-v2.bin")
        let strata = try KafkaBatch.toStrata(kafka, baseOffset: 0)
        #expect(try KafkaBatch.fromStrata(strata) == kafka)
        let records = [
            Record(timestamp: -5, key: nil, value: [1, 2, 3]),
            Record(timestamp: 9_000, key: Array("k".utf8), value: nil, headers: [RecordHeader(key: "h", value: nil)]),
        ]
        let native = BatchCodec.encode(
            baseOffset: 77, records: records, producerId: 5, producerEpoch: 1,
            baseSequence: 0)
        let converted = try KafkaBatch.fromStrata(native, partitionLeaderEpoch: 0)
        let header = try KafkaBatch.parseHeader(converted)
        #expect(header.baseOffset == 77 && header.recordCount == 2 && header.producerId == 5)
        #expect(try KafkaBatch.toStrata(converted, baseOffset: 77) == native)
    }

    /// The Produce path checks each batch's CRC once (in `split`): converting a checked batch
    /// derives the Strata CRC from the Kafka one, and gives the very bytes a checking
    /// conversion computes, for batches of every size (the records' share of the CRC is taken
    /// out of the Kafka CRC, `recordsCRC`); a checked conversion does not read the CRC again,
    /// so a damaged one is caught only where it is checked.
    @Test func aCheckedBatchConvertsToTheSameBytesWithoutASecondPass() throws {
        var batches = [try kafkaVector("batch-v2.bin")]
        for count in [1, 2, 17, 300] {
            let records = (0 ..< count).map { i in
                Record(timestamp: Int64(i), key: i % 3 == 0 ? nil : Array("k\(i)".utf8), value: Array(repeating: UInt8(i & 0xff), count: i * 7))
            }
            batches.append(try KafkaBatch.fromStrata(BatchCodec.encode(baseOffset: 0, records: records)))
        }
        for kafka in batches {
            let header = try KafkaBatch.parseHeader(kafka)
            let records = CRC32C.checksum(kafka[KafkaBatchHeader.size...])
            #expect(KafkaBatch.recordsCRC(kafka, header: header) == records)
            let checked = try KafkaBatch.toStrata(kafka, baseOffset: 42, crcChecked: true)
            #expect(checked == (try KafkaBatch.toStrata(kafka, baseOffset: 42)))
            _ = try BatchCodec.decode(checked)
        }
        var damaged = batches[1]
        damaged[KafkaBatchHeader.crcPosition] ^= 1
        let error = kafkaError { () throws(KafkaDecodeError) in _ = try KafkaBatch.split(damaged) }
        #expect(error?.code == .checksumMismatch)
        #expect((try? KafkaBatch.parseHeader(damaged, checksCRC: false)) != nil)
    }

    /// The Fetch path's conversion of a batch the read already checked: the same bytes as the
    /// checking conversion, and still exactly one batch.
    @Test func convertingACheckedBatchGivesTheSameBytes() throws {
        let native = BatchCodec.encode(
            baseOffset: 9,
            records: [Record(timestamp: 3, key: [1], value: [2, 3], headers: [RecordHeader(key: "a", value: [4])])])
        let header = try withBytes(native) { (raw) throws(FormatError) in try BatchCodec.verify(raw) }
        #expect(try KafkaBatch.fromStrata(checked: native, header: header) == (try KafkaBatch.fromStrata(native)))
        let error = kafkaError { () throws(KafkaDecodeError) in
            try KafkaBatch.fromStrata(checked: native + [0], header: header)
        }
        #expect(error?.code == .trailingBytes)
        // A Fetch answer's batches, written one after another into one array: each the same
        // bytes (and CRC) as converted alone; a batch that does not convert leaves it as it was.
        let second = BatchCodec.encode(baseOffset: 10, records: [Record(timestamp: 4, key: nil, value: [9])])
        let secondHeader = try withBytes(second) { (raw) throws(FormatError) in try BatchCodec.verify(raw) }
        var w = KafkaWriter()
        try KafkaBatch.appendFromStrata(checked: native, header: header, to: &w)
        try KafkaBatch.appendFromStrata(checked: second, header: secondHeader, to: &w)
        #expect(w.bytes == (try KafkaBatch.fromStrata(native)) + (try KafkaBatch.fromStrata(second)))
        #expect(try KafkaBatch.split(w.bytes).count == 2)
        let before = w.bytes
        let refused = kafkaError { () throws(KafkaDecodeError) in
            try KafkaBatch.appendFromStrata(checked: second + [0], header: secondHeader, to: &w)
        }
        #expect(refused?.code == .trailingBytes && w.bytes == before)
    }

    /// The Kafka batch's CRC is derived from the Strata batch's stored CRC, never computed over
    /// the records again: it equals the CRC over the Kafka batch's bytes for batches of every
    /// size, and a record damaged after its CRC was taken gives a batch whose CRC fails the
    /// client's check (a computed CRC would have resealed the damage).
    @Test func theFetchedBatchsCRCIsDerivedFromTheStoredOne() throws {
        for count in [1, 3, 64, 500] {
            let records = (0 ..< count).map { i in
                Record(
                    timestamp: Int64(i * 11), key: i % 4 == 0 ? nil : Array("key-\(i)".utf8),
                    value: Array(repeating: UInt8(truncatingIfNeeded: i), count: i * 13 % 700),
                    headers: i % 5 == 0 ? [RecordHeader(key: "h\(i)", value: [1, 2])] : [])
            }
            let native = BatchCodec.encode(baseOffset: 1_000, records: records, producerId: 7, producerEpoch: 2)
            let header = try withBytes(native) { (raw) throws(FormatError) in try BatchCodec.verify(raw) }
            let kafka = try KafkaBatch.fromStrata(checked: native, header: header, partitionLeaderEpoch: 3)
            let stored = try KafkaBatch.parseHeader(kafka, checksCRC: false).crc
            #expect(stored == CRC32C.checksum(kafka[KafkaBatchHeader.crcCoverageStart...]), "\(count) records")
            #expect(try KafkaBatch.split(kafka).count == 1)

            var damaged = native
            damaged[native.count - 1] ^= 0x20  // the last record's last byte, after the CRC was taken
            let resealed = try KafkaBatch.fromStrata(checked: damaged, header: header)
            let error = kafkaError { () throws(KafkaDecodeError) in _ = try KafkaBatch.split(resealed) }
            #expect(error?.code == .checksumMismatch, "\(count) records")
        }
    }

    @Test func compressedTransactionalAndControlBatchesAreRefused() throws {
        let gzip = try kafkaVector("batch-v2-gzip.bin")
        let header = try KafkaBatch.parseHeader(gzip)
        #expect(header.compression == .gzip)
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.toStrata(gzip, baseOffset: 0) }
        #expect(error?.code == .unsupportedFeature)
        #expect(error?.field == "RecordBatch.attributes")
        for bit: UInt8 in [0x10, 0x20, 0x40, 0x08] {
            var flagged = try kafkaVector("batch-v2.bin")
            flagged[KafkaBatchHeader.crcCoverageStart + 1] |= bit
            resealKafka(&flagged)
            let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.toStrata(flagged, baseOffset: 0) }
            #expect(error?.code == (bit == 0x08 ? .invalidValue : .unsupportedFeature), "attribute bit 0x\(bit)")
        }
    }

    /// Records Strata would reject (a non-dense offset delta) are refused before storing,
    /// naming the record field and its position inside the Kafka batch.
    @Test func malformedRecordsAreRefusedWithTheirCause() throws {
        var bytes = try kafkaVector("batch-v2.bin")
        // Record 0: length varint, attributes, timestamp delta (0), then offset delta (0) → 5.
        let offsetDeltaAt = KafkaBatchHeader.size + 3
        #expect(bytes[offsetDeltaAt] == 0)
        bytes[offsetDeltaAt] = 10
        resealKafka(&bytes)
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.toStrata(bytes, baseOffset: 0) }
        #expect(error?.code == .corruptRecords)
        #expect(error?.field == "RecordBatch.record.offsetDelta")
        #expect(error?.position == offsetDeltaAt)
        #expect(error?.kafkaErrorCode == .corruptMessage)
    }

    /// toStrata checks records without decoding them; it must accept exactly what Strata's
    /// decoder accepts. Mutated batches (CRC resealed) are converted both ways: by toStrata, and
    /// by a bare header rewrite handed to BatchCodec.decode.
    @Test func recordScanAgreesWithStrataDecoder() throws {
        var state: UInt64 = 0x5CA7_1313
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let original = try kafkaVector("batch-v2.bin")
        var accepted = 0
        var rejected = 0
        for round in 0 ..< 4000 {
            var bytes = original
            for _ in 0 ..< (1 + round % 3) {
                let index = KafkaBatchHeader.size + Int(next() % UInt64(bytes.count - KafkaBatchHeader.size))
                bytes[index] = round % 2 == 0 ? UInt8(truncatingIfNeeded: next()) : bytes[index] ^ 1
            }
            resealKafka(&bytes)
            let converted = try? KafkaBatch.toStrata(bytes, baseOffset: 3)
            let strataAccepts = (try? BatchCodec.decode(bareRewrite(bytes, baseOffset: 3))) != nil
            #expect(
                (converted != nil) == strataAccepts,
                "round \(round): toStrata \(converted != nil), Strata \(strataAccepts)")
            if let converted { #expect(converted == bareRewrite(bytes, baseOffset: 3)) }
            if strataAccepts { accepted += 1 } else { rejected += 1 }
        }
        #expect(accepted > 50 && rejected > 50, "both outcomes exercised: \(accepted) accepted, \(rejected) rejected")
    }

    /// Strata's header over a Kafka batch's records, with no checks at all.
    private func bareRewrite(_ kafka: [UInt8], baseOffset: Int64) -> [UInt8] {
        var r = KafkaReader(kafka, position: 23)
        let lastOffsetDelta = (try? r.int32("")) ?? 0
        let baseTimestamp = (try? r.int64("")) ?? 0
        let maxTimestamp = (try? r.int64("")) ?? 0
        let producerId = (try? r.int64("")) ?? 0
        let producerEpoch = (try? r.int16("")) ?? 0
        let baseSequence = (try? r.int32("")) ?? 0
        let count = (try? r.int32("")) ?? 0
        var w = ByteWriter()
        w.u32(BatchHeader.magic)
        w.u32(UInt32(kafka.count - KafkaBatchHeader.size + BatchHeader.size))
        w.u32(0)
        w.u8(1)
        w.u8(0)
        w.u16(0)
        w.i64(baseOffset)
        w.i32(lastOffsetDelta)
        w.i32(count)
        w.i64(baseTimestamp)
        w.i64(maxTimestamp)
        w.i64(producerId)
        w.i16(producerEpoch)
        w.i32(baseSequence)
        w.u16(0)
        w.raw(kafka[KafkaBatchHeader.size...])
        var bytes = w.bytes
        let crc = CRC32C.checksum(bytes[BatchHeader.crcCoverageStart...])
        withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { bytes[8 + i] = $0[i] } }
        return bytes
    }

    @Test func splitReadsBackToBackBatches() throws {
        let one = try kafkaVector("batch-v2.bin")
        let parts = try KafkaBatch.split(one + one)
        #expect(parts.map(\.range) == [0 ..< one.count, one.count ..< (2 * one.count)])
        let partial = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.split(one + one.prefix(70)) }
        #expect(partial?.code == .truncated)
    }

    private func hexOrNil(_ raw: Any?) throws -> [UInt8]? {
        guard let object = raw as? [String: Any] else { return nil }
        return try JSONToKafka.hex(try #require(object["hex"] as? String))
    }

    /// Recomputes a Kafka batch's CRC-32C after a test edits it.
    private func resealKafka(_ bytes: inout [UInt8]) {
        let crc = CRC32C.checksum(bytes[KafkaBatchHeader.crcCoverageStart...])
        withUnsafeBytes(of: crc.bigEndian) { for i in 0 ..< 4 { bytes[KafkaBatchHeader.crcPosition + i] = $0[i] } }
    }
}
