/// The 32-byte header at the start of every hot segment file (formats/segment.md).
public struct SegmentHeader: Sendable, Hashable {
    /// `"SSEG"` read as a little-endian u32.
    public static let magic: UInt32 = 0x4745_5353
    public static let currentVersion: UInt16 = 1
    public static let size = 32

    public var baseOffset: Int64
    /// When the segment was created, ms since the epoch (the age-based roll starts here).
    public var createdMs: Int64

    public init(baseOffset: Int64, createdMs: Int64) {
        self.baseOffset = baseOffset
        self.createdMs = createdMs
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.u32(Self.magic)
        w.u16(Self.currentVersion)
        w.u16(UInt16(Self.size))
        w.i64(baseOffset)
        w.i64(createdMs)
        w.u32(0)
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Parses and checks the header at the start of `buffer`.
    public static func decode(_ buffer: UnsafeRawBufferPointer) throws(FormatError) -> SegmentHeader {
        var r = ByteReader(buffer)
        let magic = try r.u32("segment.magic")
        guard magic == Self.magic else {
            throw r.error(.badMagic, "segment.magic", at: 0, "0x\(hex(magic)) is not a Strata segment")
        }
        let version = try r.u16("segment.version")
        guard version == Self.currentVersion else {
            throw r.error(.unsupportedVersion, "segment.version", at: 4, "version \(version), this reader knows 1")
        }
        let headerLength = try r.u16("segment.headerLength")
        guard headerLength == UInt16(Self.size) else {
            throw r.error(.invalidValue, "segment.headerLength", at: 6, "\(headerLength), expected \(Self.size)")
        }
        let baseOffset = try r.i64("segment.baseOffset")
        let createdMs = try r.i64("segment.createdMs")
        let reserved = try r.u32("segment.reserved")
        let stored = try r.u32("segment.headerCrc")
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0 ..< 28]))
        guard stored == actual else {
            throw r.error(
                .checksumMismatch, "segment.headerCrc", at: 28, "stored 0x\(hex(stored)), computed 0x\(hex(actual))")
        }
        guard baseOffset >= 0 else {
            throw r.error(.outOfBounds, "segment.baseOffset", at: 8, "negative base offset \(baseOffset)")
        }
        guard reserved == 0 else {
            throw r.error(.invalidValue, "segment.reserved", at: 24, "reserved bytes must be 0")
        }
        return SegmentHeader(baseOffset: baseOffset, createdMs: createdMs)
    }
}

/// Where one batch sits in a segment.
public struct ScannedBatch: Sendable, Hashable {
    /// Byte position of the batch in the segment file.
    public var position: Int
    public var header: BatchHeader
}

/// What follows the valid prefix of a segment (formats/segment.md, "Torn tails and corruption").
public enum SegmentTail: Sendable, Hashable {
    /// Every byte belongs to a valid batch.
    case clean
    /// Valid up to `validEnd`, then `bytes` bytes that hold no valid batch: what a crash in the
    /// middle of an append leaves. Recovery may cut it (moving the bytes aside).
    case torn(validEnd: Int, bytes: Int)
    /// The batch at `position` is damaged and a valid batch follows at `resumePosition`
    /// (starting at `resumeOffset`): corruption, never cut by recovery. `lastOffset` is the last
    /// offset of the valid batches found from there on.
    case corrupt(position: Int, resumePosition: Int, resumeOffset: Int64, lastOffset: Int64)

    /// Bytes after the valid prefix are corruption, not a torn tail.
    public var isCorrupt: Bool {
        if case .corrupt = self { return true }
        return false
    }
}

/// The result of walking a segment's batches: every valid batch up to the first problem.
public struct SegmentScan: Sendable {
    public var batches: [ScannedBatch]
    /// End of the valid prefix: a torn tail may be cut here.
    public var validEnd: Int
    /// Offset the next batch must start at.
    public var nextOffset: Int64
    /// Why scanning stopped before the end of the buffer (nil when it reached the end cleanly).
    public var stopError: FormatError?
    /// Whether the bytes after `validEnd` are a torn tail or corruption followed by valid batches.
    public var tail: SegmentTail = .clean
}

