/// What `appendBatch` did with a batch.
public struct BatchAppendResult: Sendable, Equatable {
    /// Offset of the batch's first record.
    public var firstOffset: Int64
    /// Offset of its last record.
    public var lastOffset: Int64
    /// True when the batch was a retry of one this log already holds (same producer id, epoch
    /// and sequence range): nothing was written and the offsets are the stored batch's. A Kafka
    /// server answers it as a success (NONE) with those offsets.
    public var duplicate: Bool
}

/// Appending pre-encoded batches (the Kafka front door's Produce, DESIGN.md §8): the batch is
/// checked as a reader would check it, then stamped with its offset under the state lock and
/// written like `append` writes, with idempotent producers checked under the same lock.
extension Topic {
    /// Appends one encoded Strata batch (formats/batch.md) whose base offset is a placeholder:
    /// the batch is checked (header, CRC, every record, `batchBytesMax`, `recordBytesMax`), its
    /// base offset set to the log's end and its CRC recomputed, then it is written as is. In
    /// `sync` mode it returns once the batch is fdatasync'ed (sharing the fsync with concurrent
    /// appends, as `append`); in `async` mode once it is written.
    ///
    /// When the header's producer id is ≥ 0 the batch comes from an idempotent producer
    /// (`Lake.allocateProducerId`); its epoch and base sequence are checked against the
    /// producer state of this log (ProducerState.swift): a retry of a stored batch writes
    /// nothing and returns the stored offsets with `duplicate` set (once they are durable).
    /// - Parameter batch: exactly one batch, nothing after it.
    /// - Throws: `StrataError` — `.corrupt` (bad header, CRC or record; nothing is written),
    ///   `.tooLarge` (batch or record over its limit), `.invalidArgument` (bytes after the batch,
    ///   inconsistent producer fields), `.outOfOrderSequence`, `.invalidProducerEpoch`,
    ///   `.unknownProducerId` (nothing is written), `.busy`, `.io`, `.closed`, `.readOnly`.
    @discardableResult
    public func appendBatch(_ batch: consuming [UInt8]) async throws(StrataError) -> BatchAppendResult {
        let header = try checkIncomingBatch(batch)
        let waitsForFsync = config.durability == .sync
        if waitsForFsync { try groupCommit.reserveAppend() }
        defer { if waitsForFsync { groupCommit.releaseAppend() } }
        let result = try appendBatchWrite(batch, header: header)
        if waitsForFsync { try await waitDurable(result.lastOffset + 1) }
        return result
    }

    /// Everything a reader would check, before any lock is taken.
    private func checkIncomingBatch(_ batch: [UInt8]) throws(StrataError) -> BatchHeader {
        guard batch.count <= config.batchBytesMax else {
            throw StrataError(
                .tooLarge, "batch is \(batch.count) bytes, limit batchBytesMax=\(config.batchBytesMax)", topic: name)
        }
        let checked = withBytesResult(batch) { (raw) throws(FormatError) in try BatchCheck.check(raw) }
        let header: BatchHeader
        let largestRecord: Int
        switch checked {
        case .success(let value): (header, largestRecord) = value
        case .failure(let error):
            throw StrataError(
                .corrupt, "batch rejected, nothing stored: \(error.field): \(error.message)", topic: name,
                position: error.position, cause: error.code.rawValue)
        }
        guard header.batchLength == batch.count else {
            throw StrataError(
                .invalidArgument, "\(batch.count - header.batchLength) bytes follow the batch", topic: name,
                position: header.batchLength)
        }
        guard largestRecord <= config.recordBytesMax else {
            throw StrataError(
                .tooLarge, "a record is \(largestRecord) bytes, limit recordBytesMax=\(config.recordBytesMax)",
                topic: name)
        }
        if header.producerId >= 0 {
            guard header.producerEpoch >= 0, header.baseSequence >= 0 else {
                throw StrataError(
                    .invalidArgument,
                    "producer \(header.producerId) batch has epoch \(header.producerEpoch) and base sequence "
                        + "\(header.baseSequence); both must be ≥ 0", topic: name)
            }
        } else if header.producerId != -1 || header.producerEpoch != -1 || header.baseSequence != -1 {
            throw StrataError(
                .invalidArgument,
                "batch without a producer must carry producer id, epoch and base sequence -1, has "
                    + "\(header.producerId), \(header.producerEpoch), \(header.baseSequence)", topic: name)
        }
        return header
    }

