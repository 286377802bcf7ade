/// What `deleteRecords` did.
public struct DeleteRecordsResult: Sendable, Equatable {
    /// The first readable offset before and after the call.
    public var previousLogStartOffset: Int64
    public var logStartOffset: Int64
    public var localSegmentsDeleted: Int
    /// Cold objects (segments and archive manifests) that left the manifest and were deleted.
    public var coldObjectsDeleted: Int
    /// The manifest version committed with the new log start (nil: the cold tier did not change).
    public var manifestVersion: UInt64?
}

/// Kafka's DeleteRecords: the log start offset moves forward and nothing below it is readable
/// again, from the lake or from the bucket.
extension Topic {
    /// Makes `offset` the first readable offset of the topic, in this order: the new log start
    /// is recorded in the lake's catalog, durably (reads below it get `offsetOutOfRange` from then on,
    /// across restarts); an active segment holding only deleted records is rolled; the cold
    /// manifest, when there is one, gets a new version with the log start advanced and the
    /// entries wholly below it removed; local segments wholly below are deleted (offloaded or
    /// not); last, the objects that left the manifest are deleted. Every step is idempotent, so
    /// after a failure the same call finishes the work.
    /// - Parameter offset: the new log start, in `[0, highWatermark]`. An offset at or below
    ///   the current log start changes nothing (as in Kafka).
    /// - Throws: `offsetOutOfRange` (with the valid range) for an offset outside
    ///   `[0, highWatermark]`, and nothing is changed; `fenced` when another writer owns the
    ///   topic's manifest; `closed`; `io`.
    public func deleteRecords(before offset: Int64) async throws(StrataError) -> DeleteRecordsResult {
        let end = highWatermark
        let previous = try await logStartOffset()
        guard offset >= 0, offset <= end else {
            throw StrataError(
                .offsetOutOfRange, "delete-records offset \(offset) is outside the log; nothing was changed",
                topic: name, validRange: previous ... end)
        }
        try refuseIfReadOnly("delete records")
        try manifestWriter.checkNotFenced()
        // No offload pass may upload a segment this deletes; retention commits manifests too: one
        // commit at a time keeps them in order.
        await offloadPass.lock()
        defer { offloadPass.unlock() }
        return try await manifestWriter.commits.withLock { () async throws(StrataError) in
            try await deleteRecordsLocked(offset, previous: previous)
        }
    }

    private func deleteRecordsLocked(_ offset: Int64, previous: Int64) async throws(StrataError) -> DeleteRecordsResult
    {
        try manifestWriter.checkNotFenced()  // fenced (retired) while this waited for the locks
        if state.withLock({ $0.closed || $0.failure != nil }) {
            throw StrataError(.closed, "topic is closed or stopped after an I/O failure; reopen the lake", topic: name)
        }
        let target = max(offset, deletedBelow)
        if target > deletedBelow { try persistLogStart(target) }
        try rollIfOnlyDeleted(below: target)
        var result = DeleteRecordsResult(
            previousLogStartOffset: previous, logStartOffset: target, localSegmentsDeleted: 0,
            coldObjectsDeleted: 0, manifestVersion: nil)
        if let (manifest, removedKeys) = try await manifestAdvanced(to: target) {
            result.localSegmentsDeleted = try await commitLogStart(
                manifest, removedKeys: removedKeys, uncommittedToo: true)
            manifestWriter.committedOffset = manifest.nextOffset
            // Packed objects stay (other logs read them; scrub deletes them once unreferenced).
            result.coldObjectsDeleted = Set(removedKeys.filter { !BucketLayout.isPackedKeyRelative($0) }).count
            result.manifestVersion = manifest.version
        }
        result.localSegmentsDeleted += try deleteLocal(uncommittedToo: true) { segment, _, _ in
            segment.nextOffset <= target
        }
        result.logStartOffset = try await logStartOffset()
        return result
    }

    /// Reads the log start delete-records left in the lake's catalog into the topic's state
    /// (none: 0).
    func loadLogStart() throws(StrataError) {
        guard let offset = paths.catalog?.logStart(name) else { return }
        state.withLock { $0.logStartOffset = offset }
    }

    /// Records the new log start in the catalog, fdatasync'ed before either tier changes.
    private func persistLogStart(_ offset: Int64) throws(StrataError) {
        guard let catalog = paths.catalog else {
            throw StrataError(.io, "no topic catalog is open for this lake", topic: name)
        }
        try catalog.setLogStart(try validateLogName(name), offset)
        state.withLock { $0.logStartOffset = offset }
    }

    /// An active segment whose every record is below `target` is sealed, so it can go too.
    private func rollIfOnlyDeleted(below target: Int64) throws(StrataError) {
        try state.withLock { (s) throws(StrataError) in
            guard !s.active.isEmpty, s.active.nextOffset <= target else { return }
            try roll(&s, nowMs: clock.nowMs())
        }
    }

    /// The latest manifest with its log start moved to `target` and the archives and segments
    /// wholly below it removed, with the keys of what was removed; nil when nothing changes.
    private func manifestAdvanced(to target: Int64) async throws(StrataError) -> (Manifest, [String])? {
        let firstPass = !manifestWriter.ownershipChecked
        guard var manifest = manifestWriter.base(try await cold.latestManifest(name, refresh: firstPass))
        else { return nil }
        // Never edit a manifest this lake has not shown to be its own (see `verifyOwnership`).
        if firstPass {
            try await verifyOwnership(manifest)
            manifestWriter.ownershipChecked = true
        }
        guard manifest.logStartOffset < target else { return nil }
        var removed: [String] = []
        while let archive = manifest.archives.first, archive.lastOffset < target {
            removed += try await cold.archive(archive, topic: name).segments.map(\.key) + [archive.key]
            manifest.archives.removeFirst()
        }
        while manifest.archives.isEmpty, let segment = manifest.segments.first, segment.lastOffset < target {
            removed.append(segment.key)
            manifest.segments.removeFirst()
        }
        if manifest.archives.isEmpty && manifest.segments.isEmpty {
            // Nothing left in the cold tier: it resumes where the first remaining local segment
            // starts, which the offloader uploads next (its records below `target` stay
            // unreadable: the offloader keeps the log start at `deletedBelow`).
            let resume = state.withLock { s in s.segments.dropLast().first { $0.nextOffset > target } ?? s.active }
                .baseOffset
            manifest.nextOffset = max(manifest.nextOffset, resume)
            manifest.logStartOffset = manifest.nextOffset
        } else {
            manifest.logStartOffset = target
        }
        manifest.writerEpoch = manifestWriter.epoch(after: manifest)
        manifest.version += 1
        manifest.createdMs = clock.nowMs()
        return (manifest, removed)
    }
}
