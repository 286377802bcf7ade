import StrataFormat
import StrataKafka
import Testing

/// Compressed produce batches (formats/kafka.md, "Compression"): batches compressed by
/// kafka-python's and aiokafka's record builders and by librdkafka (captured by
/// tools/kafka-capture.py) come back uncompressed with the records their producers were given;
/// damaged compressed data, unknown codecs and compression bombs are typed errors.
@Suite struct KafkaCompressionTests {
    static let bound = KafkaBatch.decompressedBytesMax

    /// The kafka-python variants of the compressible records, each by codec name.
    static let kafkaPythonVariants: [(name: String, codec: KafkaCompression)] = [
        ("gzip", .gzip), ("gzip-members", .gzip), ("snappy", .snappy), ("snappy-raw", .snappy),
        ("lz4", .lz4), ("lz4-checksums", .lz4), ("zstd", .zstd), ("zstd-nosize", .zstd),
    ]
    /// Batches of the compressible records made by other producers: `batch-v2-<name>.bin`.
    static let otherProducers = ["librdkafka", "aiokafka"].flatMap { producer in
        ["gzip", "snappy", "lz4", "zstd"].map { "\(producer)-\($0)" }
    }

    /// kafka-python's builder writes the same header whether or not it compresses, so every
    /// variant decompresses to exactly the uncompressed batch (length, attributes, CRC rewritten).
    @Test(arguments: kafkaPythonVariants.map(\.name))
    func kafkaPythonBatchDecompressesToTheUncompressedBytes(_ name: String) throws {
        let compressed = try kafkaVector("batch-v2-compressible-\(name).bin")
        let plain = try kafkaVector("batch-v2-compressible.bin")
        let codec = try #require(Self.kafkaPythonVariants.first { $0.name == name }?.codec)
        #expect(try KafkaBatch.parseHeader(compressed).compression == codec)
        #expect(compressed.count * 5 < plain.count, "the vector is compressed")
        let output = try KafkaBatch.decompressed(compressed, maxBytes: Self.bound)
        #expect(output == plain)
        #expect(try KafkaBatch.parseHeader(output).compression == KafkaCompression.none)
    }

    /// librdkafka's batches (raw snappy, lz4 frames and zstd frames without a content size) and
    /// aiokafka's (its Cython builder; cramjam's Rust snappy and lz4) hold the records their
    /// producers were given: compared record by record after `toStrata`.
    @Test(arguments: otherProducers)
    func otherProducersBatchDecompressesToTheProducedRecords(_ name: String) throws {
        let compressed = try kafkaVector("batch-v2-\(name).bin")
        let header = try KafkaBatch.parseHeader(compressed)
        #expect(header.compression.map { name.hasSuffix("-\($0)") } == true)
        #expect(header.producerId == -1)
        let output = try KafkaBatch.decompressed(compressed, maxBytes: Self.bound)
        let strata = try KafkaBatch.toStrata(output, baseOffset: 1000)
        let batch = try BatchCodec.decode(strata)
        try expectCompressibleRecords(batch.records, firstOffset: 1000)
    }

    @Test func kafkaPythonRecordsSurviveToStrata() throws {
        let output = try KafkaBatch.decompressed(
            try kafkaVector("batch-v2-compressible-snappy.bin"), maxBytes: Self.bound)
        let batch = try BatchCodec.decode(try KafkaBatch.toStrata(output, baseOffset: 0))
        try expectCompressibleRecords(batch.records, firstOffset: 0)
        #expect(batch.header.producerId == 1000 && batch.header.baseSequence == 17)
    }

    @Test func anUncompressedBatchComesBackUnchanged() throws {
        let plain = try kafkaVector("batch-v2.bin")
        #expect(try KafkaBatch.decompressed(plain, maxBytes: Self.bound) == plain)
        let error = kafkaError { () throws(KafkaDecodeError) in
            try KafkaBatch.decompressed(plain, maxBytes: plain.count - 1)
        }
        #expect(error?.code == .recordsTooLarge)
        #expect(try KafkaBatch.decompressed(plain, maxBytes: plain.count) == plain)
    }