    private func appendBatchWrite(
        _ input: consuming [UInt8], header: BatchHeader
    ) throws(StrataError) -> BatchAppendResult {
        let now = clock.nowMs()
        let idempotent = header.producerId >= 0
        var batch = input
        return try state.withLock { (s) throws(StrataError) -> BatchAppendResult in
            try checkWritable(s)
            if idempotent {
                let decision = try s.producers.check(
                    producerId: header.producerId, epoch: header.producerEpoch,
                    firstSequence: header.baseSequence, recordCount: header.recordCount, topic: name)
                if case .duplicate(let stored) = decision {
                    return BatchAppendResult(
                        firstOffset: stored.firstOffset, lastOffset: stored.lastOffset, duplicate: true)
                }
            }
            let first = s.writtenOffset
            Self.stamp(&batch, baseOffset: first)
            try rollIfNeeded(&s, incomingBytes: batch.count, nowMs: now)
            try write(batch, into: &s)
            let last = s.writtenOffset - 1
            if idempotent {
                let sequences = ProducerBatch(
                    firstSequence: header.baseSequence,
                    lastSequence: ProducerStateTable.lastSequence(
                        first: header.baseSequence, recordCount: header.recordCount),
                    firstOffset: first, lastOffset: last)
                s.producers.record(
                    producerId: header.producerId, epoch: header.producerEpoch, batch: sequences, nowMs: now)
            }
            if config.durability == .async { readWaiters.publish(visibleEnd: s.writtenOffset) }
            return BatchAppendResult(firstOffset: first, lastOffset: last, duplicate: false)
        }
    }

    /// `batch` with its base offset set and its CRC updated (the CRC covers the base offset,
    /// formats/batch.md).
    /// In place: no copy when the caller handed over the only reference to the batch. The CRC is
    /// patched for the 8 changed bytes (`CRC32C.replacing`), not recomputed over the whole batch: a
    /// stored CRC that was right stays right, and one that was wrong stays wrong (a recompute
    /// would have blessed bytes damaged since they were checked).
    static func stamp(_ batch: inout [UInt8], baseOffset: Int64) {
        batch.withUnsafeMutableBytes { raw in
            let offsetAt = 16
            let old = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offsetAt, as: UInt64.self))
            let new = UInt64(bitPattern: baseOffset)
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            let crc = CRC32C.replacing(stored, old: old, new: new, bytesAfter: raw.count - offsetAt - 8)
            raw.storeBytes(of: new.littleEndian, toByteOffset: offsetAt, as: UInt64.self)
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 8, as: UInt32.self)
        }
    }

    static func stamp(_ batch: [UInt8], baseOffset: Int64) -> [UInt8] {
        var stamped = batch
        stamp(&stamped, baseOffset: baseOffset)
        return stamped
    }
}

// MARK: - Producer state on disk

extension Topic {
    /// Writes the producer snapshot covering the log below the written end unless it is written
    /// already; keeps the newest two snapshot files. Called with the state locked: at each roll
    /// (after the sealed segment is fdatasync'ed, so the snapshot never covers bytes that could
    /// be lost; written even when no producer is known, so that an open replays the headers of
    /// the active segment only), at close when producers are known (after the final flush), and
    /// once after an open that found no usable snapshot and replayed more than
    /// `replayedHeadersBeforeSnapshot` headers.
    func writeProducerSnapshot(_ s: inout TopicState) throws(StrataError) {
        guard s.producers.snapshotOffset != s.writtenOffset else { return }
        s.producers.expire(nowMs: clock.nowMs())
        let snapshot = ProducerSnapshot(
            offset: s.writtenOffset, lastBatchBaseOffset: s.producers.lastBatch?.baseOffset ?? -1,
            lastBatchCrc: s.producers.lastBatch?.crc ?? 0, producers: s.producers.producers)
        try FileIO.writeAtomically(paths.producerSnapshot(name, offset: snapshot.offset), snapshot.encode())
        s.producers.snapshotOffset = snapshot.offset
        let offsets = try FileIO.listDirectory(paths.topicDirectory(name))
            .compactMap(LakePaths.producerSnapshotOffset(fileName:)).sorted(by: >)
        for old in offsets.dropFirst(2) { try FileIO.remove(paths.producerSnapshot(name, offset: old)) }
    }

    /// Batch headers an open replays without a usable snapshot before it writes one: a few
    /// `pread`s of a small log's headers cost less than a snapshot file's write, fsync, rename and
    /// directory fsync, which an evicted log would pay at its first reopen.
    static let replayedHeadersBeforeSnapshot = 1_024

    /// The close-time snapshot (after the final flush); a stopped topic writes none, since its
    /// files' state is unknown (the next open rebuilds from the log).
    func writeProducerSnapshotOnClose() throws(StrataError) {
        guard !isReadOnly else { return }
        try state.withLock { (s) throws(StrataError) in
            guard s.failure == nil, !s.producers.producers.isEmpty, groupCommit.durableOffset >= s.writtenOffset
            else { return }
            try writeProducerSnapshot(&s)
        }
    }

