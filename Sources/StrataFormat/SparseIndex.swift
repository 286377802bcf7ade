/// Offset index entry: the batch whose base offset is `baseOffset + relativeOffset` starts at
/// `position` of the segment file.
public struct OffsetIndexEntry: Sendable, Hashable {
    public var relativeOffset: UInt32
    public var position: UInt32
}

/// Time index entry: every batch up to and including the one at `relativeOffset` has
/// timestamps ≤ `maxTimestamp` (a running maximum, so entries never decrease).
public struct TimeIndexEntry: Sendable, Hashable {
    public var maxTimestamp: Int64
    public var relativeOffset: UInt32
}

/// The sparse offset and time indexes of one segment (formats/index.md). One entry per
/// `intervalBytes` of batches. Indexes are hints: a reader checks the batch it lands on and
/// they are rebuilt from the segment whenever they fail to decode.
public struct SparseIndex: Sendable, Hashable {
    /// `"SIDX"` read as a little-endian u32.
    public static let magic: UInt32 = 0x5844_4953
    public static let currentVersion: UInt16 = 1
    static let headerSize = 56

    public var baseOffset: Int64
    public var intervalBytes: Int
    public private(set) var offsetEntries: [OffsetIndexEntry] = []
    public private(set) var timeEntries: [TimeIndexEntry] = []
    /// Summary of the indexed segment, kept with the entries so a sealed segment can be opened
    /// without scanning it: its size in bytes, the offset after its last record, and the first and
    /// max record timestamps (`Int64.min` while empty).
    public private(set) var segmentBytes: Int = SegmentHeader.size
    public private(set) var nextOffset: Int64
    public private(set) var firstTimestamp = Int64.min
    public private(set) var maxTimestamp = Int64.min
    private var bytesSinceEntry: Int

    public init(baseOffset: Int64, intervalBytes: Int) {
        self.baseOffset = baseOffset
        self.intervalBytes = max(1, intervalBytes)
        self.bytesSinceEntry = self.intervalBytes  // the first batch always gets an entry
        self.nextOffset = baseOffset
    }

    /// True when no batch has been added.
    public var isEmpty: Bool { nextOffset == baseOffset }

    /// Records that `header`'s batch was written at `position`.
    public mutating func add(_ header: BatchHeader, position: Int) {
        if isEmpty { firstTimestamp = header.firstTimestamp }
        maxTimestamp = max(maxTimestamp, header.maxTimestamp)
        nextOffset = header.nextOffset
        segmentBytes = position + header.batchLength
        if bytesSinceEntry >= intervalBytes {
            let relative = UInt32(truncatingIfNeeded: header.baseOffset - baseOffset)
            offsetEntries.append(
                OffsetIndexEntry(relativeOffset: relative, position: UInt32(truncatingIfNeeded: position)))
            timeEntries.append(TimeIndexEntry(maxTimestamp: maxTimestamp, relativeOffset: relative))
            bytesSinceEntry = 0
        }
        bytesSinceEntry += header.batchLength
    }

    /// Builds the index of a scanned segment.
    public static func build(from scan: SegmentScan, baseOffset: Int64, intervalBytes: Int) -> SparseIndex {
        var index = SparseIndex(baseOffset: baseOffset, intervalBytes: intervalBytes)
        for batch in scan.batches { index.add(batch.header, position: batch.position) }
        return index
    }

    /// File position to start scanning from to find `offset`: the last indexed batch starting
    /// at or before it (the first batch of the segment when none is).
    public func position(forOffset offset: Int64) -> Int {
        // Any Int64 is a valid question: far below or above the base must not trap (tools/fuzz index).
        let (difference, overflow) = offset.subtractingReportingOverflow(baseOffset)
        return position(forRelativeOffset: overflow ? (offset < baseOffset ? -1 : Int64.max) : difference)
    }

