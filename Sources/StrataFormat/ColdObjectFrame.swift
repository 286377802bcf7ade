extension ColdObject {
    /// Decompresses one data frame fetched with a ranged GET of `frame.objectRange` and checks
    /// it completely: one whole zstd frame with a content checksum equal to the seek table's,
    /// the raw size, and batches (CRC32C each) that start at `frame.firstOffset`, end at
    /// `frame.lastOffset` and match the frame's batch count and max timestamp.
    /// - Parameters:
    ///   - bytes: exactly the frame's compressed bytes.
    ///   - frame: the frame's entry from `ColdObjectIndex.frames`.
    /// - Returns: the raw segment bytes `frame.rawOffset ..< frame.rawOffset + frame.rawBytes`
    ///   (frame 0 starts with the 32-byte segment header).
    /// - Throws: `FormatError`. Compression-level problems (`coldFrame.*`, `zstd.frame`) carry
    ///   positions in the object; problems in the content (`segment.*`, `batch.*`, `record.*`)
    ///   carry positions in the raw segment. Messages start with the frame number.
    ///   - keys: opens the frames of an encrypted object (`frame.sealed`): `.missingKey` names the
    ///     key id when it lacks it, `.authenticationFailed` a changed frame.
    public static func decodeFrame(
        _ bytes: UnsafeRawBufferPointer, frame: ColdFrame, keys: ColdKeyRing? = nil
    ) throws(FormatError) -> [UInt8] {
        do throws(FormatError) {
            return try withZstdFrame(bytes, frame: frame, keys: keys) { (bytes, frame) throws(FormatError) in
                try checkCompressedFrame(bytes, frame: frame)
                let raw = try Zstd.decompressFrame(bytes, rawSize: frame.rawBytes, basePosition: frame.objectOffset)
                _ = try withBytes(raw) { (buffer) throws(FormatError) in try checkFrameContent(buffer, frame: frame) }
                return raw
            }
        } catch {
            var labelled = error
            labelled.message = "frame \(frame.frameNumber): " + error.message
            throw labelled
        }
    }

    /// `decodeFrame` for readers that keep the frame: decompressed into a buffer of `pool`, every
    /// byte checked once (the zstd content checksum, then each batch's CRC32C in the content
    /// check), and each batch's records checked too, so the batches need no check when they are
    /// read from the frame cache (no second CRC, no error path in `RecordBatchView`).
    /// - Returns: the frame; a batch whose CRC checks but whose records break a rule ends its
    ///   `batches` and is its `damage` (the batches before it stay readable, as `decode` of
    ///   them one by one allows).
    /// - Throws: what `decodeFrame` throws, labelled the same way.
    public static func decodeCheckedFrame(
        _ bytes: UnsafeRawBufferPointer, frame: ColdFrame, pool: BytePool, keys: ColdKeyRing? = nil
    ) throws(FormatError) -> CheckedFrame {
        do throws(FormatError) {
            return try withZstdFrame(bytes, frame: frame, keys: keys) { (bytes, frame) throws(FormatError) in
                try decodeCheckedZstdFrame(bytes, frame: frame, pool: pool)
            }
        } catch {
            var labelled = error
            labelled.message = "frame \(frame.frameNumber): " + error.message
            throw labelled
        }
    }

    static func decodeCheckedZstdFrame(
        _ bytes: UnsafeRawBufferPointer, frame: ColdFrame, pool: BytePool
    ) throws(FormatError) -> CheckedFrame {
        try checkCompressedFrame(bytes, frame: frame)
        let raw = try pool.make(count: frame.rawBytes) { (out) throws(FormatError) in
            try Zstd.decompressFrame(bytes, into: out, basePosition: frame.objectOffset)
        }
        return try raw.withUnsafeBytes { (buffer) throws(FormatError) in
            let scanned = try checkFrameContent(buffer, frame: frame)
            var checked: [ScannedBatch] = []
            checked.reserveCapacity(scanned.count)
            for batch in scanned {
                do throws(FormatError) {
                    try BatchCodec.checkRecords(
                        buffer, at: batch.position - frame.rawOffset, header: batch.header,
                        basePosition: frame.rawOffset)
                } catch {
                    return CheckedFrame(bytes: raw, rawOffset: frame.rawOffset, batches: checked, damage: error)
                }
                checked.append(batch)
            }
            return CheckedFrame(bytes: raw, rawOffset: frame.rawOffset, batches: checked, damage: nil)
        }
    }

    /// Convenience over `[UInt8]`.
    public static func decodeFrame(
        _ bytes: [UInt8], frame: ColdFrame, keys: ColdKeyRing? = nil
    ) throws(FormatError) -> [UInt8] {
        try withBytes(bytes) { (raw) throws(FormatError) in try decodeFrame(raw, frame: frame, keys: keys) }
    }

    /// Decodes and checks a whole object held in memory: footer, every frame, and the raw size
    /// and CRC32C of the segment they rebuild (what the offloader verifies after an upload).
    /// - Returns: the index and the segment file bytes.
    public static func decodeSegment(
        _ object: [UInt8], keys: ColdKeyRing? = nil
    ) throws(FormatError) -> (index: ColdObjectIndex, segment: [UInt8]) {
        let index = try ColdObjectFooter.parse(object: object)
        var segment: [UInt8] = []
        segment.reserveCapacity(index.rawBytes)
        try withBytes(object) { (raw) throws(FormatError) in
            for frame in index.frames {
                segment.append(
                    contentsOf: try decodeFrame(
                        UnsafeRawBufferPointer(rebasing: raw[frame.objectRange]), frame: frame, keys: keys))
            }
        }
        try checkSegment(segment, index: index)
        return (index, segment)
    }

    /// Checks a segment rebuilt from an object's frames against the object's index: its size
    /// and CRC32C must be the index's `rawBytes` and `rawCrc32c`.
    /// - Throws: `FormatError` (`.truncated` for a size that differs, `.checksumMismatch` for a
    ///   CRC that differs), positioned at the index field in the object.
    public static func checkSegment(_ segment: [UInt8], index: ColdObjectIndex) throws(FormatError) {
        // Field positions: the index frame's 8-byte skippable header, then formats/cold-object.md.
        guard segment.count == index.rawBytes else {
            throw FormatError(
                .truncated, field: "coldIndex.rawBytes", position: index.indexFrameOffset + 8 + 48,
                "frames rebuild \(segment.count) bytes, index says \(index.rawBytes)")
        }
        let crc = CRC32C.checksum(segment)
        guard crc == index.rawCrc32c else {
            throw FormatError(
                .checksumMismatch, field: "coldIndex.rawCrc32c", position: index.indexFrameOffset + 8 + 56,
                "segment CRC32C 0x\(hex(crc)), index says 0x\(hex(index.rawCrc32c))")
        }
    }

    static func checkCompressedFrame(_ bytes: UnsafeRawBufferPointer, frame: ColdFrame) throws(FormatError) {
        guard bytes.count == frame.compressedBytes else {
            throw FormatError(
                .truncated, field: "coldFrame", position: frame.objectOffset,
                "\(bytes.count) bytes given, the frame has \(frame.compressedBytes)")
        }
        var r = ByteReader(bytes, basePosition: frame.objectOffset)
        let magic = try r.u32("coldFrame.magic")
        guard magic == zstdFrameMagic else {
            throw r.error(.badMagic, "coldFrame.magic", at: 0, "0x\(hex(magic)) is not a zstd frame")
        }
        // Frame header descriptor bit 2: the content checksum the seek table repeats must be there.
        guard try r.u8("coldFrame.descriptor") & 0x04 != 0, bytes.count >= 9 else {
            throw r.error(.invalidValue, "coldFrame.descriptor", at: 4, "frame has no content checksum")
        }
        guard Zstd.frameCompressedSize(bytes) == bytes.count else {
            throw r.error(.invalidValue, "coldFrame", at: 0, "not exactly one whole zstd frame")
        }
        let stored = bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self).littleEndian
        guard stored == frame.checksum else {
            throw r.error(
                .checksumMismatch, "coldFrame.checksum", at: bytes.count - 4,
                "frame ends with 0x\(hex(stored)), seek table says 0x\(hex(frame.checksum))")
        }
    }

    /// Walks the batches of a decompressed frame, checking each one's CRC; positions are raw
    /// segment positions. Returns the batches.
    @discardableResult
    static func checkFrameContent(
        _ buffer: UnsafeRawBufferPointer, frame: ColdFrame
    ) throws(FormatError)
        -> [ScannedBatch]
    {
        var start = 0
        if frame.rawOffset == 0 {
            let header = try SegmentHeader.decode(buffer)
            guard header.baseOffset == frame.firstOffset else {
                throw FormatError(
                    .invalidValue, field: "segment.baseOffset", position: 8,
                    "segment starts at \(header.baseOffset), index says \(frame.firstOffset)")
            }
            start = SegmentHeader.size
        }
        let scan = SegmentScanner.scan(
            buffer, from: start, expectedOffset: frame.firstOffset, basePosition: frame.rawOffset)
        if let error = scan.stopError { throw error }
        let maxTimestamp = scan.batches.map(\.header.maxTimestamp).max()
        guard scan.batches.count == frame.batchCount, scan.nextOffset == frame.lastOffset &+ 1,
            maxTimestamp == frame.maxTimestamp
        else {
            throw FormatError(
                .invalidValue, field: "coldIndex.frame", position: frame.rawOffset,
                "\(scan.batches.count) batches ending at \(scan.nextOffset - 1), max timestamp \(maxTimestamp ?? 0); "
                    + "index says \(frame.batchCount) ending at \(frame.lastOffset), max \(frame.maxTimestamp)")
        }
        return scan.batches
    }
}

/// A decoded cold frame whose bytes were checked once (`ColdObject.decodeCheckedFrame`): what
/// the frame cache holds. Its batches are read from here without another check.
public struct CheckedFrame: Sendable {
    /// The frame's raw segment bytes (`ColdFrame.rawBytes` of them).
    public let bytes: PooledBytes
    /// Where the frame starts in the raw segment.
    public let rawOffset: Int
    /// The frame's batches whose CRC and records checked, in order; positions are raw segment
    /// positions.
    public let batches: [ScannedBatch]
    /// Why the batch after the last of `batches` cannot be read (its records break a rule, with
    /// a raw segment position); nil when `batches` are all of the frame's.
    public let damage: FormatError?

    /// A view of batch `index` (of `batches`), yielding the records in `offsets` (all by default).
    public func view(_ index: Int, offsets: Range<Int64>? = nil) -> RecordBatchView {
        let batch = batches[index]
        return RecordBatchView(checkedIn: bytes, at: batch.position - rawOffset, header: batch.header, offsets: offsets)
    }
}
