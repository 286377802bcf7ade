/// One log across both tiers (ARCHITECTURE.md invariant 6): offsets held locally are read from the
/// hot segments, older ones from the cold objects the manifest lists.
extension Topic {
    /// First readable offset: the manifest's log start when the topic has cold data, else the
    /// local start. A local log that starts at 0, or at the start `deleteRecords` set, has
    /// nothing older to read, so the cold store is not asked (a cold outage must not block a hot
    /// read, issue 12 item 4; the formula below gives the same answer there).
    public func logStartOffset() async throws(StrataError) -> Int64 {
        let local = localStartOffset
        if local == 0 || local == deletedBelow { return local }
        guard let manifest = try await cold.latestManifest(name) else { return local }
        return max(deletedBelow, min(local, max(manifest.logStartOffset, 0)))
    }

    /// The log start offset `deleteRecords` set (0 when never used): nothing below it is read.
    var deletedBelow: Int64 { state.withLock { $0.logStartOffset } }

    /// Records from `offset` on, whichever tier holds them. A cold read returns at most one
    /// frame's records.
    /// - Parameter readAhead: the caller reads sequentially: prefetch the next cold frames.
    /// A read at or above the local start never touches the cold store. A read-only topic
    /// re-reads its directory when the read reaches its high watermark or a segment is gone.
    /// - Throws: `offsetOutOfRange` with the valid range; `corrupt` naming file or object.
    public func read(
        from offset: Int64, maxBytes: Int = Topic.readBytesDefault, readAhead: Bool = false
    )
        async throws(StrataError) -> ReadResult
    {
        try await readTiered(
            from: offset, local: { (at) throws(StrataError) in try readLocal(from: at, maxBytes: maxBytes) },
            cold: { (manifest, end) async throws(StrataError) in
                let (records, next) = try await cold.read(
                    topic: name, manifest: manifest, from: offset, end: end, readAhead: readAhead)
                return ReadResult(records: records, nextOffset: next, highWatermark: highWatermark)
            })
    }

    /// Where a read from `offset` goes, for `read` and `readBatches`: `local` when the hot
    /// tier holds it (retried from the cold tier when it was evicted meanwhile), else `cold`
    /// with the manifest and the end of the cold part; the same range errors for both.
    func readTiered<R>(
        from offset: Int64, local: (Int64) throws(StrataError) -> R,
        cold readCold: (Manifest, Int64) async throws(StrataError) -> R
    ) async throws(StrataError) -> R {
        if isReadOnly, offset >= highWatermark { try refresh() }
        if offset < deletedBelow {
            throw StrataError(
                .offsetOutOfRange, "offset \(offset) is below the log start offset (records deleted)",
                topic: name, validRange: try await logStartOffset() ... highWatermark)
        }
        for attempt in 0 ..< 2 {
            let localStart = localStartOffset
            if offset >= localStart {
                do {
                    return try local(offset)
                } catch  where error.code == .notFound || (error.code == .offsetOutOfRange && offset < localStartOffset)
                {
                    if isReadOnly { try refresh() }  // another process evicted it
                    continue  // evicted under us: the segment is in the cold tier now
                }
            }
            guard let manifest = try await cold.latestManifest(name, refresh: attempt > 0),
                offset >= manifest.logStartOffset, offset < manifest.nextOffset
            else {
                if attempt == 0 { continue }
                let start = try await logStartOffset()
                throw StrataError(
                    .offsetOutOfRange, "offset \(offset) is outside the log", topic: name,
                    validRange: start ... highWatermark)
            }
            let end = min(manifest.nextOffset, localStart > offset ? localStart : manifest.nextOffset)
            return try await readCold(manifest, end)
        }
        let start = try await logStartOffset()
        throw StrataError(
            .offsetOutOfRange, "offset \(offset) is outside the log", topic: name,
            validRange: start ... highWatermark)
    }

    /// The first offset whose record has timestamp ≥ `timestamp`, across both tiers; the high
    /// watermark when every record is older.
    public func offset(forTimestamp timestamp: Int64) async throws(StrataError) -> Int64 {
        // Cold offsets all precede local ones, so a cold hit is the first in offset order; a
        // local log from offset 0 has no cold part before it.
        if localStartOffset == 0 { return try localOffset(forTimestamp: timestamp) }
        if let manifest = try await cold.latestManifest(name),
            let hit = try await cold.offset(forTimestamp: timestamp, topic: name, manifest: manifest)
        {
            return max(hit, deletedBelow)
        }
        return max(try localOffset(forTimestamp: timestamp), deletedBelow)
    }
}

extension Topic {
    /// The latest committed manifest (nil before the first offload).
    public func latestManifest(refresh: Bool = false) async throws(StrataError) -> Manifest? {
        try await cold.latestManifest(name, refresh: refresh)
    }
}

extension Topic {
    /// Every segment the cold tier holds for this topic, archived ones included, oldest first.
    public func coldSegments() async throws(StrataError) -> [ManifestSegment] {
        guard let manifest = try await cold.latestManifest(name) else { return [] }
        var all: [ManifestSegment] = []
        for reference in manifest.archives { all += try await cold.archive(reference, topic: name).segments }
        return all + manifest.segments
    }
}
