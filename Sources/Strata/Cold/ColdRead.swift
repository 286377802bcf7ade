/// Reads of the cold tier: manifest → object footer → one frame → batches (ARCHITECTURE.md §1).
extension ColdTier {
    /// Frames fetched ahead for sequential readers (ARCHITECTURE.md §5).
    static let readAheadFrames = 2

    /// The records of the frame holding `offset`, from `offset` up to `end` (exclusive).
    /// One call reads at most one frame, so a random seek costs the footer and one frame.
    /// - Throws: `notFound`/`corrupt` naming the object key (and frame) when the manifest points
    ///   at something missing or damaged; never skips data.
    func read(
        topic: String, manifest: Manifest, from offset: Int64, end: Int64, readAhead: Bool
    )
        async throws(StrataError) -> (records: [Record], nextOffset: Int64)
    {
        guard let segment = try await segment(holding: offset, in: manifest) else {
            throw StrataError(
                .corrupt, "no cold object holds offset \(offset)", topic: topic,
                file: layout.manifestKey(topic: topic, version: manifest.version))
        }
        let index: ColdObjectIndex
        do throws(StrataError) { index = try await footer(of: segment, topic: topic) } catch
            where error.code == .corrupt
        {
            // The whole frames before the damage still read: those records now, the error next.
            if let salvaged = await salvage(topic: topic, segment: segment, from: offset, end: end) { return salvaged }
            throw error
        }
        guard let number = index.frameIndex(forOffset: offset) else {
            throw StrataError(.corrupt, "footer has no frame for offset \(offset)", topic: topic, file: segment.key)
        }
        if readAhead {
            prefetch(Array((number + 1) ... (number + Self.readAheadFrames)), of: index, key: segment.key, topic: topic)
        }
        let raw = try await frame(number, of: index, key: segment.key, topic: topic)
        let (batches, damage) = decodeBatchPrefix(raw, frame: index.frames[number], key: segment.key, topic: topic)
        var records: [Record] = []
        for batch in batches where batch.header.lastOffset >= offset && batch.header.baseOffset < end {
            for record in batch.records where record.offset >= offset && record.offset < end { records.append(record) }
        }
        var next = min(end, index.frames[number].lastOffset + 1)
        if let damage {
            // The valid records before the damaged batch, then (next read) the typed error.
            guard let last = records.last else { throw damage }
            next = last.offset + 1
        }
        guard records.first?.offset == offset || offset >= end else {
            throw StrataError(
                .corrupt, "frame \(number) does not hold offset \(offset)", topic: topic, file: segment.key,
                position: index.frames[number].objectOffset)
        }
        return (records, next)
    }

    /// Every batch of a decoded frame (frame 0 starts with the segment header).
    func decodeBatches(
        _ raw: [UInt8], frame: ColdFrame, key: String, topic: String
    ) throws(StrataError) -> [RecordBatch] {
        let (batches, damage) = decodeBatchPrefix(raw, frame: frame, key: key, topic: topic)
        if let damage { throw damage }
        return batches
    }

    /// The batches of a decoded frame up to the first that fails to decode, and that failure
    /// (naming object, frame and raw position).
    func decodeBatchPrefix(
        _ raw: [UInt8], frame: ColdFrame, key: String, topic: String
    ) -> (batches: [RecordBatch], damage: StrataError?) {
        var batches: [RecordBatch] = []
        let result = withBytesResult(raw) { (buffer) throws(FormatError) in
            var at = frame.rawOffset == 0 ? SegmentHeader.size : 0
            while at < buffer.count {
                let batch = try BatchCodec.decode(buffer, at: at, basePosition: frame.rawOffset)
                batches.append(batch)
                at += batch.header.batchLength
            }
        }
        guard case .failure(let error) = result else { return (batches, nil) }
        var wrapped = StrataError(error, topic: topic, file: key)
        wrapped.message = "frame \(frame.frameNumber) (raw position \(error.position)): " + wrapped.message
        wrapped.position = frame.objectOffset
        return (batches, wrapped)
    }

    /// The first offset with timestamp ≥ `timestamp` in the cold tier, or nil when every cold
    /// record is older.
    func offset(forTimestamp timestamp: Int64, topic: String, manifest: Manifest) async throws(StrataError) -> Int64? {
        var candidates: [ManifestSegment] = []
        for reference in manifest.archives {
            candidates += try await archive(reference, topic: topic).segments
        }
        candidates += manifest.segments
        for segment in candidates
        where segment.maxTimestamp >= timestamp && segment.lastOffset >= manifest.logStartOffset {
            let index = try await footer(of: segment, topic: topic)
            guard var number = index.frameIndex(forTimestamp: timestamp) else { continue }
            while number < index.frames.count {
                let raw = try await frame(number, of: index, key: segment.key, topic: topic)
                for batch in try decodeBatches(raw, frame: index.frames[number], key: segment.key, topic: topic)
                where batch.header.maxTimestamp >= timestamp {
                    if let hit = batch.records.first(where: {
                        $0.timestamp >= timestamp && $0.offset >= manifest.logStartOffset
                    }) {
                        return hit.offset
                    }
                }
                number += 1
            }
        }
        return nil
    }
}
