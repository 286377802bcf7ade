/// Local and total retention (ARCHITECTURE.md invariant 4): a local segment is deleted only once a
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
        let committed = uncommittedToo ? Int64.max : manifestWriter.committedOffset ?? Int64.min
        var deleted = 0
        while true {
            // A closed topic (retired by `alterTopicConfig`) no longer owns its files.
            if state.withLock({ $0.closed }) { return deleted }
            let victim = removeOldestSegment { first, sealedMs, sealedBytes in
                // A damaged segment's bytes past its valid prefix are in no tier: never delete it.
                first.sealed && first.corruption == nil && first.nextOffset <= committed
                    && shouldDelete(first, sealedMs, sealedBytes)
            }
            guard let victim else { return deleted }
            files.invalidate(victim.path)
            try FileIO.remove(victim.path)
            try FileIO.remove(victim.indexPath)
            try FileIO.fsyncDirectory(paths.topicDirectory(name))
            deleted += 1
        }
    }

    /// Total retention: expired cold segments leave the chain first (a new manifest version,
    /// log start advanced), then their objects are deleted. The chain includes the archive
    /// manifests: an archive whose segments all expired drops out of the manifest, one that
    /// expired in part is written again holding the survivors (the chain must start at the log
    /// start), and only after the commit are the replaced archives and the objects deleted.
    private func applyTotalRetention() async throws(StrataError) {
        guard config.retentionMs != nil || config.retentionBytes != nil else { return }
        try manifestWriter.checkNotFenced()
        // Manifest commits of one topic must not race each other: an offload pass committing
        // the same version would lose to this lake itself and take it for a foreign writer.
        try await manifestWriter.commits.withLock { () async throws(StrataError) in
            try manifestWriter.checkNotFenced()  // fenced (retired) while this waited for the lock
            // A process that has not committed yet (a restart of an idle topic) expires too, once
            // it has shown the cold log to be its own, as an offload pass does first.
            if !manifestWriter.ownershipChecked {
                guard let fresh = try await cold.latestManifest(name, refresh: true) else { return }
                try await verifyOwnership(fresh)
                manifestWriter.ownershipChecked = true
            }
            try await applyTotalRetentionLocked()
        }
    }

    private func applyTotalRetentionLocked() async throws(StrataError) {
        guard let manifest = try await manifestWriter.base(cold.latestManifest(name)) else { return }
        var archived: [ArchiveManifest] = []
        for reference in manifest.archives { archived.append(try await cold.archive(reference, topic: name)) }
        let chain = archived.flatMap(\.segments) + manifest.segments
        let expiredCount = expiredPrefixCount(chain, nowMs: clock.nowMs())
        guard expiredCount > 0 else { return }
        let cut = try await cutChain(manifest, archived: archived, at: chain[expiredCount].baseOffset)
        let keys = chain.prefix(expiredCount).map(\.key) + cut.replacedArchiveKeys
        var next = cut.manifest
        next.writerEpoch = manifestWriter.epoch(after: manifest)
        try await commitLogStart(next, removedKeys: keys)
    }

    /// Commits `manifest` — the next version, its log start advanced and the entries below it
    /// removed — then deletes the local segments below the new log start and, last, the objects
    /// in `removedKeys`. A crash in between leaves orphans for `scrub`, never a manifest naming
    /// a missing object. The caller holds `manifestWriter.commits`.
    /// - Returns: the number of local segments deleted.
    @discardableResult
    func commitLogStart(
        _ manifest: Manifest, removedKeys: [String], uncommittedToo: Bool = false
    )
        async throws(StrataError) -> Int
    {
        try await manifestWriter.commit(manifest, to: cold)
        // Retention spans both tiers: local copies below the new log start go too, or reads
        // would still serve them from the hot tier.
        let logStart = manifest.logStartOffset
        let deleted = try deleteLocal(uncommittedToo: uncommittedToo) { segment, _, _ in
            segment.nextOffset <= logStart
        }
        // A packed object holds other logs' slices too: it is never deleted here, `scrub` deletes
        // it once no manifest of any log references it (ARCHITECTURE.md §2k).
        let removedKeys = removedKeys.filter { !BucketLayout.isPackedKeyRelative($0) }
        guard !removedKeys.isEmpty else { return deleted }
        let store = cold.store
        try await cold.blob("delete expired objects", key: removedKeys.first, topic: name) {
            try await store.delete(removedKeys)
        }
        return deleted
    }

    /// How many of the oldest chain segments are past total retention (by age of their newest
    /// record, or by the bytes of the whole chain). The newest segment never expires.
    private func expiredPrefixCount(_ chain: [ManifestSegment], nowMs: Int64) -> Int {
        var totalBytes = chain.reduce(Int64(0)) { $0 + $1.objectBytes }
        var expired = 0
        for segment in chain.dropLast() {
            let old = config.retentionMs.map { nowMs - segment.maxTimestamp >= $0 } ?? false
            let big = config.retentionBytes.map { totalBytes > $0 } ?? false
            guard old || big else { break }
            expired += 1
            totalBytes -= segment.objectBytes
        }
        return expired
    }

    /// The next manifest version with the chain starting at `logStart` (a segment's base
    /// offset), and the archive keys it no longer references. A partly expired archive is
    /// written again first, holding the survivors, under its own key; it keeps the old one's
    /// `createdMs` and `rewrite`, so a pass repeated after a crash writes the very same bytes.
    private func cutChain(
        _ manifest: Manifest, archived: [ArchiveManifest], at logStart: Int64
    ) async throws(StrataError) -> (manifest: Manifest, replacedArchiveKeys: [String]) {
        var next = manifest
        var references: [ArchiveReference] = []
        var replaced: [String] = []
        for (reference, archive) in zip(manifest.archives, archived) {
            if reference.baseOffset >= logStart {
                references.append(reference)
                continue
            }
            replaced.append(reference.key)
            guard reference.lastOffset >= logStart else { continue }
            let survivors = archive.segments.filter { $0.baseOffset >= logStart }
            // The rewrite id stays too: a rewritten archive's survivors never meet a document
            // an interrupted cut of the archive it replaced left under the plain key.
            let rewritten = ArchiveManifest(
                topic: name, segments: survivors, createdMs: archive.createdMs, rewrite: archive.rewrite)
            references.append(try await cold.putArchive(rewritten, topic: name, what: "rewrite archive manifest"))
        }
        next.archives = references
        next.segments.removeAll { $0.baseOffset < logStart }
        // delete-records may have moved the log start into a segment: never move it back.
        next.logStartOffset = max(manifest.logStartOffset, logStart)
        next.version += 1
        next.createdMs = clock.nowMs()
        return (next, replaced)
    }
}
