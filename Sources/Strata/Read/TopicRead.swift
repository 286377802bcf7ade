/// Reads of the local tier: by offset through the sparse index, by timestamp through the time
/// index. Every batch read is CRC-checked (ARCHITECTURE.md invariant 7).
extension Topic {
    /// The local segments and the high watermark, once `offset` is checked to lie in
    /// `[local start, high watermark]` (the one range rule of `readLocal` and `readBatches`).
    /// - Throws: `offsetOutOfRange` with the valid range.
    func localSnapshot(checking offset: Int64) throws(StrataError) -> (segments: [LocalSegment], end: Int64) {
        let (segments, end) = logSnapshot()
        let start = max(segments[0].baseOffset, deletedBelow)
        guard offset >= start, offset <= end else {
            throw StrataError(
                .offsetOutOfRange, "offset \(offset) is outside the local log", topic: name,
                validRange: start ... end)
        }
        return (segments, end)
    }

    /// Default bound on bytes returned by one read.
    public static let readBytesDefault = 1024 * 1024

    /// Records of the local tier from `offset` on, up to the high watermark, about `maxBytes` of
    /// batches (at least one batch when any record is readable).
    /// - Throws: `offsetOutOfRange` (with the valid range) when `offset` is below the local
    ///   start or above the high watermark; `corrupt` naming file and position.
    public func readLocal(from offset: Int64, maxBytes: Int = Topic.readBytesDefault) throws(StrataError) -> ReadResult
    {
        let (segments, end) = try localSnapshot(checking: offset)
        var records: [Record] = []
        var next = offset
        var bytes = 0
        while next < end && bytes < maxBytes {
            let segment: LocalSegment
            let batches: [PositionedBatch]
            do throws(StrataError) {
                segment = try locate(next, in: segments)
                batches = try readBatches(
                    segment, from: segment.index.position(forOffset: next),
                    upTo: segment.segmentBytes, wantBytes: maxBytes - bytes, firstOffset: next)
            } catch  where !records.isEmpty && error.code == .corrupt {
                break  // what is valid up to the damage now; the next read, starting there, throws
            }
            guard !batches.isEmpty else { break }
            for batch in batches {
                // The segment can hold batches past the high watermark (written, not yet
                // fdatasync'ed in `sync` mode): they are not readable yet, and since `next` stops
                // at `end`, checking their continuity would report false corruption.
                if batch.header.baseOffset >= end { break }
                guard batch.header.baseOffset <= next else {
                    throw StrataError(
                        .corrupt, "expected offset \(next), found a batch starting at \(batch.header.baseOffset)",
                        topic: name, file: segment.path, position: batch.position)
                }
                bytes += batch.header.batchLength
                for record in batch.records where record.offset >= next && record.offset < end {
                    records.append(record)
                }
                next = min(end, max(next, batch.header.nextOffset))
            }
        }
        if records.isEmpty, next == end, let last = segments.last, let damage = last.corruption {
            // The log's end is a damaged batch, not the end of the data: say so instead of
            // answering "nothing more".
            throw damage.error(topic: name, path: last.path)
        }
        return ReadResult(records: records, nextOffset: next, highWatermark: end)
    }

    /// The offset of the first local record with timestamp ≥ `timestamp`, or the high
    /// watermark when there is none.
    public func localOffset(forTimestamp timestamp: Int64) throws(StrataError) -> Int64 {
        let (segments, end) = logSnapshot()
        for segment in segments where !segment.isEmpty && segment.index.maxTimestamp >= timestamp {
            var position = segment.index.position(forTimestamp: timestamp)
            while position < segment.segmentBytes {
                // Batches entirely below `timestamp` are skipped by header: only the batch that
                // holds the answer is decoded.
                let batches = try readBatches(
                    segment, from: position, upTo: segment.segmentBytes,
                    wantBytes: 1, firstOffset: nil, minTimestamp: timestamp)
                guard let last = batches.last else { break }
                for batch in batches where batch.header.maxTimestamp >= timestamp {
                    if let hit = batch.records.first(where: { $0.timestamp >= timestamp }) {
                        return min(hit.offset, end)
                    }
                }
                position = batchEnd(last, in: segment)
            }
        }
        return end
    }

    /// Whether `offset` is the end of the readable log because the batch there is damaged.
    func endsAtDamage(_ offset: Int64) -> Bool {
        state.withLock { s in s.active.corruption != nil && s.active.nextOffset == offset }
    }

    private func batchEnd(_ batch: PositionedBatch, in segment: LocalSegment) -> Int {
        batch.position + batch.header.batchLength
    }

