/// One slice of a packed object: a standalone cold object of one segment, at `sliceOffset`
/// (formats/cold-object.md, "Packed objects").
public struct PackedSlice: Codable, Sendable, Hashable {
    /// The segment's log name (`LogName`).
    public var log: String
    public var baseOffset: Int64
    public var lastOffset: Int64
    /// Byte position of the slice in the packed object: the start of its ranged GETs.
    public var sliceOffset: Int64
    /// Bytes of the slice (the standalone cold object's size; the manifest's `objectBytes`).
    public var sliceBytes: Int64
    /// CRC32C of the raw segment file the slice decodes to.
    public var rawCrc32c: UInt32

    public init(log: String, baseOffset: Int64, lastOffset: Int64, sliceOffset: Int64, sliceBytes: Int64, rawCrc32c: UInt32)
    {
        self.log = log
        self.baseOffset = baseOffset
        self.lastOffset = lastOffset
        self.sliceOffset = sliceOffset
        self.sliceBytes = sliceBytes
        self.rawCrc32c = rawCrc32c
    }

    /// Byte range of the slice in the packed object.
    public var byteRange: Range<Int> { Int(sliceOffset) ..< Int(sliceOffset + sliceBytes) }
}

/// What the pack index of a packed object says.
public struct PackIndex: Sendable, Hashable {
    public var slices: [PackedSlice]
    /// Bytes of the slices, i.e. the byte position of the pack index frame.
    public var slicesBytes: Int64
    /// Bytes of the pack index frame (skippable header and trailer included).
    public var indexFrameBytes: Int

    /// The slice of `log` whose range is `baseOffset...lastOffset`, if the object holds it.
    public func slice(log: String, baseOffset: Int64) -> PackedSlice? {
        slices.first { $0.log == log && $0.baseOffset == baseOffset }
    }
}

/// A packed object as produced by the encoder.
public struct EncodedPackedObject: Sendable, Hashable {
    public var bytes: [UInt8]
    public var index: PackIndex
}

/// Packed objects: standalone cold objects of several segments (any logs) back to back, then a
/// skippable frame holding the pack index, which ends with a fixed 8-byte trailer
/// (formats/cold-object.md, "Packed objects"). `zstd -d` yields the segments back to back; a
/// slice is read exactly as a standalone object, with every range shifted by its offset.
public enum PackedObject {
    /// Magic of the pack index's skippable frame (0x5B is the cold index's, 0x5E the seek table's).
    public static let indexFrameMagic: UInt32 = 0x184D_2A5C
    /// `"SPIX"` as a little-endian u32: the start of the pack index content.
    public static let indexMagic: UInt32 = 0x5849_5053
    /// `"SPKT"` as a little-endian u32: the last four bytes of every packed object.
    public static let trailerMagic: UInt32 = 0x544B_5053
    public static let indexVersion: UInt16 = 1
    /// Suffix a reader fetches first; a pack index of about 4,000 slices fits.
    public static let defaultTailReadBytes = 256 * 1024

    static let skippableHeaderBytes = 8
    /// Content before the entries: magic, version, flags, slice count, slices bytes.
    static let indexFixedBytes = 20
    /// Per entry, besides the log name: u16 length, base, last, offset, bytes, CRC.
    static let entryFixedBytes = 2 + 8 + 8 + 8 + 8 + 4
    /// indexCrc, frame size, trailer magic.
    static let indexTailBytes = 12
    /// The fixed trailer: frame size and trailer magic.
    public static let trailerBytes = 8
    static let smallestIndexFrameBytes = skippableHeaderBytes + indexFixedBytes + entryFixedBytes + 1 + indexTailBytes

    /// Concatenates standalone cold objects into one packed object and appends its pack index.
    /// - Parameter slices: encoded cold objects (`ColdObject.encode`), in the order to store them.
    /// - Throws: `FormatError(.outOfBounds)` for no slice or more than `FormatLimits.packSlicesMax`.
    public static func encode(_ slices: [EncodedColdObject]) throws(FormatError) -> EncodedPackedObject {
        try encode(
            copying: slices.map { slice in
                (
                    PackedSlice(
                        log: slice.index.topic, baseOffset: slice.index.baseOffset,
                        lastOffset: slice.index.lastOffset, sliceOffset: 0, sliceBytes: Int64(slice.bytes.count),
                        rawCrc32c: slice.index.rawCrc32c),
                    slice.bytes
                )
            })
    }

