/// One stored batch as it is on disk and in the cold objects (formats/batch.md), CRC-checked,
/// its records not decoded.
public struct StoredBatch: Sendable, Equatable {
    public var header: BatchHeader
    /// The whole batch, header included (`header.batchLength` bytes).
    public var bytes: [UInt8]
}

/// Whole batches read from a topic, in offset order.
public struct BatchReadResult: Sendable, Equatable {
    /// The first holds the offset asked for (and may start before it); the next follow it.
    public var batches: [StoredBatch]
    /// Offset to read from next: one past the last batch returned (the offset asked for when
    /// nothing was returned).
    public var nextOffset: Int64
    public var highWatermark: Int64
    /// First readable offset (`logStartOffset()`).
    public var logStartOffset: Int64
}

/// Reading whole stored batches, for the Kafka front door's Fetch (DESIGN.md §8): no record is
/// decoded; each batch's CRC is checked once on the way out. Tiers are chosen exactly as
/// `read(from:)` chooses them (`readTiered`), and local batches are found through the same
/// `locate` and sparse index.
extension Topic {
    /// Whole batches from the one holding `offset` on, hot or cold: following batches are added
    /// while the total stays within `maxBytes`, but the first one always comes back whatever its
    /// size (so a consumer makes progress). A cold read stops at the end of the cold part (the
    /// next read continues in the hot tier).
    /// - Parameters:
    ///   - maxBytes: bound on the bytes of the batches returned after the first; ≥ 1.
    ///   - readAhead: prefetch the next cold frames (on by default: fetches are sequential).
    /// - Throws: `offsetOutOfRange` with the valid range (below the log start, deleted records,
    ///   above the high watermark); `corrupt` naming file or object once the batches before the
    ///   damage were returned; `invalidArgument` for `maxBytes` < 1.
    public func readBatches(
        from offset: Int64, maxBytes: Int = Topic.readBytesDefault, readAhead: Bool = true
    ) async throws(StrataError) -> BatchReadResult {
        guard maxBytes >= 1 else {
            throw StrataError(.invalidArgument, "maxBytes must be at least 1, is \(maxBytes)", topic: name)
        }
        let (batches, next) = try await readTiered(
            from: offset,
            local: { (at) throws(StrataError) in try readLocalBatches(from: at, maxBytes: maxBytes) },
            cold: { (manifest, end) async throws(StrataError) in
                try await cold.readBatches(
                    topic: name, manifest: manifest, from: offset, end: end, maxBytes: maxBytes, readAhead: readAhead)
            })
        return BatchReadResult(
            batches: batches, nextOffset: next, highWatermark: highWatermark, logStartOffset: try await logStartOffset()
        )
    }

    /// Record batches from the one holding `offset` on, hot or cold, as views of their bytes:
    /// no `Record` is built and cold batches are not copied out of the frame cache. Tiers,
    /// bounds and errors are `readBatches`'; each view yields the records from `offset` up to
    /// the high watermark (or the end of the cold part), every CRC and record checked.
    /// - Parameters:
    ///   - maxBytes: bound on the bytes of the batches returned after the first; ≥ 1.
    ///   - readAhead: prefetch the next cold frames (the caller reads sequentially).
    /// - Returns: the views and the offset to read from next.
    /// - Throws: as `readBatches`.
    public func readViews(
        from offset: Int64, maxBytes: Int = Topic.readBytesDefault, readAhead: Bool = true
    ) async throws(StrataError) -> (views: [RecordBatchView], nextOffset: Int64) {
        guard maxBytes >= 1 else {
            throw StrataError(.invalidArgument, "maxBytes must be at least 1, is \(maxBytes)", topic: name)
        }
        return try await readTiered(
            from: offset,
            local: { (at) throws(StrataError) in try readLocalViews(from: at, maxBytes: maxBytes) },
            cold: { (manifest, end) async throws(StrataError) in
                try await cold.readViews(
                    topic: name, manifest: manifest, from: offset, end: end, maxBytes: maxBytes, readAhead: readAhead)
            })
    }

    /// The local part of `readViews`: `readLocalBatches`' batches, their records checked (their
    /// CRC was, once). A batch whose records do not check ends the views; alone, it throws.
    func readLocalViews(from offset: Int64, maxBytes: Int) throws(StrataError) -> ([RecordBatchView], Int64) {
        let (batches, next) = try readLocalStored(from: offset, maxBytes: maxBytes)
        var views: [RecordBatchView] = []
        views.reserveCapacity(batches.count)
        var from = offset
        for (batch, path, position) in batches {
            do throws(FormatError) {
                views.append(
                    try RecordBatchView(
                        bytes: batch.bytes, header: batch.header, offsets: from ..< max(from, next),
                        basePosition: position))
            } catch {
                if views.isEmpty { throw StrataError(error, topic: name, file: path) }
                return (views, from)  // the next read, starting at the damaged batch, throws
            }
            from = batch.header.nextOffset
        }
        return (views, next)
    }

