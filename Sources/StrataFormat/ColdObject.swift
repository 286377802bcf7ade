/// The cold object: a sealed segment as independent zstd frames cut at batch boundaries, then a
/// skippable frame holding Strata's frame index, then the standard zstd seek table
/// (formats/cold-object.md). `zstd -d` on the object yields the segment byte for byte.
public enum ColdObject {
    /// Default raw bytes per frame (ARCHITECTURE.md §5).
    public static let defaultFrameRawBytesTarget = 1 << 20
    /// Default zstd level (ARCHITECTURE.md §5).
    public static let defaultCompressionLevel: Int32 = 3
    /// Suffix size a reader should fetch first: the whole footer of a segment with up to ~1,200
    /// frames fits. When it does not, `ColdObjectFooter.tailBytesNeeded` says how much does.
    public static let defaultTailReadBytes = 64 * 1024

    /// Magic of the skippable frame carrying Strata's index (skippable range 0x184D2A50...5F;
    /// 0x5E is the seek table's, so Strata uses 0x5B).
    public static let indexFrameMagic: UInt32 = 0x184D_2A5B
    /// Magic of the seek table's skippable frame (zstd seekable format).
    public static let seekTableFrameMagic: UInt32 = 0x184D_2A5E
    /// Last four bytes of every cold object (zstd seekable format).
    public static let seekableMagic: UInt32 = 0x8F92_EAB1
    /// Seek table descriptor: bit 7 = checksum flag, always set by Strata.
    public static let seekTableDescriptor: UInt8 = 0x80
    /// Magic of the index content, `"SCIX"` read as a little-endian u32.
    public static let indexMagic: UInt32 = 0x5849_4353
    public static let indexVersion: UInt16 = 1
    /// Index version of an encrypted object: version 1 plus the cipher and key id after the topic.
    public static let encryptedIndexVersion: UInt16 = 2
    /// Flags bit 0 of an encrypted object's index: its data frames are sealed.
    public static let encryptedIndexFlag: UInt16 = 1
    /// zstd frame magic (RFC 8878).
    public static let zstdFrameMagic: UInt32 = 0xFD2F_B528
    /// Seek table checksum of the (empty) content of a skippable frame: low 32 bits of XXH64("").
    public static let emptyContentChecksum: UInt32 = 0x51D8_E999

    static let skippableHeaderBytes = 8
    static let seekFooterBytes = 9
    static let seekEntryBytes = 12
    /// Fixed part of the index content, before the topic name.
    static let indexFixedBytes = 74
    static let indexFrameEntryBytes = 40

    /// Compresses a sealed segment file into a cold object.
    /// - Parameters:
    ///   - segment: the whole segment file (header and batches); every batch must check.
    ///   - topic: the segment's log name (`LogName`: topic, or topic/partition), recorded in the index.
    ///   - frameRawBytesTarget: frames are closed before they would exceed this many raw bytes;
    ///     a frame always holds at least one batch (the first also holds the 32-byte header).
    ///   - level: zstd compression level.
    /// - Returns: the object bytes and the index its footer describes.
    /// - Throws: `FormatError` when the topic name, the target or the segment is invalid.
    ///   - sealer: seals every frame (an encrypted object, "Encrypted objects"); nil: plain.
    public static func encode(
        segment: [UInt8], topic: String, frameRawBytesTarget: Int = defaultFrameRawBytesTarget,
        level: Int32 = defaultCompressionLevel, sealer: ColdSealer? = nil
    ) throws(FormatError) -> EncodedColdObject {
        try withBytes(segment) { (raw) throws(FormatError) -> EncodedColdObject in
            let plan = try plan(segment: raw, topic: topic, frameRawBytesTarget: frameRawBytesTarget, level: level)
            let compressor = try Zstd.Compressor(level: level)
            var compressed: [[UInt8]] = []
            compressed.reserveCapacity(plan.frameCount)
            for number in 0 ..< plan.frameCount {
                let input = UnsafeRawBufferPointer(rebasing: raw[plan.rawRange(ofFrame: number)])
                let frame = try compressor.compressFrame(input)
                compressed.append(try sealer.map { (s) throws(FormatError) in try plan.sealFrame(frame, number: number, with: s) } ?? frame)
            }
            return try assemble(plan, compressed: compressed, rawCrc32c: CRC32C.checksum(raw), sealedWith: sealer)
        }
    }

    /// Raw bytes and batches of one frame to be.
    struct FramePlan: Sendable {
        var rawRange: Range<Int>
        var batches: ArraySlice<ScannedBatch>