    private func position(forRelativeOffset relative: Int64) -> Int {
        var lo = 0, hi = offsetEntries.count  // first entry with relativeOffset > relative
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int64(offsetEntries[mid].relativeOffset) <= relative { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? SegmentHeader.size : Int(offsetEntries[lo - 1].position)
    }

    /// File position to start scanning from to find the first record with timestamp ≥ `timestamp`:
    /// the last indexed batch whose running maximum is still below it.
    public func position(forTimestamp timestamp: Int64) -> Int {
        var lo = 0, hi = timeEntries.count  // first entry with maxTimestamp >= timestamp
        while lo < hi {
            let mid = (lo + hi) / 2
            if timeEntries[mid].maxTimestamp < timestamp { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return SegmentHeader.size }
        return position(forRelativeOffset: Int64(timeEntries[lo - 1].relativeOffset))
    }

    /// The index file image: header, entries, CRC32C of everything before it.
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.headerSize + offsetEntries.count * 20 + 4)
        w.u32(Self.magic)
        w.u16(Self.currentVersion)
        w.u16(0)
        w.i64(baseOffset)
        w.u32(UInt32(offsetEntries.count))
        w.u32(UInt32(intervalBytes))
        w.u64(UInt64(segmentBytes))
        w.i64(nextOffset)
        w.i64(firstTimestamp)
        w.i64(maxTimestamp)
        for e in offsetEntries {
            w.u32(e.relativeOffset)
            w.u32(e.position)
        }
        for e in timeEntries {
            w.i64(e.maxTimestamp)
            w.u32(e.relativeOffset)
        }
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Decodes an index file and checks it against the segment it belongs to: an index whose
    /// recorded segment size differs from the file's is stale and must be rebuilt.
    /// - Parameters:
    ///   - expectedBaseOffset: the segment's base offset.
    ///   - segmentBytes: the segment's size; every position must fall inside it.
    public static func decode(
        _ buffer: UnsafeRawBufferPointer, expectedBaseOffset: Int64, segmentBytes: Int
    ) throws(FormatError) -> SparseIndex {
        var r = ByteReader(buffer)
        guard try r.u32("index.magic") == Self.magic else {
            throw r.error(.badMagic, "index.magic", at: 0, "not an index")
        }
        let version = try r.u16("index.version")
        guard version == Self.currentVersion else {
            throw r.error(.unsupportedVersion, "index.version", at: 4, "version \(version)")
        }
        _ = try r.u16("index.reserved")
        let base = try r.i64("index.baseOffset")
        let count = Int(try r.u32("index.entryCount"))
        let interval = Int(try r.u32("index.intervalBytes"))
        let indexedBytes = try r.u64("index.segmentBytes")
        let next = try r.i64("index.nextOffset")
        let firstTs = try r.i64("index.firstTimestamp")
        let maxTs = try r.i64("index.maxTimestamp")
        let expectedSize = Self.headerSize + count * 20 + 4
        guard buffer.count == expectedSize else {
            throw r.error(
                .outOfBounds, "index.entryCount", at: 16,
                "\(count) entries need \(expectedSize) bytes, file has \(buffer.count)")
        }
        let stored = buffer.loadUnaligned(fromByteOffset: buffer.count - 4, as: UInt32.self).littleEndian
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0 ..< (buffer.count - 4)]))
        guard stored == actual else {
            throw r.error(
                .checksumMismatch, "index.crc", at: buffer.count - 4,
                "stored 0x\(hex(stored)), computed 0x\(hex(actual))")
        }
        guard base == expectedBaseOffset else {
            throw r.error(
                .invalidValue, "index.baseOffset", at: 8, "index for \(base), segment is \(expectedBaseOffset)")
        }
        guard indexedBytes == UInt64(segmentBytes) else {
            throw r.error(
                .invalidValue, "index.segmentBytes", at: 24,
                "index covers \(indexedBytes) bytes, segment has \(segmentBytes)")
        }
        guard next >= base, maxTs >= firstTs || next == base else {
            throw r.error(.invalidValue, "index.nextOffset", at: 32, "inconsistent segment summary")
        }
        var index = SparseIndex(baseOffset: base, intervalBytes: interval)
        index.segmentBytes = segmentBytes
        index.nextOffset = next
        index.firstTimestamp = firstTs
        index.maxTimestamp = maxTs
        for _ in 0 ..< count {
            let entry = OffsetIndexEntry(
                relativeOffset: try r.u32("index.relativeOffset"), position: try r.u32("index.position"))
            guard Int(entry.position) >= SegmentHeader.size, Int(entry.position) < segmentBytes,
                entry.relativeOffset >= (index.offsetEntries.last?.relativeOffset ?? 0)
            else {
                throw r.error(
                    .invalidValue, "index.position", at: r.position - 4, "entry out of order or outside the segment")
            }
            index.offsetEntries.append(entry)
        }
        for _ in 0 ..< count {
            let entry = TimeIndexEntry(
                maxTimestamp: try r.i64("index.maxTimestamp"),
                relativeOffset: try r.u32("index.timeRelativeOffset"))
            // A running maximum never decreases; lookups binary-search on it.
            guard entry.maxTimestamp >= (index.timeEntries.last?.maxTimestamp ?? Int64.min) else {
                throw r.error(
                    .invalidValue, "index.maxTimestamp", at: r.position - 12, "time entries must not decrease")
            }
            index.timeEntries.append(entry)
        }
        return index
    }
}