    /// The local part of `readBatches`, with `readLocal`'s range, continuity and damage rules.
    func readLocalBatches(from offset: Int64, maxBytes: Int) throws(StrataError) -> ([StoredBatch], Int64) {
        let (batches, next) = try readLocalStored(from: offset, maxBytes: maxBytes)
        return (batches.map(\.batch), next)
    }

    /// `readLocalBatches` with each batch's segment file and position in it.
    private func readLocalStored(
        from offset: Int64, maxBytes: Int
    ) throws(StrataError) -> ([(batch: StoredBatch, path: String, position: Int)], Int64) {
        let (segments, end) = try localSnapshot(checking: offset)
        var out: [(batch: StoredBatch, path: String, position: Int)] = []
        var next = offset
        var bytes = 0
        reading: while next < end && bytes < maxBytes {
            let segment: LocalSegment
            let batches: [PositionedBatch]
            do throws(StrataError) {
                segment = try locate(next, in: segments)
                batches = try readBatches(
                    segment, from: segment.index.position(forOffset: next), upTo: segment.segmentBytes,
                    wantBytes: maxBytes - bytes, firstOffset: next, keepBytes: true)
            } catch  where !out.isEmpty && error.code == .corrupt {
                break  // the batches before the damage now; the next read, starting there, throws
            }
            guard !batches.isEmpty else { break }
            for batch in batches {
                // Written but not yet durable (`sync`): not readable yet.
                if batch.header.baseOffset >= end { break reading }
                guard batch.header.baseOffset <= next else {
                    throw StrataError(
                        .corrupt, "expected offset \(next), found a batch starting at \(batch.header.baseOffset)",
                        topic: name, file: segment.path, position: batch.position)
                }
                if !out.isEmpty && bytes + batch.header.batchLength > maxBytes { break reading }
                bytes += batch.header.batchLength
                out.append((StoredBatch(header: batch.header, bytes: batch.bytes), segment.path, batch.position))
                next = min(end, max(next, batch.header.nextOffset))
            }
        }
        if out.isEmpty, next == end, let last = segments.last, let damage = last.corruption {
            throw damage.error(topic: name, path: last.path)
        }
        return (out, next)
    }
}

extension ColdTier {
    /// Whole batches of the cold tier from the one holding `offset`, up to `end` (exclusive),
    /// through the frame cache: frames of one object, then the next objects, while the total
    /// stays within `maxBytes` (the first batch always). With `readAhead` the next frames are
    /// prefetched, so a replay from offset 0 is a sequential scan.
    /// - Throws: `notFound`/`corrupt` naming the object key and frame, once the batches before
    ///   the damage were returned; never skips data.
    func readBatches(
        topic: String, manifest: Manifest, from offset: Int64, end: Int64, maxBytes: Int, readAhead: Bool
    ) async throws(StrataError) -> ([StoredBatch], Int64) {
        let (views, _) = try await readViews(
            topic: topic, manifest: manifest, from: offset, end: end, maxBytes: maxBytes, readAhead: readAhead)
        // Whole batches: the next read starts after the last one, even past `end`.
        let next = views.last?.header.nextOffset ?? offset
        return (views.map { StoredBatch(header: $0.header, bytes: $0.withBatchBytes { Array($0) }) }, next)
    }

    /// `readBatches` as views of the cached frames' bytes (no copy), each yielding the records
    /// from `offset` up to `end`. Their CRCs and records were checked when the frame was decoded.
    /// - Returns: the views and the offset after the last record they yield (at most `end`).
    func readViews(
        topic: String, manifest: Manifest, from offset: Int64, end: Int64, maxBytes: Int, readAhead: Bool
    ) async throws(StrataError) -> ([RecordBatchView], Int64) {
        var out: [RecordBatchView] = []
        var next = offset
        var bytes = 0
        while next < end && bytes < maxBytes {
            do throws(StrataError) {
                let full = try await readObjectViews(
                    topic: topic, manifest: manifest, next: &next, end: end, maxBytes: maxBytes, bytes: &bytes,
                    into: &out, readAhead: readAhead)
                if full { break }
            } catch  where !out.isEmpty {
                break  // the batches before the damage now; the next read, starting there, throws
            }
        }
        return (out, min(next, end))
    }

