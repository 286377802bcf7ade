import StrataFormat

/// The 61-byte header of a Kafka record batch, magic 2 (big-endian on the wire).
public struct KafkaBatchHeader: Sendable, Hashable {
    public static let size = 61
    /// `batchLength` counts the bytes after itself: the header from `partitionLeaderEpoch` on.
    public static let lengthFieldEnd = 12
    /// The CRC-32C covers `attributes` through the end of the batch.
    public static let crcCoverageStart = 21
    public static let crcPosition = 17
    public static let magicPosition = 16

    public var baseOffset: Int64
    /// Bytes after the `batchLength` field: the whole batch is `batchLength + 12` bytes.
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// Total bytes of the batch.
    public var totalBytes: Int { Int(batchLength) + KafkaBatchHeader.lengthFieldEnd }
    /// Bits 0–2: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    public var compression: KafkaCompression? { KafkaCompression(rawValue: Int(attributes & 0x7)) }
    /// Bit 3: the timestamps are the broker's append time, not the producer's create time.
    public var isLogAppendTime: Bool { attributes & 0x8 != 0 }
    /// Bit 4.
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    /// Bit 5: a control batch (transaction markers).
    public var isControl: Bool { attributes & 0x20 != 0 }
    /// Bit 6: the base timestamp is a delete horizon set by compaction.
    public var hasDeleteHorizon: Bool { attributes & 0x40 != 0 }
}

/// Compression codecs of a Kafka batch's attributes.
public enum KafkaCompression: Int, Sendable {
    case none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4
}

/// Reads Kafka v2 record batches and rewrites their headers to and from Strata's batch
/// (formats/kafka.md): both carry Kafka's record v2 layout after the header, so a conversion
/// copies the records verbatim and writes the other header and checksum.
public enum KafkaBatch {
    /// Parses the batch header at `position` and checks the CRC-32C over the whole batch.
    /// - Parameter checksCRC: false for bytes whose CRC the caller has checked already (the
    ///   Produce path checks each batch once, in `split`); everything else is still checked.
    /// - Throws: `.truncated` when the batch runs past `bytes`; `.outOfBounds` for an impossible
    ///   length or count; `.unsupportedVersion` for a magic other than 2 (legacy message sets);
    ///   `.checksumMismatch` when the CRC does not match. Positions are in `bytes`.
    public static func parseHeader(
        _ bytes: [UInt8], at position: Int = 0, checksCRC: Bool = true
    ) throws(KafkaDecodeError) -> KafkaBatchHeader {
        var r = KafkaReader(bytes, position: position)
        return try r.within("RecordBatch") { (r) throws(KafkaDecodeError) in
            try parseHeader(&r, start: position, checksCRC: checksCRC)
        }
    }

    /// The CRC-32C of a batch's records (everything after its 61-byte header) from the header's
    /// checked CRC, without reading them: the checksum covers header bytes 21..<61 and then the
    /// records, so the records' share is what is left once the header's is taken out.
    /// - Parameter bytes: the batch, exactly (its CRC checked, or computed by this process).
    public static func recordsCRC(_ bytes: [UInt8], header: KafkaBatchHeader) -> UInt32 {
        let headerCRC = bytes.withUnsafeBytes { raw in
            CRC32C.checksum(
                UnsafeRawBufferPointer(rebasing: raw[KafkaBatchHeader.crcCoverageStart ..< KafkaBatchHeader.size]))
        }
        return CRC32C.suffix(ofWhole: header.crc, prefix: headerCRC, lengthB: bytes.count - KafkaBatchHeader.size)
    }

    /// The CRC-32C of a new header (whose covered bytes have checksum `headerCRC`) followed by
    /// the records of `bytes`, without reading the records: a rewritten header (Strata's, or
    /// Kafka's with fields repaired) resealed from the batch's checked CRC.
    public static func crc(headerCRC: UInt32, recordsOf bytes: [UInt8], header: KafkaBatchHeader) -> UInt32 {
        CRC32C.combine(headerCRC, recordsCRC(bytes, header: header), lengthB: bytes.count - KafkaBatchHeader.size)
    }