    /// Concatenates slices already encoded — each the bytes of a standalone cold object, with
    /// the entry saying what it holds (its `sliceOffset` is ignored and set to its new place) —
    /// into one packed object with a new pack index. Compaction (ARCHITECTURE.md §2k) moves the
    /// live slices of partly dead packed objects this way, byte for byte.
    /// - Throws: `FormatError(.outOfBounds)` for no slice or more than `FormatLimits.packSlicesMax`;
    ///   `.invalidValue` for an entry the pack index's reader would refuse (an empty range, or a
    ///   log's slice not after its previous one: each log's slices go in offset order).
    public static func encode(copying slices: [(entry: PackedSlice, bytes: [UInt8])]) throws(FormatError)
        -> EncodedPackedObject
    {
        guard !slices.isEmpty, slices.count <= FormatLimits.packSlicesMax else {
            throw FormatError(
                .outOfBounds, field: "packIndex.sliceCount", position: 0,
                "\(slices.count) slices outside [1, \(FormatLimits.packSlicesMax)]")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(slices.reduce(0) { $0 + $1.bytes.count } + slices.count * 64 + 64)
        var entries: [PackedSlice] = []
        var lastByLog: [String: Int64] = [:]
        for (i, (entry, sliceBytes)) in slices.enumerated() {
            var placed = entry
            placed.sliceOffset = Int64(bytes.count)
            placed.sliceBytes = Int64(sliceBytes.count)
            try checkEntry(
                placed, field: "packIndex.slices[\(i)]", at: 0, expectedOffset: placed.sliceOffset,
                previousLast: lastByLog[placed.log])
            lastByLog[placed.log] = placed.lastOffset
            entries.append(placed)
            bytes.append(contentsOf: sliceBytes)
        }
        let frame = encodeIndexFrame(entries, slicesBytes: Int64(bytes.count))
        bytes.append(contentsOf: frame)
        return EncodedPackedObject(
            bytes: bytes, index: PackIndex(slices: entries, slicesBytes: Int64(bytes.count - frame.count),
                                           indexFrameBytes: frame.count))
    }

    static func encodeIndexFrame(_ entries: [PackedSlice], slicesBytes: Int64) -> [UInt8] {
        let names = entries.map { Array($0.log.utf8) }
        let contentBytes =
            indexFixedBytes + names.reduce(0) { $0 + $1.count } + entries.count * entryFixedBytes + indexTailBytes
        var w = ByteWriter(capacity: skippableHeaderBytes + contentBytes)
        w.u32(indexFrameMagic)
        w.u32(UInt32(contentBytes))
        w.u32(indexMagic)
        w.u16(indexVersion)
        w.u16(0)
        w.u32(UInt32(entries.count))
        w.u64(UInt64(slicesBytes))
        for (entry, name) in zip(entries, names) {
            w.u16(UInt16(name.count))
            w.raw(name)
            w.i64(entry.baseOffset)
            w.i64(entry.lastOffset)
            w.u64(UInt64(entry.sliceOffset))
            w.u64(UInt64(entry.sliceBytes))
            w.u32(entry.rawCrc32c)
        }
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[skippableHeaderBytes...])) }
        w.u32(crc)
        w.u32(UInt32(skippableHeaderBytes + contentBytes))
        w.u32(trailerMagic)
        return w.bytes
    }

    /// How many bytes from the end of the object `parseIndex` needs: the trailer, then the
    /// whole pack index frame it announces.
    /// - Throws: `FormatError` when the trailer is already invalid (magic, impossible size).
    public static func tailBytesNeeded(tail: UnsafeRawBufferPointer, objectSize: Int) throws(FormatError) -> Int {
        let tailStart = try checkTail(tail, objectSize: objectSize)
        guard tail.count >= trailerBytes else { return trailerBytes }
        return try parseTrailer(tail, tailStart: tailStart, objectSize: objectSize)
    }

    /// Parses and checks the pack index from a suffix of the object (the whole object works too).
    /// - Throws: `FormatError(.truncated, field: "packIndex.tail")` when `tail` is too short
    ///   (`tailBytesNeeded` says how much is needed); otherwise a `FormatError` naming the bad
    ///   field: trailer, frame magic and size, content magic, version, flags, CRC, entries
    ///   (log names, ranges, slices contiguous from byte 0 and ending at the index frame).
    public static func parseIndex(tail: UnsafeRawBufferPointer, objectSize: Int) throws(FormatError) -> PackIndex {
        let tailStart = try checkTail(tail, objectSize: objectSize)
        let needed = try tailBytesNeeded(tail: tail, objectSize: objectSize)
        guard needed <= tail.count else {
            throw FormatError(
                .truncated, field: "packIndex.tail", position: tailStart,
                "the pack index needs the last \(needed) bytes, \(tail.count) given")
        }
        let frameStart = objectSize - needed
        var r = ByteReader(tail, position: frameStart - tailStart, basePosition: tailStart)
        let frameMagic = try r.u32("packIndex.frameMagic")
        guard frameMagic == indexFrameMagic else {
            throw fail(.badMagic, "packIndex.frameMagic", at: frameStart, "0x\(hex(frameMagic)) is not 0x184d2a5c")
        }
        let contentBytes = Int(try r.u32("packIndex.contentBytes"))
        guard contentBytes == needed - skippableHeaderBytes else {
            throw fail(
                .invalidValue, "packIndex.contentBytes", at: frameStart + 4,
                "\(contentBytes), the trailer says the frame has \(needed) bytes")
        }
        let contentStart = r.position
        let crcAt = frameStart + needed - indexTailBytes
        let stored = tail.loadUnaligned(fromByteOffset: crcAt - tailStart, as: UInt32.self).littleEndian
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: tail[contentStart ..< (crcAt - tailStart)]))
        let magic = try r.u32("packIndex.magic")
        guard magic == indexMagic else {
            throw fail(.badMagic, "packIndex.magic", at: frameStart + 8, "0x\(hex(magic)) is not SPIX")
        }
        let version = try r.u16("packIndex.version")
        guard version == indexVersion else {
            throw fail(
                .unsupportedVersion, "packIndex.version", at: frameStart + 12, "\(version), this reader knows 1")
        }
        guard try r.u16("packIndex.flags") == 0 else {
            throw fail(.invalidValue, "packIndex.flags", at: frameStart + 14, "must be 0 in version 1")
        }
        guard stored == crc else {
            throw fail(
                .checksumMismatch, "packIndex.crc", at: crcAt, "stored 0x\(hex(stored)), computed 0x\(hex(crc))")
        }
        return try parseEntries(&r, frameStart: frameStart, crcAt: crcAt, frameBytes: needed)
    }

    /// Convenience: the pack index of a whole object held in memory.
    public static func parseIndex(object: [UInt8]) throws(FormatError) -> PackIndex {
        try withBytes(object) { (raw) throws(FormatError) in try parseIndex(tail: raw, objectSize: raw.count) }
    }

    /// Decodes and checks a whole packed object: the pack index, then each slice as a cold
    /// object (footer, every frame, raw size and CRC32C), its footer against its entry.
    /// - Returns: per slice, its entry, its cold index and the segment file bytes.
    public static func decodeSlices(
        _ object: [UInt8], keys: ColdKeyRing? = nil
    ) throws(FormatError) -> [(slice: PackedSlice, index: ColdObjectIndex, segment: [UInt8])] {
        var decoded: [(slice: PackedSlice, index: ColdObjectIndex, segment: [UInt8])] = []
        _ = try forEachSlice(object, keys: keys) { (slice, index, segment) throws(FormatError) in decoded.append((slice, index, segment)) }
        return decoded
    }

    /// `decodeSlices` one slice at a time: `body` gets each slice's entry, cold index and segment
    /// bytes in order, and only one decoded segment is held at once (a 32 MiB object of small
    /// segments would otherwise hold all of them). Checks what `decodeSlices` checks.
    /// - Returns: the pack index.
    @discardableResult
    public static func forEachSlice(
        _ object: [UInt8], keys: ColdKeyRing? = nil,
        _ body: (PackedSlice, ColdObjectIndex, [UInt8]) throws(FormatError) -> Void
    ) throws(FormatError) -> PackIndex {
        let pack = try parseIndex(object: object)
        for slice in pack.slices {
            let (index, segment) = try decodeSlice(Array(object[slice.byteRange]), slice: slice, keys: keys)
            try body(slice, index, segment)
        }
        return pack
    }

    /// Decodes one slice's bytes as a cold object and checks its footer against `slice`.
    /// Positions in errors are byte positions in the packed object.
    public static func decodeSlice(
        _ bytes: [UInt8], slice: PackedSlice, keys: ColdKeyRing? = nil
    ) throws(FormatError) -> (index: ColdObjectIndex, segment: [UInt8]) {
        do throws(FormatError) {
            let (index, segment) = try ColdObject.decodeSegment(bytes, keys: keys)
            guard index.topic == slice.log, index.baseOffset == slice.baseOffset,
                index.lastOffset == slice.lastOffset, index.rawCrc32c == slice.rawCrc32c
            else {
                throw FormatError(
                    .invalidValue, field: "packIndex.slice", position: index.indexFrameOffset,
                    "the slice's footer says \(index.topic) \(index.baseOffset)...\(index.lastOffset) "
                        + "crc 0x\(hex(index.rawCrc32c)), the pack index \(slice.log) "
                        + "\(slice.baseOffset)...\(slice.lastOffset) crc 0x\(hex(slice.rawCrc32c))")
            }
            return (index, segment)
        } catch {
            var shifted = error
            if !error.field.hasPrefix("segment."), !error.field.hasPrefix("batch."), !error.field.hasPrefix("record.") {
                shifted.position += Int(slice.sliceOffset)
            }
            shifted.message = "slice \(slice.log) \(slice.baseOffset)...\(slice.lastOffset): " + error.message
            throw shifted
        }
    }

    /// An error at an absolute position in the packed object.
    static func fail(_ code: FormatError.Code, _ field: String, at position: Int, _ message: String) -> FormatError {
        FormatError(code, field: field, position: position, message)
    }

    static func checkTail(_ tail: UnsafeRawBufferPointer, objectSize: Int) throws(FormatError) -> Int {
        guard tail.count <= objectSize else {
            throw FormatError(
                .outOfBounds, field: "packIndex.tail", position: 0,
                "tail of \(tail.count) bytes is longer than the object (\(objectSize))")
        }
        guard objectSize >= smallestIndexFrameBytes else {
            throw FormatError(
                .truncated, field: "packIndex.trailer", position: 0, "object of \(objectSize) bytes is no packed object")
        }
        return objectSize - tail.count
    }

    /// The trailer's frame size (checked against the bounds and the object size).
    static func parseTrailer(
        _ tail: UnsafeRawBufferPointer, tailStart: Int, objectSize: Int
    ) throws(FormatError) -> Int {
        var r = ByteReader(tail, position: tail.count - trailerBytes, basePosition: tailStart)
        let frameBytes = Int(try r.u32("packIndex.trailer.frameBytes"))
        let magic = try r.u32("packIndex.trailer.magic")
        guard magic == trailerMagic else {
            throw fail(
                .badMagic, "packIndex.trailer.magic", at: objectSize - 4, "0x\(hex(magic)) is not SPKT")
        }
        guard frameBytes >= smallestIndexFrameBytes, frameBytes <= FormatLimits.packIndexFrameBytesMax,
            frameBytes < objectSize
        else {
            throw fail(
                .outOfBounds, "packIndex.trailer.frameBytes", at: objectSize - trailerBytes,
                "pack index frame of \(frameBytes) bytes cannot fit in an object of \(objectSize) bytes "
                    + "(bounds [\(smallestIndexFrameBytes), \(FormatLimits.packIndexFrameBytesMax)])")
        }
        return frameBytes
    }

    static func parseEntries(
        _ r: inout ByteReader, frameStart: Int, crcAt: Int, frameBytes: Int
    ) throws(FormatError) -> PackIndex {
        let countAt = r.absolutePosition
        let count = Int(try r.u32("packIndex.sliceCount"))
        guard count >= 1, count <= FormatLimits.packSlicesMax,
            count * (entryFixedBytes + 1) <= crcAt - frameStart
        else {
            throw fail(
                .outOfBounds, "packIndex.sliceCount", at: countAt,
                "\(count) slices outside [1, \(FormatLimits.packSlicesMax)] or beyond the frame")
        }
        let slicesBytesRaw = try r.u64("packIndex.slicesBytes")
        guard let slicesBytes = Int64(exactly: slicesBytesRaw), slicesBytes == Int64(frameStart) else {
            throw fail(
                .invalidValue, "packIndex.slicesBytes", at: countAt + 4,
                "\(slicesBytesRaw), the pack index frame starts at \(frameStart)")
        }
        var slices: [PackedSlice] = []
        slices.reserveCapacity(count)
        var lastByLog: [String: Int64] = [:]
        var expected: Int64 = 0
        for i in 0 ..< count {
            let at = r.absolutePosition
            let field = "packIndex.slices[\(i)]"
            let nameBytes = Int(try r.u16(field + ".logLength"))
            guard nameBytes >= 1, nameBytes <= 255, r.absolutePosition + nameBytes <= crcAt else {
                throw fail(.outOfBounds, field + ".logLength", at: at, "\(nameBytes) outside [1, 255]")
            }
            let log = String(decoding: try r.bytes(nameBytes, field + ".log"), as: UTF8.self)
            guard LogName.isValid(log) else {
                throw fail(.invalidValue, field + ".log", at: at + 2, "\"\(log)\" is not a log name")
            }
            let slice = PackedSlice(
                log: log, baseOffset: try r.i64(field + ".baseOffset"), lastOffset: try r.i64(field + ".lastOffset"),
                sliceOffset: Int64(bitPattern: try r.u64(field + ".sliceOffset")),
                sliceBytes: Int64(bitPattern: try r.u64(field + ".sliceBytes")), rawCrc32c: try r.u32(field + ".rawCrc32c"))
            try checkEntry(slice, field: field, at: at, expectedOffset: expected, previousLast: lastByLog[log])
            lastByLog[log] = slice.lastOffset
            expected = slice.sliceOffset + slice.sliceBytes
            slices.append(slice)
        }
        guard r.absolutePosition == crcAt, expected == slicesBytes else {
            throw fail(
                .invalidValue, "packIndex.slices", at: r.absolutePosition,
                "entries end at \(r.absolutePosition) covering \(expected) bytes; the CRC is at \(crcAt), slices take \(slicesBytes)")
        }
        return PackIndex(slices: slices, slicesBytes: slicesBytes, indexFrameBytes: frameBytes)
    }

    static func checkEntry(
        _ slice: PackedSlice, field: String, at: Int, expectedOffset: Int64, previousLast: Int64?
    ) throws(FormatError) {
        guard slice.baseOffset >= 0, slice.lastOffset >= slice.baseOffset, slice.lastOffset < Int64.max else {
            throw FormatError(
                .invalidValue, field: field + ".lastOffset", position: at,
                "range \(slice.baseOffset)...\(slice.lastOffset) is empty or out of bounds")
        }
        if let previousLast, slice.baseOffset <= previousLast {
            throw FormatError(
                .invalidValue, field: field + ".baseOffset", position: at,
                "\(slice.log) \(slice.baseOffset) is not after its previous slice (ending at \(previousLast))")
        }
        guard slice.sliceOffset == expectedOffset else {
            throw FormatError(
                .invalidValue, field: field + ".sliceOffset", position: at,
                "\(slice.sliceOffset), expected \(expectedOffset): slices are contiguous from byte 0")
        }
        // A slice is a whole cold object: at least its index frame and seek table.
        guard slice.sliceBytes >= 150, slice.sliceBytes <= Int64(1) << 40 else {
            throw FormatError(
                .outOfBounds, field: field + ".sliceBytes", position: at, "\(slice.sliceBytes) bytes")
        }
    }
}