    /// Adds the batches of the object holding `next` to `out`; returns true when `maxBytes` or
    /// `end` stopped it.
    private func readObjectViews(
        topic: String, manifest: Manifest, next: inout Int64, end: Int64, maxBytes: Int, bytes: inout Int,
        into out: inout [RecordBatchView], readAhead: Bool
    ) async throws(StrataError) -> Bool {
        let manifestKey = layout.manifestKey(topic: topic, version: manifest.version)
        guard let segment = try await segment(holding: next, in: manifest) else {
            throw StrataError(.corrupt, "no cold object holds offset \(next)", topic: topic, file: manifestKey)
        }
        let index: ColdObjectIndex
        do throws(StrataError) { index = try await footer(of: segment, topic: topic) } catch
            where error.code == .corrupt && out.isEmpty
        {
            // As `read(from:)`: the whole frames before the damage still read, then the error.
            guard
                let salvaged = await salvageViews(
                    topic: topic, segment: segment, from: next, end: end, maxBytes: maxBytes)
            else {
                throw error
            }
            out = salvaged
            next = salvaged.last?.header.nextOffset ?? next
            return true
        }
        guard var number = index.frameIndex(forOffset: next) else {
            throw StrataError(.corrupt, "footer has no frame for offset \(next)", topic: topic, file: segment.key)
        }
        while number < index.frames.count {
            if readAhead {
                prefetch(
                    Array((number + 1) ... (number + Self.readAheadFrames)), of: index, key: segment.key, topic: topic)
            }
            let frame = index.frames[number]
            let checked = try await self.frame(number, of: index, key: segment.key, topic: topic, sequential: readAhead)
            for i in checked.batches.indices where checked.batches[i].header.lastOffset >= next {
                let header = checked.batches[i].header
                if header.baseOffset >= end { return true }
                guard header.baseOffset <= next else {
                    throw StrataError(
                        .corrupt, "frame \(number) does not hold offset \(next)", topic: topic, file: segment.key,
                        position: frame.objectOffset)
                }
                if !out.isEmpty && bytes + header.batchLength > maxBytes { return true }
                bytes += header.batchLength
                out.append(checked.view(i, offsets: next ..< end))
                next = header.nextOffset
                if next >= end { return true }
            }
            if let damage = checked.damage {
                throw Self.frameDamage(damage, frame: frame, key: segment.key, topic: topic)
            }
            // Every batch of this frame is in `out` now: a frame only this reader used leaves the cache.
            if readAhead { release(number, of: index, key: segment.key) }
            number += 1
        }
        guard next > segment.lastOffset else {
            throw StrataError(
                .corrupt, "object ends before offset \(next) (the manifest says it holds up to \(segment.lastOffset))",
                topic: topic, file: segment.key)
        }
        return false
    }

    /// `salvage` for batches: the whole batches from the one holding `offset` (below `end`) that
    /// the whole frames at the start of a damaged object hold, within `maxBytes` and about one
    /// frame's bytes (the first always), up to the first whose records do not check; nil when
    /// none holds `offset`. A repair path only: it fetches the whole object.
    func salvageViews(
        topic: String, segment: ManifestSegment, from offset: Int64, end: Int64, maxBytes: Int
    ) async -> [RecordBatchView]? {
        let (key, range) = (segment.key, segment.blobRange)
        let fetched = try? await blob("get damaged object", key: key, topic: topic) {
            try await store.get(key, range: range)
        }
        guard let data = fetched else { return nil }
        let raw = Self.wholeFramePrefix(data.bytes, rawBytesMax: Int(segment.rawBytes))
        let batches = raw.withUnsafeBytes { buffer -> [RecordBatchView] in
            guard let header = try? SegmentHeader.decode(buffer), header.baseOffset == segment.baseOffset else {
                return []
            }
            let scan = SegmentScanner.scan(buffer, from: SegmentHeader.size, expectedOffset: header.baseOffset)
            var wanted: [RecordBatchView] = []
            var rawBytes = 0
            for batch in scan.batches where batch.header.lastOffset >= offset && batch.header.baseOffset < end {
                let length = batch.header.batchLength
                guard wanted.isEmpty || (rawBytes + length <= maxBytes && rawBytes < Self.salvageReadRawBytesMax)
                else { break }
                let bytes = Array(
                    UnsafeRawBufferPointer(rebasing: buffer[batch.position ..< (batch.position + length)]))
                guard
                    let view = try? RecordBatchView(
                        bytes: bytes, header: batch.header, offsets: offset ..< end, basePosition: batch.position)
                else { break }
                wanted.append(view)
                rawBytes += length
            }
            return wanted
        }
        guard let first = batches.first, first.header.baseOffset <= offset else { return nil }
        return batches
    }
}