    private static func parseHeader(
        _ r: inout KafkaReader, start: Int, checksCRC: Bool
    ) throws(KafkaDecodeError) -> KafkaBatchHeader {
        guard r.remaining >= KafkaBatchHeader.size else {
            throw r.error(.truncated, "header", "a batch header is 61 bytes, \(r.remaining) left")
        }
        let baseOffset = try r.int64("baseOffset")
        let batchLength = try r.int32("batchLength")
        let lengthMin = Int32(KafkaBatchHeader.size - KafkaBatchHeader.lengthFieldEnd)
        guard batchLength >= lengthMin, Int(batchLength) <= FormatLimits.batchBytesMax else {
            throw r.error(
                .outOfBounds, "batchLength", at: start + 8,
                "\(batchLength) outside [\(lengthMin), \(FormatLimits.batchBytesMax)]")
        }
        guard Int(batchLength) <= r.remaining else {
            throw r.error(
                .truncated, "batchLength", at: start + 8,
                "batch of \(batchLength) bytes, \(r.remaining) left")
        }
        let partitionLeaderEpoch = try r.int32("partitionLeaderEpoch")
        let magic = try r.int8("magic")
        guard magic == 2 else {
            throw r.error(.unsupportedVersion, "magic", at: start + 16, "magic \(magic); only v2 batches are read")
        }
        let crc = try r.uint32("crc")
        let header = KafkaBatchHeader(
            baseOffset: baseOffset, batchLength: batchLength, partitionLeaderEpoch: partitionLeaderEpoch,
            magic: magic, crc: crc, attributes: try r.int16("attributes"),
            lastOffsetDelta: try r.int32("lastOffsetDelta"),
            baseTimestamp: try r.int64("baseTimestamp"), maxTimestamp: try r.int64("maxTimestamp"),
            producerId: try r.int64("producerId"), producerEpoch: try r.int16("producerEpoch"),
            baseSequence: try r.int32("baseSequence"), recordCount: try r.int32("recordCount"))
        guard checksCRC else { return header }
        let end = start + header.totalBytes
        let actual = r.bytes.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + KafkaBatchHeader.crcCoverageStart) ..< end]))
        }
        guard actual == crc else {
            throw r.error(
                .checksumMismatch, "crc", at: start + KafkaBatchHeader.crcPosition,
                "stored 0x\(String(crc, radix: 16)), computed 0x\(String(actual, radix: 16))")
        }
        return header
    }

    /// Splits a `records` field into its batches, each checked (header and CRC).
    /// - Returns: each batch's header and its byte range in `bytes`.
    /// - Throws: as `parseHeader`, for the first batch that fails; a partial batch at the end
    ///   is `.truncated` (a producer never sends one).
    public static func split(
        _ bytes: [UInt8]
    ) throws(KafkaDecodeError) -> [(header: KafkaBatchHeader, range: Range<Int>)] {
        var result: [(header: KafkaBatchHeader, range: Range<Int>)] = []
        var position = 0
        while position < bytes.count {
            let header = try parseHeader(bytes, at: position)
            result.append((header, position ..< (position + header.totalBytes)))
            position += header.totalBytes
        }
        return result
    }

    /// Rewrites one Kafka v2 batch (the whole of `bytes`) as a Strata batch whose first record
    /// gets `baseOffset`. The records are checked against every rule of Strata's record decoder
    /// first (without decoding them), so nothing that Strata's reader would reject is stored.
    /// A compressed batch is refused: callers run `decompressed` first (the engine stores batches
    /// uncompressed, formats/kafka.md "Compression"), so the bound on decompression is theirs.
    /// - Throws: the `parseHeader` errors; `.unsupportedFeature` for a compressed, transactional
    ///   or control batch, or one with a delete horizon; `.invalidValue` for log-append-time
    ///   timestamps, no records, offset deltas that are not dense; `.trailingBytes` for bytes
    ///   after the batch; `.outOfBounds` for a `baseOffset` below 0 or one whose last offset
    ///   overflows, or a batch over Strata's size limit; `.corruptRecords` naming the record
    ///   field and its byte in the Kafka batch when a record is malformed.
    /// - Parameter crcChecked: true when the caller checked the Kafka CRC of `bytes` (or computed
    ///   it): it is not checked again, and the Strata CRC is derived from it (`recordsCRC`)
    ///   instead of computed over the records.
    public static func toStrata(
        _ bytes: [UInt8], baseOffset: Int64, crcChecked: Bool = false
    ) throws(KafkaDecodeError) -> [UInt8] {
        let header = try parseHeader(bytes, checksCRC: !crcChecked)
        try checkConvertible(header, totalBytes: bytes.count)
        let strataBytes = BatchHeader.size + bytes.count - KafkaBatchHeader.size
        guard baseOffset >= 0, baseOffset <= Int64.max - Int64(header.recordCount),
            strataBytes <= FormatLimits.batchBytesMax
        else {
            throw KafkaDecodeError(
                .outOfBounds, field: "RecordBatch.baseOffset", position: 0,
                "base offset \(baseOffset) for \(header.recordCount) records "
                    + "in \(strataBytes) bytes")
        }
        // withUnsafeBytes rethrows untyped errors: carry the typed one out in a Result.
        let scanned: Result<Void, KafkaDecodeError> = bytes.withUnsafeBytes { raw in
            do throws(KafkaDecodeError) {
                try KafkaRecordScan.check(
                    UnsafeRawBufferPointer(rebasing: raw[KafkaBatchHeader.size...]),
                    basePosition: KafkaBatchHeader.size,
                    count: header.recordCount, baseTimestamp: header.baseTimestamp, maxTimestamp: header.maxTimestamp)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try scanned.get()
        var w = ByteWriter(capacity: strataBytes)
        w.u32(BatchHeader.magic)
        w.u32(UInt32(strataBytes))
        w.u32(0)  // crc, patched below
        w.u8(BatchHeader.currentVersion)
        w.u8(0)
        w.u16(0)
        w.i64(baseOffset)
        w.i32(header.lastOffsetDelta)
        w.i32(header.recordCount)
        w.i64(header.baseTimestamp)
        w.i64(header.maxTimestamp)
        w.i64(header.producerId)
        w.i16(header.producerEpoch)
        w.i32(header.baseSequence)
        w.u16(0)
        w.raw(bytes[KafkaBatchHeader.size...])
        var strata = w.bytes
        let crc: UInt32
        if crcChecked {
            let headerCRC = CRC32C.checksum(strata[BatchHeader.crcCoverageStart ..< BatchHeader.size])
            crc = Self.crc(headerCRC: headerCRC, recordsOf: bytes, header: header)
        } else {
            crc = CRC32C.checksum(strata[BatchHeader.crcCoverageStart...])
        }
        withUnsafeBytes(of: crc.littleEndian) { for index in 0 ..< 4 { strata[8 + index] = $0[index] } }
        return strata
    }

    private static func checkConvertible(_ header: KafkaBatchHeader, totalBytes: Int) throws(KafkaDecodeError) {
        func fail(_ code: KafkaDecodeError.Code, _ field: String, _ at: Int, _ message: String) -> KafkaDecodeError {
            KafkaDecodeError(code, field: "RecordBatch." + field, position: at, message)
        }
        guard header.totalBytes == totalBytes else {
            throw fail(.trailingBytes, "batchLength", 8, "\(totalBytes - header.totalBytes) bytes after the batch")
        }
        guard let compression = header.compression, compression == .none else {
            throw fail(
                .unsupportedFeature, "attributes", 21,
                "compression codec \(header.attributes & 0x7) (attributes 0x\(String(header.attributes, radix: 16))): "
                    + "decompress the batch with KafkaBatch.decompressed first")
        }
        guard !header.isTransactional, !header.isControl else {
            throw fail(.unsupportedFeature, "attributes", 21, "transactional and control batches are not supported")
        }
        guard !header.hasDeleteHorizon else {
            throw fail(.unsupportedFeature, "attributes", 21, "a delete horizon is set only by compaction")
        }
        guard !header.isLogAppendTime else {
            throw fail(.invalidValue, "attributes", 21, "log-append-time timestamps are set by brokers, not producers")
        }
        guard header.recordCount >= 1 else {
            throw fail(.invalidValue, "recordCount", 57, "a produced batch holds at least one record")
        }
        guard header.lastOffsetDelta == header.recordCount - 1 else {
            throw fail(
                .invalidValue, "lastOffsetDelta", 23,
                "\(header.lastOffsetDelta) with \(header.recordCount) records: offsets must be dense")
        }
    }

    /// Rewrites a Strata batch (the whole of `bytes`) as a Kafka v2 batch: the header is
    /// Kafka's, the records are copied verbatim, and the CRC-32C is recomputed.
    /// - Parameter partitionLeaderEpoch: the epoch to stamp (Strata has one leader: 0).
    /// - Throws: `.corruptRecords` (with the `FormatError` as `cause`) when the Strata batch's
    ///   header or CRC does not check; `.trailingBytes` when `bytes` holds more than one batch.
    public static func fromStrata(
        _ bytes: [UInt8], partitionLeaderEpoch: Int32 = 0
    ) throws(KafkaDecodeError) -> [UInt8] {
        let header: BatchHeader
        do throws(FormatError) {
            header = try withBytes(bytes) { (raw) throws(FormatError) in try BatchCodec.verify(raw) }
        } catch {
            throw KafkaDecodeError(
                .corruptRecords, field: "StrataBatch", position: error.position, "\(error)",
                cause: error)
        }
        return try fromStrata(checked: bytes, header: header, partitionLeaderEpoch: partitionLeaderEpoch)
    }

    /// `fromStrata` of a batch whose header and CRC the caller checked already (`header` is
    /// what `BatchCodec.verify` returned for `bytes`): the engine's whole-batch reads check each
    /// CRC once, so the Fetch path does not compute it a second time, and the Kafka batch's CRC
    /// is derived from it (`appendFromStrata`) rather than computed over the records again.
    /// - Throws: `.trailingBytes` when `bytes` is not exactly `header.batchLength` long.
    public static func fromStrata(
        checked bytes: [UInt8], header: BatchHeader, partitionLeaderEpoch: Int32 = 0
    ) throws(KafkaDecodeError) -> [UInt8] {
        var w = KafkaWriter(capacity: KafkaBatchHeader.size + bytes.count - BatchHeader.size)
        try appendFromStrata(checked: bytes, header: header, partitionLeaderEpoch: partitionLeaderEpoch, to: &w)
        return w.bytes
    }

    /// `fromStrata(checked:header:)` written at the end of `w`: a Fetch answer's batches go one
    /// after another into one array, each written once (no array per batch copied in again).
    /// - Throws: `.trailingBytes` when `bytes` is not exactly `header.batchLength` long (`w`
    ///   is then unchanged).
    public static func appendFromStrata(
        checked bytes: [UInt8], header: BatchHeader, partitionLeaderEpoch: Int32 = 0, to w: inout KafkaWriter
    ) throws(KafkaDecodeError) {
        guard header.batchLength == bytes.count else {
            throw KafkaDecodeError(
                .trailingBytes, field: "StrataBatch", position: header.batchLength,
                "\(bytes.count - header.batchLength) bytes after the batch")
        }
        let recordsBytes = header.batchLength - BatchHeader.size
        let start = w.count
        w.int64(header.baseOffset)
        w.int32(Int32(KafkaBatchHeader.size - KafkaBatchHeader.lengthFieldEnd + recordsBytes))
        w.int32(partitionLeaderEpoch)
        w.int8(2)
        w.uint32(0)  // crc, patched below
        w.int16(0)  // create time, uncompressed, not transactional
        w.int32(header.recordCount - 1)
        w.int64(header.firstTimestamp)
        w.int64(header.maxTimestamp)
        w.int64(header.producerId)
        w.int16(header.producerEpoch)
        w.int32(header.baseSequence)
        w.int32(header.recordCount)
        w.raw(bytes[BatchHeader.size...])
        // The records' CRC from the batch's stored one, without reading them again: a Strata
        // batch's CRC covers its header bytes 12..<64 and then the records, a Kafka batch's its
        // header bytes 21..<61 and then the same records. Derived, not computed afresh, so a
        // record damaged since its CRC was taken (and not checked on this read) still fails the
        // client's check instead of being resealed.
        let strataHeaderCRC = bytes.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[BatchHeader.crcCoverageStart ..< BatchHeader.size]))
        }
        let recordsCRC = CRC32C.suffix(ofWhole: header.crc, prefix: strataHeaderCRC, lengthB: recordsBytes)
        let kafkaHeaderCRC = w.bytes.withUnsafeBytes { raw in
            CRC32C.checksum(
                UnsafeRawBufferPointer(
                    rebasing: raw[(start + KafkaBatchHeader.crcCoverageStart) ..< (start + KafkaBatchHeader.size)]))
        }
        w.patchUInt32(
            CRC32C.combine(kafkaHeaderCRC, recordsCRC, lengthB: recordsBytes), at: start + KafkaBatchHeader.crcPosition)
    }
}