/// Keys of packed objects (formats/bucket-layout.md).
extension BucketLayout {
    /// `<prefix>packed/`: list it to find packed objects.
    public var packedPrefix: String { prefix + Self.packedDirectory }

    static let packedDirectory = "packed/"
    static let packedSuffix = ".szst"

    /// `packed/<sequence 20 digits>-<writer id 16 hex>.szst`, relative to the lake root.
    public static func packedKeyRelative(sequence: UInt64, writerId: UInt64) -> String {
        packedDirectory + padded(sequence) + "-" + hex16(writerId) + packedSuffix
    }

    /// True when `relativeKey` is a packed object's key (relative to the lake root).
    public static func isPackedKeyRelative(_ relativeKey: String) -> Bool {
        guard relativeKey.hasPrefix(packedDirectory), relativeKey.hasSuffix(packedSuffix) else { return false }
        let name = relativeKey.dropFirst(packedDirectory.count).dropLast(packedSuffix.count)
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parseNumber(parts[0]) != nil && isHex16(parts[1])
    }

    /// True when `key` (with this layout's prefix) is a packed object's key.
    public func isPackedKey(_ key: String) -> Bool {
        guard let relative = relative(key) else { return false }
        return Self.isPackedKeyRelative(relative)
    }
}

/// Bounds of packed objects (beside the others in Limits.swift; kept here with their format).
extension FormatLimits {
    /// Most slices a pack index may list (writers use `LakeOptions.packSegmentsMax`, 4,096).
    public static let packSlicesMax = 65_536
    /// Largest pack index frame a reader accepts (bounds its suffix read): 65,536 entries with
    /// 255-byte log names fit.
    public static let packIndexFrameBytesMax = 32 * 1024 * 1024
}
