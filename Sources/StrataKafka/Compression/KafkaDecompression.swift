import StrataFormat

extension KafkaBatch {
    /// Largest output a caller may ask `decompressed` for: a batch whose Strata form (a header 3
    /// bytes longer) `toStrata` still writes under Strata's batch limit.
    public static let decompressedBytesMax =
        FormatLimits.batchBytesMax - (BatchHeader.size - KafkaBatchHeader.size)

    /// The same Kafka v2 batch with its records section decompressed (formats/kafka.md,
    /// "Compression"): the header is copied with the compression bits of `attributes` cleared,
    /// `batchLength` set to the new size and the CRC-32C recomputed; the records are not
    /// checked here (`toStrata` does that). An uncompressed batch is returned as it is.
    ///
    /// gzip (RFC 1952 members), snappy (raw, or the Java client's xerial framing), lz4 (LZ4
    /// frames) and zstd (frames) are read, each straight into the one output array, which grows
    /// only when the stream did not announce its size. The bound holds while decompressing: no
    /// output buffer larger than `maxBytes` is ever allocated (a buffer that has to grow holds
    /// the old and the new one for the copy), and the zstd decoder's window is limited to
    /// `max(maxBytes, 8 MiB)` rounded up to a power of two.
    /// - Parameters:
    ///   - maxBytes: the most bytes the returned batch (header included) may have; clamped to
    ///     `decompressedBytesMax`.
    ///   - crcChecked: true when the caller checked the input's CRC already (it is not checked
    ///     again; a decompressed batch gets a CRC computed over its new bytes either way).
    /// - Returns: a batch of at most `maxBytes` bytes that `parseHeader` accepts.
    /// - Throws: the `parseHeader` errors (the input's CRC is checked before anything is
    ///   decompressed); `.trailingBytes` for bytes after the batch; `.unsupportedCompression`
    ///   for codec 5–7; `.recordsTooLarge` when the output would exceed `maxBytes`;
    ///   `.corruptRecords` naming the codec (`RecordBatch.records(gzip)`) and the byte of the
    ///   batch where truncated or malformed compressed data was found.
    public static func decompressed(
        _ bytes: [UInt8], maxBytes: Int, crcChecked: Bool = false
    ) throws(KafkaDecodeError) -> [UInt8] {
        let header = try parseHeader(bytes, checksCRC: !crcChecked)
        guard header.totalBytes == bytes.count else {
            throw KafkaDecodeError(
                .trailingBytes, field: "RecordBatch.batchLength", position: 8,
                "\(bytes.count - header.totalBytes) bytes after the batch")
        }
        let limit = min(max(maxBytes, 0), decompressedBytesMax)
        guard let codec = header.compression else {
            throw KafkaDecodeError(
                .unsupportedCompression, field: "RecordBatch.attributes", position: KafkaBatchHeader.crcCoverageStart,
                "compression codec \(header.attributes & 0x7) is not one of Kafka's "
                    + "(0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)")
        }
        if codec == .none {
            guard bytes.count <= limit else {
                throw KafkaDecodeError(
                    .recordsTooLarge, field: "RecordBatch.batchLength", position: 8,
                    "batch of \(bytes.count) bytes, the bound is \(limit)")
            }
            return bytes
        }
        let result: Result<[UInt8], KafkaDecodeError> = bytes.withUnsafeBytes { raw in
            do throws(KafkaDecodeError) {
                let input = UnsafeRawBufferPointer(rebasing: raw[KafkaBatchHeader.size...])
                let prefix = UnsafeRawBufferPointer(rebasing: raw[..<KafkaBatchHeader.size])
                var output = try decompress(input, codec: codec, prefix: prefix, limit: limit)
                // Sealed here, while `output` is the array's only reference (no copy on write).
                sealDecompressed(&output, attributes: header.attributes)
                return .success(output)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The whole output batch: `prefix` (the input's header) then the decompressed records.
    private static func decompress(
        _ input: UnsafeRawBufferPointer, codec: KafkaCompression, prefix: UnsafeRawBufferPointer, limit: Int
    ) throws(KafkaDecodeError) -> [UInt8] {
        let failure = DecompressionFailure(codec: codec, limit: limit)
        switch codec {
        case .none: return Array(prefix) + Array(input)
        case .snappy: return try KafkaSnappy.decompress(input, prefix: prefix, failure)
        case .gzip:
            var stream = try KafkaGzip.Stream(input, failure)
            return try fill(&stream, prefix: prefix, inputBytes: input.count, failure)
        case .lz4:
            var stream = try KafkaLz4.Stream(input, failure)
            return try fill(&stream, prefix: prefix, inputBytes: input.count, failure)
        case .zstd:
            var stream = try KafkaZstd.Stream(input, failure)
            return try fill(&stream, prefix: prefix, inputBytes: input.count, failure)
        }
    }

    /// Rewrites the copied header for the decompressed records: length, attributes, CRC.
    private static func sealDecompressed(_ batch: inout [UInt8], attributes: Int16) {
        var w = KafkaWriter(capacity: 8)
        w.int32(Int32(batch.count - KafkaBatchHeader.lengthFieldEnd))
        w.int16(attributes & ~0x7)
        let patch = w.bytes
        for index in 0 ..< 4 { batch[8 + index] = patch[index] }
        for index in 0 ..< 2 { batch[KafkaBatchHeader.crcCoverageStart + index] = patch[4 + index] }
        let crc = batch.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[KafkaBatchHeader.crcCoverageStart...]))
        }
        withUnsafeBytes(of: crc.bigEndian) {
            for index in 0 ..< 4 { batch[KafkaBatchHeader.crcPosition + index] = $0[index] }
        }
    }

    /// Runs a streaming decoder into one array, grown (doubling, up to the limit) only when the
    /// stream's announced size was missing or short. A full buffer is probed with one scratch
    /// byte before growing, so a stream that ends exactly at the buffer's end is not copied.
    private static func fill<Stream: KafkaDecompressionStream>(
        _ stream: inout Stream, prefix: UnsafeRawBufferPointer, inputBytes: Int, _ failure: DecompressionFailure
    ) throws(KafkaDecodeError) -> [UInt8] {
        let limit = failure.limit
        guard prefix.count <= limit else { throw failure.tooLarge(prefix.count) }
        // Without an announced size, guess high: pages of the array that are never written are
        // never faulted in, while growing (a fresh array and a copy) cost zstd 3.5x its speed.
        let guess = stream.announcedBytes ?? max(inputBytes * 16, 256 * 1024)
        var capacity = min(limit, prefix.count + min(guess, limit))
        var previous = [UInt8](prefix)
        var pending: UInt8? = nil
        while true {
            var thrown: KafkaDecodeError? = nil
            var finished = false
            let buffer = [UInt8](unsafeUninitializedCapacity: capacity) { out, count in
                let base = UnsafeMutableRawBufferPointer(out)
                previous.withUnsafeBytes { base.copyMemory(from: $0) }
                count = previous.count
                if let byte = pending { out[count] = byte; count += 1 }
                do throws(KafkaDecodeError) {
                    let step = try stream.decode(into: UnsafeMutableRawBufferPointer(rebasing: base[count...]))
                    count += step.written
                    finished = step.finished
                } catch {
                    thrown = error
                }
            }
            if let thrown { throw thrown }
            if finished { return buffer }
            // Full: one more byte tells a stream that ended here from one that goes on.
            var scratch: UInt8 = 0
            let probe = try withUnsafeMutableBytes(of: &scratch) { (raw) throws(KafkaDecodeError) in
                try stream.decode(into: raw)
            }
            if probe.written == 0 {
                guard probe.finished else { throw failure.corrupt(at: stream.consumed, "the decoder stopped") }
                return buffer
            }
            guard capacity < limit else { throw failure.tooLarge(limit + 1) }
            previous = buffer
            pending = scratch
            capacity = min(limit, max(capacity * 2, capacity + 1))
        }
    }
}

/// One codec's streaming decoder over a batch's whole compressed records section.
protocol KafkaDecompressionStream {
    /// The decompressed size the stream's header announces, when it does (a hint, checked by
    /// decoding).
    var announcedBytes: Int? { get }
    /// Bytes of the compressed section consumed so far (for error positions).
    var consumed: Int { get }
    /// Decompresses into `output` until it is full or the stream ends.
    /// - Returns: the bytes written, and whether the stream ended (every byte of input consumed).
    /// - Throws: `.corruptRecords` (via `DecompressionFailure`) for malformed or truncated data;
    ///   `.recordsTooLarge` when the stream needs more memory than the bound allows.
    mutating func decode(
        into output: UnsafeMutableRawBufferPointer
    ) throws(KafkaDecodeError) -> (
        written: Int, finished: Bool
    )
}

/// Builds the errors of one decompression: the field names the codec, positions are bytes of
/// the batch (the compressed section starts at byte 61).
struct DecompressionFailure {
    var codec: KafkaCompression
    var limit: Int

    var field: String { "RecordBatch.records(\(codec))" }

    func corrupt(at consumed: Int, _ message: String) -> KafkaDecodeError {
        KafkaDecodeError(
            .corruptRecords, field: field, position: KafkaBatchHeader.size + consumed, "\(codec): \(message)")
    }

    func truncated(at consumed: Int) -> KafkaDecodeError {
        corrupt(at: consumed, "compressed data ends inside the stream after \(consumed) bytes")
    }

    func tooLarge(_ atLeast: Int) -> KafkaDecodeError {
        KafkaDecodeError(
            .recordsTooLarge, field: field, position: KafkaBatchHeader.size,
            "\(codec): decompressed batch of at least \(atLeast) bytes, the bound is \(limit)")
    }
}
