/// Reads the footer of a cold object (Strata index frame + zstd seek table) from a suffix of
/// the object. Positions in errors are byte positions in the whole object.
public enum ColdObjectFooter {
    /// One seek table entry as stored.
    struct SeekEntry {
        var compressedBytes: Int
        var rawBytes: Int
        var checksum: UInt32
    }

    /// How many bytes from the end of the object `parse` needs, judged from what `tail` holds:
    /// at most the answer grows twice (footer → seek table → index frame). When the result is
    /// ≤ `tail.count`, `parse(tail:objectSize:)` has all it needs.
    /// - Parameters:
    ///   - tail: the last `tail.count` bytes of the object (start with `ColdObject.defaultTailReadBytes`).
    ///   - objectSize: size of the whole object.
    /// - Throws: `FormatError` when what is present is already invalid (bad magic, impossible sizes).
    public static func tailBytesNeeded(tail: UnsafeRawBufferPointer, objectSize: Int) throws(FormatError) -> Int {
        let tailStart = try checkTail(tail, objectSize: objectSize)
        guard tail.count >= ColdObject.seekFooterBytes else { return ColdObject.seekFooterBytes }
        let entryCount = try parseFooter(tail, tailStart: tailStart, objectSize: objectSize)
        let seekTableBytes = seekTableSize(entryCount: entryCount)
        guard tail.count >= seekTableBytes else { return seekTableBytes }
        let entries = try parseSeekTable(tail, tailStart: tailStart, entryCount: entryCount, objectSize: objectSize)
        return seekTableBytes + (entries.last?.compressedBytes ?? 0)
    }

    /// Parses and cross-checks the footer: seek table, then Strata's index frame.
    /// - Parameters:
    ///   - tail: the last `tail.count` bytes of the object; the whole object works too.
    ///   - objectSize: size of the whole object (the seek table must account for every byte).
    /// - Returns: the index, with every frame's object range.
    /// - Throws: `FormatError(.truncated, field: "coldObject.tail")` when `tail` is too short
    ///   (`tailBytesNeeded` says how much is needed); otherwise a `FormatError` naming the bad
    ///   field: magics, sizes, counts, index CRC, offsets, seek table vs index disagreement.
    public static func parse(tail: UnsafeRawBufferPointer, objectSize: Int) throws(FormatError) -> ColdObjectIndex {
        let tailStart = try checkTail(tail, objectSize: objectSize)
        let needed = try tailBytesNeeded(tail: tail, objectSize: objectSize)
        guard needed <= tail.count else {
            throw FormatError(
                .truncated, field: "coldObject.tail", position: tailStart,
                "the footer needs the last \(needed) bytes, \(tail.count) given")
        }
        let entryCount = try parseFooter(tail, tailStart: tailStart, objectSize: objectSize)
        let entries = try parseSeekTable(tail, tailStart: tailStart, entryCount: entryCount, objectSize: objectSize)
        let seekTableBytes = seekTableSize(entryCount: entryCount)
        let indexFrameBytes = entries[entries.count - 1].compressedBytes
        let indexFrameOffset = objectSize - seekTableBytes - indexFrameBytes
        let content = try parseIndexFrameHeader(
            tail, at: indexFrameOffset - tailStart, tailStart: tailStart,
            frameBytes: indexFrameBytes, dataFrameCount: entries.count - 1)
        var index = try parseIndexContent(
            content, contentStart: indexFrameOffset + ColdObject.skippableHeaderBytes,
            entries: entries.dropLast())
        index.objectBytes = objectSize
        index.indexFrameOffset = indexFrameOffset
        index.indexFrameBytes = indexFrameBytes
        index.seekTableBytes = seekTableBytes
        return index
    }

    /// Convenience: parses the footer of a whole object held in memory.
    public static func parse(object: [UInt8]) throws(FormatError) -> ColdObjectIndex {
        try withBytes(object) { (raw) throws(FormatError) in try parse(tail: raw, objectSize: raw.count) }
    }

    static func seekTableSize(entryCount: Int) -> Int {
        ColdObject.skippableHeaderBytes + entryCount * ColdObject.seekEntryBytes + ColdObject.seekFooterBytes
    }

    /// Object position of `tail[0]`.
    static func checkTail(_ tail: UnsafeRawBufferPointer, objectSize: Int) throws(FormatError) -> Int {
        guard tail.count <= objectSize else {
            throw FormatError(
                .outOfBounds, field: "coldObject.tail", position: 0,
                "tail of \(tail.count) bytes is longer than the object (\(objectSize))")
        }
        let smallest = ColdObject.seekFooterBytes
        guard objectSize >= smallest else {
            throw FormatError(.truncated, field: "seekTable.footer", position: 0, "object of \(objectSize) bytes")
        }
        return objectSize - tail.count
    }