    /// Rebuilds the producer state when the topic is opened: from the newest snapshot that
    /// matches the log, then the batch headers after it (only headers are read); from every
    /// local batch header when no snapshot fits. Snapshots beyond the log's end or naming a
    /// batch the log no longer holds are removed (they describe bytes recovery cut).
    /// `listing`: the directory's names when the caller knows them (as `Topic.open`).
    func recoverProducerState(listing: [String]? = nil) throws(StrataError) {
        let (segments, written) = state.withLock { ($0.segments, $0.writtenOffset) }
        let localStart = segments[0].baseOffset
        var table = ProducerStateTable()
        var from = localStart
        var usable = false
        let names: [String]
        if let listing { names = listing } else { names = try FileIO.listDirectory(paths.topicDirectory(name)) }
        let offsets = names
            .compactMap(LakePaths.producerSnapshotOffset(fileName:)).sorted(by: >)
        for offset in offsets {
            let path = paths.producerSnapshot(name, offset: offset)
            if let snapshot = try usableSnapshot(path, offset: offset, segments: segments, written: written) {
                table.producers = snapshot.producers
                table.snapshotOffset = snapshot.offset
                if snapshot.lastBatchBaseOffset >= 0 {
                    table.lastBatch = (snapshot.lastBatchBaseOffset, snapshot.lastBatchCrc)
                }
                if snapshot.offset < localStart {
                    log(
                        "producer snapshot topic=\(name) file=\(path) covers below \(snapshot.offset), the local log "
                            + "starts at \(localStart): producers of the batches between are not known")
                }
                from = max(snapshot.offset, localStart)
                usable = true
                break
            }
            try FileIO.remove(path)
        }
        let now = clock.nowMs()
        var replayed = 0
        do throws(StrataError) {
            try walkBatchHeaders(from: from, to: written, in: segments) { header in
                table.replay(header, nowMs: now)
                table.lastBatch = (header.baseOffset, header.crc)
                replayed += 1
            }
        } catch {
            log("producer state topic=\(name): batch headers from \(from) unreadable, state kept so far: \(error)")
        }
        table.expire(nowMs: now)
        try state.withLock { (s) throws(StrataError) in
            s.producers = table
            // A long replay is done once, not at every open until the next roll; a short one is
            // cheaper than the snapshot's two fsyncs (an evicted small log reopens often).
            if !usable && replayed > Self.replayedHeadersBeforeSnapshot { try writeProducerSnapshot(&s) }
        }
    }

    /// The snapshot at `path` when it decodes and fits the log; nil (logged) otherwise.
    private func usableSnapshot(
        _ path: String, offset: Int64, segments: [LocalSegment], written: Int64
    ) throws(StrataError) -> ProducerSnapshot? {
        let snapshot: ProducerSnapshot
        let bytes = try FileIO.readWholeFile(path)
        do throws(FormatError) { snapshot = try ProducerSnapshot.decode(bytes) } catch {
            log("producer snapshot topic=\(name) file=\(path) is damaged, not used: \(error)")
            return nil
        }
        guard snapshot.offset == offset, offset <= written else {
            log("producer snapshot topic=\(name) file=\(path) is beyond the log's end \(written), not used")
            return nil
        }
        guard snapshot.lastBatchBaseOffset >= segments[0].baseOffset else { return snapshot }
        var found: BatchHeader? = nil
        do throws(StrataError) {
            try walkBatchHeaders(from: snapshot.lastBatchBaseOffset, to: offset, in: segments) { header in
                if found == nil { found = header }
            }
        } catch {
            log("producer snapshot topic=\(name) file=\(path): its last batch is unreadable, not used: \(error)")
            return nil
        }
        guard let found, found.baseOffset == snapshot.lastBatchBaseOffset, found.crc == snapshot.lastBatchCrc,
            found.nextOffset == offset
        else {
            log("producer snapshot topic=\(name) file=\(path) names a batch the log no longer holds, not used")
            return nil
        }
        return snapshot
    }

    /// Bytes read at a time by `walkBatchHeaders`: small, so the body of a large batch is
    /// skipped, not read.
    static let headerWalkChunkBytes = 8 * 1024

    /// Calls `body` with the header of every local batch holding offsets in `[from, to)`, in
    /// offset order, reading headers only (8 KiB at a time, skipping over batch bodies).
    func walkBatchHeaders(
        from: Int64, to end: Int64, in segments: [LocalSegment], _ body: (BatchHeader) -> Void
    ) throws(StrataError) {
        guard from < end else { return }
        for segment in segments where !segment.isEmpty && segment.nextOffset > from && segment.baseOffset < end {
            let path = segment.path
            var position = segment.index.position(forOffset: max(from, segment.baseOffset))
            let stop = segment.segmentBytes
            while position < stop {
                let at = position
                let chunk = try files.withFile(path) { (fd) throws(StrataError) in
                    try FileIO.read(fd, count: min(stop - at, Self.headerWalkChunkBytes), at: at, path: path)
                }
                let walked = withBytesResult(chunk) { (raw) throws(FormatError) -> Int in
                    var i = 0
                    while i + BatchHeader.size <= raw.count {
                        let header = try BatchCodec.parseHeader(raw, at: i, basePosition: at)
                        if header.baseOffset >= end { return Int.max }
                        if header.lastOffset >= from { body(header) }
                        i += header.batchLength
                    }
                    return i
                }
                switch walked {
                case .failure(let error): throw StrataError(error, topic: name, file: path)
                case .success(Int.max): return
                case .success(let consumed):
                    guard consumed > 0 else {
                        throw StrataError(
                            .corrupt, "batch header runs past the segment's end", topic: name, file: path,
                            position: at)
                    }
                    position += consumed
                }
            }
        }
    }
}