    /// `toStrata` still refuses compressed input and says what to call instead.
    @Test func toStrataRefusesCompressedInputButTakesItsDecompression() throws {
        let gzip = try kafkaVector("batch-v2-gzip.bin")
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.toStrata(gzip, baseOffset: 0) }
        #expect(error?.code == .unsupportedFeature)
        #expect(error?.message.contains("KafkaBatch.decompressed") == true)
        let strata = try KafkaBatch.toStrata(try KafkaBatch.decompressed(gzip, maxBytes: Self.bound), baseOffset: 7)
        let batch = try BatchCodec.decode(strata)
        #expect(batch.records.count == 20)
        #expect(batch.records.allSatisfy { $0.value == [UInt8](repeating: UInt8(ascii: "a"), count: 200) })
    }

    /// The input's CRC is checked before a byte is decompressed: garbage under a stale CRC is a
    /// checksum mismatch, not a codec error.
    @Test func aBadCRCFailsBeforeDecompression() throws {
        for (name, _) in Self.kafkaPythonVariants {
            var bytes = try kafkaVector("batch-v2-compressible-\(name).bin")
            for index in KafkaBatchHeader.size ..< bytes.count { bytes[index] = 0xA5 }
            let error = kafkaError { () throws(KafkaDecodeError) in
                try KafkaBatch.decompressed(bytes, maxBytes: Self.bound)
            }
            #expect(error?.code == .checksumMismatch, "\(name)")
            #expect(error?.kafkaErrorCode == .corruptMessage)
            #expect(error?.position == KafkaBatchHeader.crcPosition)
        }
    }

    @Test(arguments: [5, 6, 7])
    func codecsFiveToSevenAreUnsupportedCompression(_ codec: Int) throws {
        var bytes = try kafkaVector("batch-v2-compressible-zstd.bin")
        bytes[KafkaBatchHeader.crcCoverageStart + 1] =
            bytes[KafkaBatchHeader.crcCoverageStart + 1] & ~0x7 | UInt8(codec)
        reseal(&bytes)
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.decompressed(bytes, maxBytes: Self.bound)
        }
        #expect(error?.code == .unsupportedCompression)
        #expect(error?.field == "RecordBatch.attributes")
        #expect(error?.kafkaErrorCode == .unsupportedCompressionType)
    }

    @Test func bytesAfterTheBatchAreRefused() throws {
        let bytes = try kafkaVector("batch-v2-compressible-lz4.bin") + [0]
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.decompressed(bytes, maxBytes: Self.bound)
        }
        #expect(error?.code == .trailingBytes)
    }

    /// A small batch that expands past the bound fails with RECORD_LIST_TOO_LARGE; the bound is
    /// exact: the decompressed size passes, one byte less does not.
    @Test(arguments: [KafkaCompression.gzip, .snappy, .lz4, .zstd])
    func aCompressionBombFailsAtTheBound(_ codec: KafkaCompression) throws {
        let bomb = try kafkaVector("batch-v2-bomb-\(codec).bin")
        let vectors = try KafkaVectors.load()
        let size = try #require(vectors.batches["bomb-\(codec)"]?["decompressedBytes"] as? Int)
        #expect(bomb.count * 20 < size)
        for maxBytes in [1 << 20, size - 1, 0] {
            let error = kafkaError { () throws(KafkaDecodeError) in
                try KafkaBatch.decompressed(bomb, maxBytes: maxBytes)
            }
            #expect(error?.code == .recordsTooLarge, "\(codec) under \(maxBytes)")
            #expect(error?.field == "RecordBatch.records(\(codec))")
            #expect(error?.kafkaErrorCode == .recordListTooLarge)
        }
        let output = try KafkaBatch.decompressed(bomb, maxBytes: size)
        #expect(output.count == size)
        let valueBytes = try #require(vectors.batches["bomb-\(codec)"]?["valueBytes"] as? Int)
        let strata = try BatchCodec.decode(try KafkaBatch.toStrata(output, baseOffset: 0))
        let value = try #require(strata.records.first?.value)
        #expect(value.count == valueBytes && value.allSatisfy { $0 == 0 })
    }

    /// Streams without a size that expand past the first guess grow the output array (with a
    /// copy) and still come back whole; the bound is exact on that path too.
    @Test(arguments: [KafkaCompression.lz4, .zstd])
    func aStreamWithoutASizeGrowsItsOutput(_ codec: KafkaCompression) throws {
        let bytes = try kafkaVector("batch-v2-grow-\(codec).bin")
        let vectors = try KafkaVectors.load()
        let size = try #require(vectors.batches["grow-\(codec)"]?["decompressedBytes"] as? Int)
        #expect(bytes.count * 16 < 256 * 1024 && size > 4 * 256 * 1024, "output grows at least twice")
        let pattern = (0 ..< 4096).flatMap { _ in (0 ... 255).map { UInt8($0) } }
        for maxBytes in [Self.bound, size] {
            let output = try KafkaBatch.decompressed(bytes, maxBytes: maxBytes)
            #expect(output.count == size)
            let batch = try BatchCodec.decode(try KafkaBatch.toStrata(output, baseOffset: 0))
            #expect(batch.records.count == 1 && batch.records[0].value == pattern)
        }
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.decompressed(bytes, maxBytes: size - 1) }
        #expect(error?.code == .recordsTooLarge)
    }

    /// The largest decompressed batch still fits Strata's batch limit once `toStrata` rewrites it.
    @Test func theDecompressionBoundFitsStrataBatches() {
        #expect(
            KafkaBatch.decompressedBytesMax - KafkaBatchHeader.size + BatchHeader.size == FormatLimits.batchBytesMax)
    }

    /// The zstd decoder's window is part of the bound: a stream that asks for a 128 MiB window
    /// (and carries no content size) is refused, even under the largest bound.
    @Test func aZstdWindowOverTheBoundIsRefused() throws {
        let bytes = try kafkaVector("batch-v2-window-zstd.bin")
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaBatch.decompressed(bytes, maxBytes: Self.bound)
        }
        #expect(error?.code == .recordsTooLarge)
        #expect(error?.message.contains("window") == true)
    }

    /// Every cut of the compressed section (with the length and CRC fixed up, so the codec sees
    /// it) is a corrupt-records error naming the codec; never a crash. A xerial stream cut at a
    /// block boundary, and gzip cut between members, are shorter valid streams.
    @Test(arguments: kafkaPythonVariants.map(\.name) + otherProducers)
    func truncatedCompressedDataIsATypedError(_ name: String) throws {
        let bytes = try kafkaVector(
            Self.otherProducers.contains(name) ? "batch-v2-\(name).bin" : "batch-v2-compressible-\(name).bin")
        let codec = try #require(try KafkaBatch.parseHeader(bytes).compression)
        let full = try KafkaBatch.decompressed(bytes, maxBytes: Self.bound)
        let xerial = bytes[KafkaBatchHeader.size...].starts(with: [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
        for end in KafkaBatchHeader.size ..< bytes.count {
            var cut = Array(bytes[..<end])
            setLength(&cut)
            reseal(&cut)
            do {
                let output = try KafkaBatch.decompressed(cut, maxBytes: Self.bound)
                #expect(xerial || name == "gzip-members", "\(name) cut to \(end) decompressed")
                #expect(
                    output.count < full.count
                        && Array(output[KafkaBatchHeader.size...])
                            == Array(full[KafkaBatchHeader.size ..< output.count])
                )
            } catch {
                #expect(error.code == .corruptRecords, "\(name) cut to \(end): \(error)")
                #expect(error.field == "RecordBatch.records(\(codec))")
                #expect(error.position >= KafkaBatchHeader.size && error.position <= end, "\(error)")
                #expect(error.kafkaErrorCode == .corruptMessage)
            }
        }
    }

    /// Flipped bytes under a fixed-up CRC: a typed error or a batch of the right shape, never a
    /// crash. Where the codec checks its data (gzip's CRC-32, lz4's block and content checksums),
    /// a flip that goes unnoticed must not have changed the records (gzip's mtime and OS bytes,
    /// unused Huffman code lengths).
    @Test(arguments: kafkaPythonVariants.map(\.name) + otherProducers)
    func flippedCompressedBytesAreTypedErrors(_ name: String) throws {
        let bytes = try kafkaVector(
            Self.otherProducers.contains(name) ? "batch-v2-\(name).bin" : "batch-v2-compressible-\(name).bin")
        let codec = try #require(try KafkaBatch.parseHeader(bytes).compression)
        let checked = name == "lz4-checksums" || codec == .gzip
        let original = try KafkaBatch.decompressed(bytes, maxBytes: Self.bound)
        var unnoticed = 0
        for index in KafkaBatchHeader.size ..< bytes.count {
            var flipped = bytes
            flipped[index] ^= 0x5A
            reseal(&flipped)
            do {
                let output = try KafkaBatch.decompressed(flipped, maxBytes: 1 << 20)
                unnoticed += 1
                #expect(!checked || output == original, "\(name): flip at \(index) changed the records unnoticed")
                #expect(try KafkaBatch.parseHeader(output).compression == KafkaCompression.none)
            } catch {
                #expect(
                    error.code == .corruptRecords || error.code == .recordsTooLarge, "\(name) at \(index): \(error)")
                #expect(error.field == "RecordBatch.records(\(codec))")
            }
        }
        if checked { #expect(unnoticed * 100 < bytes.count, "\(name): \(unnoticed) flips unnoticed") }
    }

    private func expectCompressibleRecords(_ records: [Record], firstOffset: Int64) throws {
        let vectors = try KafkaVectors.load()
        let expected = try #require(vectors.batches["compressible"]?["records"] as? [[String: Any]])
        #expect(records.count == expected.count)
        for (index, (record, json)) in zip(records, expected).enumerated() {
            #expect(record.offset == firstOffset + Int64(index))
            #expect(record.timestamp == Int64(try #require(json["timestamp"] as? Int)), "record \(index)")
            #expect(record.key == (try hexOrNil(json["key"])), "record \(index) key")
            #expect(record.value == (try hexOrNil(json["value"])), "record \(index) value")
            let headers = try #require(json["headers"] as? [[String: Any]])
            #expect(record.headers.map(\.key) == headers.map { $0["key"] as? String ?? "?" }, "record \(index)")
            #expect(try record.headers.map(\.value) == headers.map { try hexOrNil($0["value"]) }, "record \(index)")
        }
    }

    /// A `{"hex": ...}` value of vectors.json, or nil for JSON null.
    private func hexOrNil(_ raw: Any?) throws -> [UInt8]? {
        guard let object = raw as? [String: Any] else { return nil }
        return try JSONToKafka.hex(try #require(object["hex"] as? String))
    }

    private func setLength(_ bytes: inout [UInt8]) {
        let length = UInt32(bytes.count - KafkaBatchHeader.lengthFieldEnd)
        withUnsafeBytes(of: length.bigEndian) { for i in 0 ..< 4 { bytes[8 + i] = $0[i] } }
    }

    private func reseal(_ bytes: inout [UInt8]) {
        let crc = CRC32C.checksum(bytes[KafkaBatchHeader.crcCoverageStart...])
        withUnsafeBytes(of: crc.bigEndian) { for i in 0 ..< 4 { bytes[KafkaBatchHeader.crcPosition + i] = $0[i] } }
    }
}