    /// Reads the 9-byte footer; returns the number of seek table entries (data frames + index frame).
    static func parseFooter(_ tail: UnsafeRawBufferPointer, tailStart: Int, objectSize: Int) throws(FormatError) -> Int
    {
        var r = ByteReader(tail, position: tail.count - ColdObject.seekFooterBytes, basePosition: tailStart)
        let countAt = r.position
        let entryCount = Int(try r.u32("seekTable.numberOfFrames"))
        let descriptor = try r.u8("seekTable.descriptor")
        let magic = try r.u32("seekTable.magic")
        guard magic == ColdObject.seekableMagic else {
            throw r.error(.badMagic, "seekTable.magic", at: countAt + 5, "0x\(hex(magic)) is not the seekable magic")
        }
        guard descriptor == ColdObject.seekTableDescriptor else {
            throw r.error(
                .invalidValue, "seekTable.descriptor", at: countAt + 4,
                "0x\(String(descriptor, radix: 16)): Strata writes 0x80 (checksums, no reserved bits)")
        }
        // At least one data frame plus the index frame; bounded before anything is allocated.
        guard entryCount >= 2, entryCount <= FormatLimits.coldFramesMax + 1,
            seekTableSize(entryCount: entryCount) <= objectSize
        else {
            throw r.error(
                .outOfBounds, "seekTable.numberOfFrames", at: countAt,
                "\(entryCount) frames cannot fit in an object of \(objectSize) bytes")
        }
        return entryCount
    }

    static func parseSeekTable(
        _ tail: UnsafeRawBufferPointer, tailStart: Int, entryCount: Int, objectSize: Int
    ) throws(FormatError) -> [SeekEntry] {
        let start = tail.count - seekTableSize(entryCount: entryCount)
        var r = ByteReader(tail, position: start, basePosition: tailStart)
        let magic = try r.u32("seekTable.skippableMagic")
        guard magic == ColdObject.seekTableFrameMagic else {
            throw r.error(.badMagic, "seekTable.skippableMagic", at: start, "0x\(hex(magic)) is not 0x184d2a5e")
        }
        let frameSize = Int(try r.u32("seekTable.frameSize"))
        guard frameSize == entryCount * ColdObject.seekEntryBytes + ColdObject.seekFooterBytes else {
            throw r.error(
                .invalidValue, "seekTable.frameSize", at: start + 4, "\(frameSize) does not match \(entryCount) entries"
            )
        }
        var entries: [SeekEntry] = []
        entries.reserveCapacity(entryCount)
        var totalBytes = seekTableSize(entryCount: entryCount)
        for i in 0 ..< entryCount {
            let at = r.position
            let entry = SeekEntry(
                compressedBytes: Int(try r.u32("seekTable.compressedSize")),
                rawBytes: Int(try r.u32("seekTable.decompressedSize")),
                checksum: try r.u32("seekTable.checksum"))
            try checkSeekEntry(entry, isIndexFrame: i == entryCount - 1, at: at + tailStart)
            totalBytes += entry.compressedBytes
            entries.append(entry)
        }
        guard totalBytes == objectSize else {
            throw r.error(
                .invalidValue, "seekTable.compressedSize", at: start + 8,
                "frames and seek table add up to \(totalBytes) bytes, the object has \(objectSize)")
        }
        return entries
    }

    static func checkSeekEntry(_ entry: SeekEntry, isIndexFrame: Bool, at position: Int) throws(FormatError) {
        if isIndexFrame {
            let smallest =
                ColdObject.skippableHeaderBytes + ColdObject.indexFixedBytes + 1 + ColdObject.indexFrameEntryBytes + 4
            guard entry.compressedBytes >= smallest, entry.compressedBytes <= FormatLimits.coldIndexFrameBytesMax else {
                throw FormatError(
                    .outOfBounds, field: "seekTable.compressedSize", position: position,
                    "index frame of \(entry.compressedBytes) bytes outside [\(smallest), "
                        + "\(FormatLimits.coldIndexFrameBytesMax)]"
                )
            }
            guard entry.rawBytes == 0, entry.checksum == ColdObject.emptyContentChecksum else {
                throw FormatError(
                    .invalidValue, field: "seekTable.decompressedSize", position: position + 4,
                    "the last entry (index frame) must have size 0 and checksum 0x51d8e999")
            }
        } else {
            guard entry.compressedBytes > 0 else {
                throw FormatError(
                    .outOfBounds, field: "seekTable.compressedSize", position: position, "empty data frame")
            }
            guard entry.rawBytes > 0, entry.rawBytes <= FormatLimits.coldFrameRawBytesMax else {
                throw FormatError(
                    .outOfBounds, field: "seekTable.decompressedSize", position: position + 4,
                    "\(entry.rawBytes) outside [1, \(FormatLimits.coldFrameRawBytesMax)]")
            }
        }
    }
}