        /// The frame's entry; a sealed frame's checksum is 0 (its bytes end with the GCM tag, and
        /// the content checksum stays inside the ciphertext rather than describe the plaintext).
        func frame(number: Int, objectOffset: Int, compressed: [UInt8], sealed: ColdFrameSeal? = nil) -> ColdFrame {
            let checksum =
                sealed != nil ? 0 : compressed.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return ColdFrame(
                frameNumber: number, objectOffset: objectOffset, compressedBytes: compressed.count,
                rawOffset: rawRange.lowerBound, rawBytes: rawRange.count,
                firstOffset: batches.first?.header.baseOffset ?? 0, lastOffset: batches.last?.header.lastOffset ?? 0,
                maxTimestamp: batches.map(\.header.maxTimestamp).max() ?? 0, batchCount: batches.count,
                checksum: checksum, sealed: sealed)
        }
    }

    /// Cuts at batch boundaries: a frame takes the next batch while it stays within `target`
    /// raw bytes, and always takes at least one. The first frame starts at byte 0 (header).
    static func planFrames(_ batches: [ScannedBatch], segmentBytes: Int, target: Int) -> [FramePlan] {
        var plans: [FramePlan] = []
        var frameStart = 0
        var firstBatch = 0
        for (i, batch) in batches.enumerated() where i > firstBatch {
            let end = batch.position + batch.header.batchLength
            if end - frameStart > target {
                plans.append(FramePlan(rawRange: frameStart ..< batch.position, batches: batches[firstBatch ..< i]))
                frameStart = batch.position
                firstBatch = i
            }
        }
        plans.append(FramePlan(rawRange: frameStart ..< segmentBytes, batches: batches[firstBatch...]))
        return plans
    }

    static func encodeIndexFrame(_ index: ColdObjectIndex) -> [UInt8] {
        let topicBytes = Array(index.topic.utf8)
        let keyIdBytes = index.encryption.map { Array($0.keyId.utf8) }
        let extensionBytes = keyIdBytes.map { 2 + $0.count } ?? 0
        let contentBytes =
            indexFixedBytes + topicBytes.count + extensionBytes + index.frames.count * indexFrameEntryBytes + 4
        var w = ByteWriter(capacity: skippableHeaderBytes + contentBytes)
        w.u32(indexFrameMagic)
        w.u32(UInt32(contentBytes))
        w.u32(indexMagic)
        w.u16(index.encryption == nil ? indexVersion : encryptedIndexVersion)
        w.u16(index.encryption == nil ? 0 : encryptedIndexFlag)
        w.i64(index.baseOffset)
        w.i64(index.lastOffset)
        w.i64(index.recordCount)
        w.i64(index.firstTimestamp)
        w.i64(index.maxTimestamp)
        w.u64(UInt64(index.rawBytes))
        w.u32(index.rawCrc32c)
        w.u32(UInt32(index.frames.count))
        w.u32(UInt32(index.frameRawBytesTarget))
        w.i32(index.compressionLevel)
        w.u16(UInt16(topicBytes.count))
        w.raw(topicBytes)
        if let encryption = index.encryption, let keyIdBytes {
            w.u8(encryption.cipher.rawValue)
            w.u8(UInt8(keyIdBytes.count))
            w.raw(keyIdBytes)
        }
        for frame in index.frames {
            w.i64(frame.firstOffset)
            w.i64(frame.lastOffset)
            w.i64(frame.maxTimestamp)
            w.u32(UInt32(frame.compressedBytes))
            w.u32(UInt32(frame.rawBytes))
            w.u32(UInt32(frame.batchCount))
            w.u32(frame.checksum)
        }
        let crc = w.bytes.withUnsafeBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[skippableHeaderBytes...]))
        }
        w.u32(crc)
        return w.bytes
    }

    /// The zstd seek table: one entry per data frame, then one for the index frame (a skippable
    /// frame: decompressed size 0), so cumulative compressed sizes locate every frame.
    static func encodeSeekTable(frames: [ColdFrame], indexFrameBytes: Int) -> [UInt8] {
        let entryCount = frames.count + 1
        let contentBytes = entryCount * seekEntryBytes + seekFooterBytes
        var w = ByteWriter(capacity: skippableHeaderBytes + contentBytes)
        w.u32(seekTableFrameMagic)
        w.u32(UInt32(contentBytes))
        for frame in frames {
            w.u32(UInt32(frame.compressedBytes))
            w.u32(UInt32(frame.rawBytes))
            w.u32(frame.checksum)
        }
        w.u32(UInt32(indexFrameBytes))
        w.u32(0)
        w.u32(emptyContentChecksum)
        w.u32(UInt32(entryCount))
        w.u8(seekTableDescriptor)
        w.u32(seekableMagic)
        return w.bytes
    }
}
