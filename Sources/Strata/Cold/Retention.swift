/// Local and total retention (DESIGN §4 invariant 4): a local segment is deleted only once a
/// committed manifest covers it; cold segments leave the manifest before their objects go.
extension Topic {
    /// Deletes local sealed segments past the topic's local retention (age since sealed, bytes),
    /// oldest first, only those committed to the cold tier. Then applies total retention.
    /// - Returns: the number of local segments deleted.
    @discardableResult
    public func applyRetention() async throws(StrataError) -> Int {
        try refuseIfReadOnly("apply retention")
        let deleted = try deleteLocal { segment, sealedMs, sealedBytesAfter in
            if let ms = config.localRetentionMs, clock.nowMs() - sealedMs >= ms { return true }
            if let bytes = config.localRetentionBytes, sealedBytesAfter > bytes { return true }
            return false
        }
        try await applyTotalRetention()
        return deleted
    }

    /// Deletes every local sealed segment already committed to the cold tier (`offload --evict`).
    @discardableResult
    public func evictCommitted() async throws(StrataError) -> Int {
        try refuseIfReadOnly("evict")
        return try deleteLocal { _, _, _ in true }
    }

    /// Deletes sealed segments from the oldest while `shouldDelete(segment, sealedMs,
    /// sealedBytesBeforeDeleting)` holds and the segment is committed (`uncommittedToo`: also
    /// when it is not, for records deleted on purpose by `deleteRecords`).
    func deleteLocal(
        uncommittedToo: Bool = false, _ shouldDelete: (LocalSegment, Int64, Int64) -> Bool
    ) throws(StrataError) -> Int {
        let committed = uncommittedToo ? Int64.max : offload.withLock { $0.committedOffset } ?? Int64.min
        var deleted = 0
        while true {
            let victim: LocalSegment? = state.withLock { s in
                // A closed topic (retired by `alterTopicConfig`) no longer owns its files.
                guard !s.closed, s.segments.count > 1 else { return nil }
                let first = s.segments[0]
                let sealedBytes = s.segments.dropLast().reduce(Int64(0)) { $0 + Int64($1.segmentBytes) }
                // A damaged segment's bytes past its valid prefix are in no tier: never delete it.
                guard first.sealed, first.corruption == nil, first.nextOffset <= committed,
                      shouldDelete(first, s.segments[1].createdMs, sealedBytes) else { return nil }
                s.segments.removeFirst()
                return first
            }
            guard let victim else { return deleted }
            files.invalidate(victim.path)
            try FileIO.remove(victim.path)
            try FileIO.remove(victim.indexPath)
            try FileIO.fsyncDirectory(paths.topicDirectory(name))
            deleted += 1
        }
    }

    /// Total retention: expired cold segments leave the manifest first (new version, log start
    /// advanced), then their objects are deleted. Archived segments are not expired here.
    private func applyTotalRetention() async throws(StrataError) {
        guard config.retentionMs != nil || config.retentionBytes != nil,
              offload.withLock({ $0.fenced == nil && $0.writerEpoch != nil }) else { return }
        // Manifest commits of one topic must not race each other: an offload pass committing
        // the same version would lose to this lake itself and take it for a foreign writer.
        guard try beginOffload() else { return }
        defer { offload.withLock { $0.busy = false } }
        guard var manifest = try await cold.latestManifest(name) else { return }
        let now = clock.nowMs()
        var totalBytes = manifest.segments.reduce(Int64(0)) { $0 + $1.objectBytes }
        var expired: [ManifestSegment] = []
        for segment in manifest.segments.dropLast() {
            let old = config.retentionMs.map { now - segment.maxTimestamp >= $0 } ?? false
            let big = config.retentionBytes.map { totalBytes > $0 } ?? false
            guard old || big else { break }
            expired.append(segment)
            totalBytes -= segment.objectBytes
        }
        guard !expired.isEmpty, manifest.archives.isEmpty else { return }
        manifest.segments.removeFirst(expired.count)
        manifest.logStartOffset = manifest.segments[0].baseOffset
        try await commitLogStart(manifest, removedKeys: expired.map(\.key))
    }

    /// Commits `manifest` — the latest one with its log start advanced and the entries below it
    /// removed — as the next version, then deletes the local segments below the new log start
    /// and, last, the objects in `removedKeys`. A crash in between leaves orphans for `scrub`,
    /// never a manifest naming a missing object. The caller holds the offload slot.
    /// - Returns: the number of local segments deleted.
    @discardableResult
    func commitLogStart(_ manifest: Manifest, removedKeys: [String], uncommittedToo: Bool = false)
        async throws(StrataError) -> Int
    {
        var manifest = manifest
        manifest.version += 1
        manifest.createdMs = clock.nowMs()
        try await cold.commit(manifest)
        // Retention spans both tiers: local copies below the new log start go too, or reads
        // would still serve them from the hot tier.
        let logStart = manifest.logStartOffset
        let deleted = try deleteLocal(uncommittedToo: uncommittedToo) { segment, _, _ in
            segment.nextOffset <= logStart
        }
        guard !removedKeys.isEmpty else { return deleted }
        let store = cold.store
        try await cold.blob("delete expired objects", key: removedKeys.first, topic: name) {
            try await store.delete(removedKeys)
        }
        return deleted
    }
}
