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
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<28]))
        guard stored == actual else {
            throw r.error(.checksumMismatch, "segment.headerCrc", at: 28, "stored 0x\(hex(stored)), computed 0x\(hex(actual))")
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

/// The result of walking a segment's batches: every valid batch up to the first problem.
public struct SegmentScan: Sendable {
    public var batches: [ScannedBatch]
    /// End of the valid prefix: the file may be truncated here.
    public var validEnd: Int
    /// Offset the next batch must start at.
    public var nextOffset: Int64
    /// Why scanning stopped before the end of the buffer (nil when it reached the end cleanly).
    public var stopError: FormatError?
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
                header = verifyChecksums
                    ? try BatchCodec.verify(buffer, at: position, basePosition: basePosition)
                    : try BatchCodec.parseHeader(buffer, at: position, basePosition: basePosition)
                if !verifyChecksums && header.batchLength > buffer.count - position {
                    throw FormatError(.truncated, field: "batch", position: basePosition + position,
                                      "batch of \(header.batchLength) bytes, \(buffer.count - position) present")
                }
                if header.baseOffset != next {
                    throw FormatError(.invalidValue, field: "batch.baseOffset", position: basePosition + position + 16,
                                      "batch starts at offset \(header.baseOffset), expected \(next)")
                }
            } catch {
                return SegmentScan(batches: batches, validEnd: basePosition + position, nextOffset: next, stopError: error)
            }
            batches.append(ScannedBatch(position: basePosition + position, header: header))
            position += header.batchLength
            next = header.nextOffset
        }
        return SegmentScan(batches: batches, validEnd: basePosition + position, nextOffset: next, stopError: nil)
    }

    /// Scans a whole segment file image: header, then every batch.
    public static func scanFile(_ buffer: UnsafeRawBufferPointer) throws(FormatError) -> (SegmentHeader, SegmentScan) {
        let header = try SegmentHeader.decode(buffer)
        let scan = scan(buffer, from: SegmentHeader.size, expectedOffset: header.baseOffset)
        return (header, scan)
    }
}