/// Walks batches back to back, checking CRC and offset continuity. Pure: works on any buffer
/// holding the segment bytes from `start`.
public enum SegmentScanner {
    /// Scans `buffer` from `start` (a batch boundary at offset `expectedOffset`).
    /// - Parameters:
    ///   - basePosition: file position of `buffer[0]`, for positions in results and errors.
    ///   - verifyChecksums: check each batch's CRC (recovery and verify do; reading a batch
    ///     that is decoded right after may skip it here).
    public static func scan(
        _ buffer: UnsafeRawBufferPointer, from start: Int, expectedOffset: Int64, basePosition: Int = 0,
        verifyChecksums: Bool = true
    ) -> SegmentScan {
        var batches: [ScannedBatch] = []
        var position = start
        var next = expectedOffset
        while position < buffer.count {
            let header: BatchHeader
            do throws(FormatError) {
                header =
                    verifyChecksums
                    ? try BatchCodec.verify(buffer, at: position, basePosition: basePosition)
                    : try BatchCodec.parseHeader(buffer, at: position, basePosition: basePosition)
                if !verifyChecksums && header.batchLength > buffer.count - position {
                    throw FormatError(
                        .truncated, field: "batch", position: basePosition + position,
                        "batch of \(header.batchLength) bytes, \(buffer.count - position) present")
                }
                if header.baseOffset != next {
                    throw FormatError(
                        .invalidValue, field: "batch.baseOffset", position: basePosition + position + 16,
                        "batch starts at offset \(header.baseOffset), expected \(next)")
                }
            } catch {
                let tail = classifyTail(buffer, at: position, expectedOffset: next, basePosition: basePosition)
                return SegmentScan(
                    batches: batches, validEnd: basePosition + position, nextOffset: next,
                    stopError: error, tail: tail)
            }
            batches.append(ScannedBatch(position: basePosition + position, header: header))
            position += header.batchLength
            next = header.nextOffset
        }
        return SegmentScan(batches: batches, validEnd: basePosition + position, nextOffset: next, stopError: nil)
    }

    /// Tells a torn tail from corruption: looks at every byte position from `start` on for a
    /// batch whose header and CRC check and whose base offset is at least `expectedOffset` (a
    /// plausible later batch). None: the bytes from `start` are a torn tail. One: corruption,
    /// and the valid batches from there on are walked to find their last offset.
    public static func classifyTail(
        _ buffer: UnsafeRawBufferPointer, at start: Int, expectedOffset: Int64, basePosition: Int = 0
    ) -> SegmentTail {
        guard
            let (resume, header) = nextPlausibleBatch(
                buffer, from: start, expectedOffset: expectedOffset,
                basePosition: basePosition)
        else {
            return start < buffer.count ? .torn(validEnd: basePosition + start, bytes: buffer.count - start) : .clean
        }
        var lastOffset = header.lastOffset
        var position = resume + header.batchLength
        var next = header.nextOffset
        while position < buffer.count,
            let later = try? BatchCodec.verify(buffer, at: position, basePosition: basePosition),
            later.baseOffset == next
        {
            lastOffset = later.lastOffset
            next = later.nextOffset
            position += later.batchLength
        }
        return .corrupt(
            position: basePosition + start, resumePosition: basePosition + resume,
            resumeOffset: header.baseOffset, lastOffset: lastOffset)
    }

    /// The first position at or after `start` holding a whole batch that checks (magic, header,
    /// CRC) and starts at or after `expectedOffset`.
    static func nextPlausibleBatch(
        _ buffer: UnsafeRawBufferPointer, from start: Int, expectedOffset: Int64, basePosition: Int
    ) -> (Int, BatchHeader)? {
        guard buffer.count >= BatchHeader.size else { return nil }
        let magic = BatchHeader.magic
        var position = start
        while position <= buffer.count - BatchHeader.size {
            // The magic first: a CRC is computed only where a batch could start.
            if buffer.loadUnaligned(fromByteOffset: position, as: UInt32.self) == magic.littleEndian,
                let header = try? BatchCodec.verify(buffer, at: position, basePosition: basePosition),
                header.baseOffset >= expectedOffset
            {
                return (position, header)
            }
            position += 1
        }
        return nil
    }

    /// Scans a whole segment file image: header, then every batch.
    public static func scanFile(_ buffer: UnsafeRawBufferPointer) throws(FormatError) -> (SegmentHeader, SegmentScan) {
        let header = try SegmentHeader.decode(buffer)
        let scan = scan(buffer, from: SegmentHeader.size, expectedOffset: header.baseOffset)
        return (header, scan)
    }
}