    /// The segment holding `offset`; a hole between segments is corruption.
    func locate(_ offset: Int64, in segments: [LocalSegment]) throws(StrataError) -> LocalSegment {
        var lo = 0, hi = segments.count  // first segment with baseOffset > offset
        while lo < hi {
            let mid = (lo + hi) / 2
            if segments[mid].baseOffset <= offset { lo = mid + 1 } else { hi = mid }
        }
        let segment = segments[max(0, lo - 1)]
        if offset >= segment.nextOffset, let damage = segment.corruption {
            throw damage.error(topic: name, path: segment.path)
        }
        guard offset < segment.nextOffset || lo == segments.count else {
            throw StrataError(
                .corrupt, "offsets \(segment.nextOffset)..<\(segments[lo].baseOffset) are missing",
                topic: name, file: segment.path, position: segment.segmentBytes)
        }
        return segment
    }

    struct PositionedBatch {
        var position: Int
        var header: BatchHeader
        var records: [Record]
        /// The batch's bytes, CRC-checked, records not decoded (`keepBytes` reads only).
        var bytes: [UInt8] = []
    }

    /// Reads and decodes whole batches from `position` until about `wantBytes` are read or the
    /// segment's end. Batches entirely below `firstOffset`, or all older than `minTimestamp`,
    /// are checked and skipped. With `keepBytes` the batches are CRC-checked and kept as bytes,
    /// not decoded, and they stay within `wantBytes` (at least one).
    func readBatches(
        _ segment: LocalSegment, from position: Int, upTo end: Int, wantBytes: Int, firstOffset: Int64?,
        minTimestamp: Int64? = nil, keepBytes: Bool = false
    ) throws(StrataError) -> [PositionedBatch] {
        let path = segment.path
        var at = position
        while at < end {
            var chunk = try files.withFile(path) { (fd) throws(StrataError) in
                try FileIO.read(fd, count: min(end - at, max(wantBytes, 64 * 1024)), at: at, path: path)
            }
            // A batch longer than the chunk: read exactly that batch.
            if let needed = chunk.withUnsafeBytes({ BatchCodec.declaredLength($0) }), needed > chunk.count,
                at + needed <= end
            {
                let from = at
                chunk = try files.withFile(path) { (fd) throws(StrataError) in
                    try FileIO.read(fd, count: needed, at: from, path: path)
                }
            }
            let base = at
            let decoded = withBytesResult(chunk) { (raw) throws(FormatError) -> ([PositionedBatch], Int) in
                try decodeBatches(
                    raw, basePosition: base, firstOffset: firstOffset, minTimestamp: minTimestamp,
                    wantBytes: wantBytes, keepBytes: keepBytes)
            }
            guard case .success(let (batches, consumed)) = decoded else {
                if case .failure(let error) = decoded { throw StrataError(error, topic: name, file: path) }
                return []
            }
            if !batches.isEmpty { return batches }
            guard consumed > 0 else {
                throw StrataError(
                    .corrupt, "batch runs past the end of the segment (\(end) bytes)", topic: name,
                    file: path, position: at)
            }
            at += consumed
        }
        return []
    }

    /// Decodes the whole batches of `raw`; returns them and the bytes consumed (skipped
    /// batches included).
    private func decodeBatches(
        _ raw: UnsafeRawBufferPointer, basePosition: Int, firstOffset: Int64?, minTimestamp: Int64?, wantBytes: Int,
        keepBytes: Bool
    ) throws(FormatError) -> ([PositionedBatch], Int) {
        var result: [PositionedBatch] = []
        var at = 0
        var taken = 0
        while at + BatchHeader.size <= raw.count && (taken < wantBytes || result.isEmpty) {
            do throws(FormatError) {
                let header = try BatchCodec.parseHeader(raw, at: at, basePosition: basePosition)
                guard at + header.batchLength <= raw.count else { break }
                let belowOffset = firstOffset.map { header.lastOffset < $0 } ?? false
                let belowTime = minTimestamp.map { header.maxTimestamp < $0 } ?? false
                if belowOffset || belowTime {
                    _ = try BatchCodec.verify(raw, at: at, basePosition: basePosition)
                } else if keepBytes {
                    if !result.isEmpty && taken + header.batchLength > wantBytes { break }
                    _ = try BatchCodec.verify(raw, at: at, basePosition: basePosition)
                    let bytes = Array(UnsafeRawBufferPointer(rebasing: raw[at ..< (at + header.batchLength)]))
                    result.append(
                        PositionedBatch(position: basePosition + at, header: header, records: [], bytes: bytes))
                    taken += header.batchLength
                } else {
                    let batch = try BatchCodec.decode(raw, at: at, basePosition: basePosition)
                    result.append(PositionedBatch(position: basePosition + at, header: header, records: batch.records))
                    taken += header.batchLength
                }
                at += header.batchLength
            } catch {
                // One damaged batch must not hide the valid ones before it: return those; the
                // read that starts at the damaged batch throws.
                if result.isEmpty { throw error }
                break
            }
        }
        return (result, at)
    }
}
