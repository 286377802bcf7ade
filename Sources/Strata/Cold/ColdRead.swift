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
        let frame = index.frames[number]
        let checked = try await self.frame(number, of: index, key: segment.key, topic: topic, sequential: readAhead)
        var records: [Record] = []
        for i in checked.batches.indices {
            let header = checked.batches[i].header
            guard header.lastOffset >= offset, header.baseOffset < end else { continue }
            checked.view(i, offsets: offset ..< max(offset, end)).withRecords { views in
                for view in views { records.append(view.record) }
            }
        }
        var next = min(end, frame.lastOffset + 1)
        if let damage = checked.damage {
            // The valid records before the damaged batch, then (next read) the typed error.
            guard let last = records.last else {
                throw Self.frameDamage(damage, frame: frame, key: segment.key, topic: topic)
            }
            next = last.offset + 1
        } else if readAhead && next == frame.lastOffset + 1 {
            release(number, of: index, key: segment.key)
        }
        guard records.first?.offset == offset || offset >= end else {
            throw StrataError(
                .corrupt, "frame \(number) does not hold offset \(offset)", topic: topic, file: segment.key,
                position: frame.objectOffset)
        }
        return (records, next)
    }

    /// A batch of a decoded frame that cannot be read, as the typed error naming object, frame
    /// and raw position.
    static func frameDamage(_ error: FormatError, frame: ColdFrame, key: String, topic: String) -> StrataError {
        var wrapped = StrataError(error, topic: topic, file: key)
        wrapped.message = "frame \(frame.frameNumber) (raw position \(error.position)): " + wrapped.message
        wrapped.position = frame.objectOffset
        return wrapped
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
                let frame = index.frames[number]
                let checked = try await self.frame(number, of: index, key: segment.key, topic: topic)
                if let damage = checked.damage {
                    throw Self.frameDamage(damage, frame: frame, key: segment.key, topic: topic)
                }
                for i in checked.batches.indices where checked.batches[i].header.maxTimestamp >= timestamp {
                    let hit = checked.view(i, offsets: manifest.logStartOffset ..< Int64.max).withRecords { views in
                        views.first(where: { $0.timestamp >= timestamp })?.offset
                    }
                    if let hit { return hit }
                }
                number += 1
            }
        }
        return nil
    }
}
