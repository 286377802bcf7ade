/// The fixed 64-byte header of a record batch (formats/batch.md).
public struct BatchHeader: Sendable, Hashable {
    /// `"STRB"` read as a little-endian u32.
    public static let magic: UInt32 = 0x4252_5453
    public static let currentVersion: UInt8 = 1
    public static let size = 64
    /// The CRC covers every byte after the CRC field, base offset included.
    public static let crcCoverageStart = 12

    /// Total bytes of the batch, this header included.
    public var batchLength: Int
    public var crc: UInt32
    public var version: UInt8
    public var attributes: UInt16
    public var baseOffset: Int64
    public var recordCount: Int32
    public var firstTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32

    public var lastOffset: Int64 { baseOffset + Int64(recordCount) - 1 }
    public var nextOffset: Int64 { baseOffset + Int64(recordCount) }
}

/// A decoded batch: its header and its records.
public struct RecordBatch: Sendable, Hashable {
    public var header: BatchHeader
    public var records: [Record]
}

/// Encodes, checks and decodes record batches. Pure functions over bytes.
public enum BatchCodec {
    /// Encodes `records` as one batch whose first record gets `baseOffset`; record `i` gets
    /// `baseOffset + i` whatever its `offset` field says. `records` must not be empty.
    public static func encode(
        baseOffset: Int64, records: [Record], producerId: Int64 = -1, producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1
    ) -> [UInt8] {
        precondition(!records.isEmpty, "a batch holds at least one record")
        let firstTimestamp = records[0].timestamp
        var maxTimestamp = firstTimestamp
        var payloadEstimate = BatchHeader.size
        for record in records {
            maxTimestamp = max(maxTimestamp, record.timestamp)
            payloadEstimate += 24 + (record.key?.count ?? 0) + (record.value?.count ?? 0)
        }
        var w = ByteWriter(capacity: payloadEstimate)
        w.u32(BatchHeader.magic)
        w.u32(0)  // batchLength, patched below
        w.u32(0)  // crc, patched below
        w.u8(BatchHeader.currentVersion)
        w.u8(0)
        w.u16(0)
        w.i64(baseOffset)
        w.i32(Int32(records.count - 1))
        w.i32(Int32(records.count))
        w.i64(firstTimestamp)
        w.i64(maxTimestamp)
        w.i64(producerId)
        w.i16(producerEpoch)
        w.i32(baseSequence)
        w.u16(0)
        for (index, record) in records.enumerated() {
            RecordCodec.encode(
                record, timestampDelta: record.timestamp &- firstTimestamp,
                offsetDelta: Int32(index), into: &w)
        }
        w.patchU32(UInt32(w.count), at: 4)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[12...])) }
        w.patchU32(crc, at: 8)
        return w.bytes
    }

    /// The total length the batch at `position` declares (its `batchLength` field), read without
    /// checking anything else: enough to know how many bytes to read before `verify` or `decode`,
    /// which check the rest.
    /// - Returns: nil when fewer than the 8 bytes of magic and length are present at `position`.
    public static func declaredLength(_ buffer: UnsafeRawBufferPointer, at position: Int = 0) -> Int? {
        guard position >= 0, buffer.count - position >= 8 else { return nil }
        return Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)))
    }

    /// Reads and checks the header at `position` of `buffer` without touching the records or
    /// the CRC. Positions in errors are `basePosition + position-in-buffer`.
    /// - Throws: `FormatError` for truncation, bad magic/version, impossible lengths or counts.
    public static func parseHeader(
        _ buffer: UnsafeRawBufferPointer, at position: Int = 0, basePosition: Int = 0
    ) throws(FormatError) -> BatchHeader {
        var r = ByteReader(buffer, position: position, basePosition: basePosition)
        let start = r.position
        let magic = try r.u32("batch.magic")
        guard magic == BatchHeader.magic else {
            throw r.error(.badMagic, "batch.magic", at: start, "0x\(String(magic, radix: 16)) is not a batch")
        }
        let length = Int(try r.u32("batch.batchLength"))
        let minLength = BatchHeader.size + FormatLimits.recordBytesMin
        guard length >= minLength, length <= FormatLimits.batchBytesMax else {
            throw r.error(
                .outOfBounds, "batch.batchLength", at: start + 4,
                "\(length) outside [\(minLength), \(FormatLimits.batchBytesMax)]")
        }
        let crc = try r.u32("batch.crc")
        let version = try r.u8("batch.version")
        guard version == BatchHeader.currentVersion else {
            throw r.error(
                .unsupportedVersion, "batch.version", at: start + 12, "version \(version), this reader knows 1")
        }
        guard try r.u8("batch.reserved") == 0 else {
            throw r.error(.invalidValue, "batch.reserved", at: start + 13, "reserved byte must be 0")
        }
        let attributes = try r.u16("batch.attributes")
        guard attributes == 0 else {
            throw r.error(
                .invalidValue, "batch.attributes", at: start + 14,
                "unknown attributes 0x\(String(attributes, radix: 16))")
        }
        return try parseHeaderTail(&r, start: start, length: length, crc: crc, version: version, attributes: attributes)
    }

    private static func parseHeaderTail(
        _ r: inout ByteReader, start: Int, length: Int, crc: UInt32, version: UInt8, attributes: UInt16
    ) throws(FormatError) -> BatchHeader {
        let baseOffset = try r.i64("batch.baseOffset")
        guard baseOffset >= 0 else {
            throw r.error(.outOfBounds, "batch.baseOffset", at: start + 16, "negative base offset \(baseOffset)")
        }
        let lastOffsetDelta = try r.i32("batch.lastOffsetDelta")
        let count = try r.i32("batch.recordCount")
        let maxCount = (length - BatchHeader.size) / FormatLimits.recordBytesMin
        guard count >= 1, Int(count) <= maxCount else {
            throw r.error(.outOfBounds, "batch.recordCount", at: start + 28, "\(count) outside [1, \(maxCount)]")
        }
        guard lastOffsetDelta == count - 1 else {
            throw r.error(
                .invalidValue, "batch.lastOffsetDelta", at: start + 24, "\(lastOffsetDelta) != recordCount - 1")
        }
        guard baseOffset <= Int64.max - Int64(count) else {
            throw r.error(.outOfBounds, "batch.baseOffset", at: start + 16, "last offset overflows")
        }
        let firstTimestamp = try r.i64("batch.firstTimestamp")
        let maxTimestamp = try r.i64("batch.maxTimestamp")
        guard maxTimestamp >= firstTimestamp else {
            throw r.error(.invalidValue, "batch.maxTimestamp", at: start + 40, "max timestamp before first timestamp")
        }
        let producerId = try r.i64("batch.producerId")
        let producerEpoch = try r.i16("batch.producerEpoch")
        let baseSequence = try r.i32("batch.baseSequence")
        guard try r.u16("batch.reserved2") == 0 else {
            throw r.error(.invalidValue, "batch.reserved2", at: start + 62, "reserved bytes must be 0")
        }
        return BatchHeader(
            batchLength: length, crc: crc, version: version, attributes: attributes, baseOffset: baseOffset,
            recordCount: count, firstTimestamp: firstTimestamp, maxTimestamp: maxTimestamp,
            producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence)
    }

    /// Parses the header at `position` and checks the CRC over the whole batch.
    /// - Throws: `FormatError` (`.truncated` when the batch runs past the buffer,
    ///   `.checksumMismatch` when the CRC does not match).
    public static func verify(
        _ buffer: UnsafeRawBufferPointer, at position: Int = 0, basePosition: Int = 0
    ) throws(FormatError) -> BatchHeader {
        let header = try parseHeader(buffer, at: position, basePosition: basePosition)
        guard header.batchLength <= buffer.count - position else {
            throw FormatError(
                .truncated, field: "batch", position: basePosition + position,
                "batch of \(header.batchLength) bytes, \(buffer.count - position) present")
        }
        let covered = UnsafeRawBufferPointer(
            rebasing: buffer[(position + BatchHeader.crcCoverageStart) ..< (position + header.batchLength)])
        let actual = CRC32C.checksum(covered)
        guard actual == header.crc else {
            throw FormatError(
                .checksumMismatch, field: "batch.crc", position: basePosition + position + 8,
                "stored 0x\(hex(header.crc)), computed 0x\(hex(actual))")
        }
        return header
    }

    /// Fully decodes and checks the batch at `position`: header, CRC, every record.
    public static func decode(
        _ buffer: UnsafeRawBufferPointer, at position: Int = 0, basePosition: Int = 0
    ) throws(FormatError) -> RecordBatch {
        let header = try verify(buffer, at: position, basePosition: basePosition)
        return try decodeRecords(buffer, at: position, header: header, basePosition: basePosition)
    }

    /// Decodes the records of the batch at `position` whose header and CRC were checked already
    /// (`verify`, or the content check of a cold frame): every record rule, no second CRC.
    /// - Throws: `FormatError` naming the record field.
    public static func decodeRecords(
        _ buffer: UnsafeRawBufferPointer, at position: Int, header: BatchHeader, basePosition: Int = 0
    ) throws(FormatError) -> RecordBatch {
        var records: [Record] = []
        records.reserveCapacity(Int(header.recordCount))
        try walkRecords(buffer, at: position, header: header, basePosition: basePosition) { (index, fields, batch) in
            records.append(
                Record(
                    offset: header.baseOffset + Int64(index), timestamp: fields.timestamp,
                    key: fields.key.map { [UInt8](UnsafeRawBufferPointer(rebasing: batch[$0])) },
                    value: fields.value.map { [UInt8](UnsafeRawBufferPointer(rebasing: batch[$0])) },
                    headers: fields.headerCount == 0
                        ? []
                        : RecordHeaderViews(
                            UnsafeRawBufferPointer(rebasing: batch[fields.headers]), count: fields.headerCount
                        ).map(\.header)))
        }
        return RecordBatch(header: header, records: records)
    }

    /// Checks the records of the batch at `position` whose header and CRC were checked already,
    /// against every rule `decode` enforces, copying nothing (what a `RecordBatchView` needs).
    /// - Throws: `FormatError` naming the record field, as `decode` does.
    public static func checkRecords(
        _ buffer: UnsafeRawBufferPointer, at position: Int, header: BatchHeader, basePosition: Int = 0
    ) throws(FormatError) {
        try walkRecords(buffer, at: position, header: header, basePosition: basePosition) { _, _, _ in }
    }

    /// Parses every record of a checked batch in order, handing each one's fields (positions in
    /// `buffer`) to `each`, then checks the batch ends with the last record and its timestamps.
    private static func walkRecords(
        _ buffer: UnsafeRawBufferPointer, at position: Int, header: BatchHeader, basePosition: Int,
        _ each: (Int32, RecordCodec.Fields, UnsafeRawBufferPointer) -> Void
    ) throws(FormatError) {
        let end = position + header.batchLength
        let batch = UnsafeRawBufferPointer(rebasing: buffer[..<end])
        var r = ByteReader(batch, position: position + BatchHeader.size, basePosition: basePosition)
        var maxSeen = Int64.min
        var firstSeen = header.firstTimestamp
        for index in 0 ..< header.recordCount {
            let fields = try RecordCodec.parse(&r, index: index, firstTimestamp: header.firstTimestamp)
            maxSeen = max(maxSeen, fields.timestamp)
            if index == 0 { firstSeen = fields.timestamp }
            each(index, fields, batch)
        }
        guard r.position == end else {
            throw r.error(
                .invalidValue, "batch.batchLength", at: position + 4,
                "\(end - r.position) bytes follow the last record")
        }
        guard maxSeen == header.maxTimestamp, firstSeen == header.firstTimestamp else {
            throw r.error(
                .invalidValue, "batch.maxTimestamp", at: position + 40,
                "header timestamps disagree with the records")
        }
    }

    /// Convenience over `[UInt8]`.
    public static func decode(_ bytes: [UInt8], basePosition: Int = 0) throws(FormatError) -> RecordBatch {
        try withBytes(bytes) { (raw) throws(FormatError) in try decode(raw, at: 0, basePosition: basePosition) }
    }
}
