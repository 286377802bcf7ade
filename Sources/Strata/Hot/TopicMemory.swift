import Synchronization

/// What an open partition log costs while it stays open, and whether the registry may close it
/// (ARCHITECTURE.md §2j): the estimate the memory budget (`LakeOptions.partitionMemoryBytes`)
/// is checked against, the background work it still has, and whether it is idle.
extension Topic {
    /// Bytes of a log handle before its segments: the object, its locks, group commit, readers'
    /// waiters, manifest writer and strings (measured with `MemoryLayout` sizes and rounded up).
    static let handleBytes = 2048
    /// Bytes of one `LocalSegment` besides its index entries (two paths, the summary).
    static let segmentBytes = 256
    /// Bytes of one idempotent producer's state (`ProducerEntry` with its retained batches).
    static let producerBytes = 64 + ProducerStateTable.batchesRetained * MemoryLayout<ProducerBatch>.stride

    /// An estimate of what this open log holds in memory: segments and their sparse indexes,
    /// producer state, the appenders and readers waiting.
    var residentBytes: Int {
        let (segments, indexEntries, producers) = state.withLock { s in
            (
                s.segments.count,
                s.segments.reduce(0) { $0 + $1.index.offsetEntries.count + $1.index.timeEntries.count },
                s.producers.producers.count
            )
        }
        let entryBytes = max(MemoryLayout<OffsetIndexEntry>.stride, MemoryLayout<TimeIndexEntry>.stride)
        return Self.handleBytes + segments * Self.segmentBytes + indexEntries * entryBytes
            + producers * Self.producerBytes + readWaiters.count * 128
    }

    /// When this log next has background work (lake clock ms), nil when it has none: unflushed
    /// `async` records when the flush interval ends (now before it has started); sealed segments
    /// not yet offloaded now; local retention when
    /// its age or bytes bound can act; total retention while the log has cold data, every
    /// `totalRetentionCheckIntervalMs` (now for a handle that never checked); the active
    /// segment's age roll once it outlives `segmentMs`. A stopped, closed or damaged log has
    /// none (its failure is reported where it is used). `flush` false leaves the unflushed
    /// records out (an evicted `async` log's flush is its debt, Lake/FlushDebts.swift).
    func nextBackgroundWorkMs(nowMs: Int64, offload: Bool, flush: Bool = true) -> Int64? {
        let committed = manifestWriter.committedOffset
        let durable = groupCommit.durableOffset
        let flushMs =
            config.durability == .async ? groupCommit.flushDueMs(nowMs: nowMs, intervalMs: config.flushIntervalMs) : nowMs
        return state.withLock { (s) -> Int64? in
            guard s.failure == nil, !s.closed, !s.segments.contains(where: { $0.corruption != nil }) else { return nil }
            var next: Int64? = nil
            func due(_ ms: Int64) { next = min(next ?? ms, ms) }
            // Unflushed records: due when the flush interval ends, not at every tick until then
            // (a log revisited every tick took up to five of the tick's visits, and past about
            // 4,000 newly written logs a second the ticks fell behind: no flush, no eviction).
            if flush, config.durability == .async, s.writtenOffset > durable { due(flushMs) }
            if !s.active.isEmpty { due(s.active.createdMs + config.segmentMs) }
            guard offload else { return next }
            let sealed = s.segments.dropLast()
            if let lastSealed = sealed.last, (committed ?? Int64.min) < lastSealed.nextOffset { due(nowMs) }
            if sealed.count > 0 {
                if let bytes = config.localRetentionBytes,
                    sealed.reduce(Int64(0), { $0 + Int64($1.segmentBytes) }) > bytes
                {
                    due(nowMs)
                }
                if let ms = config.localRetentionMs { due(s.segments[1].createdMs + ms) }
            }
            if config.retentionMs != nil || config.retentionBytes != nil, (committed ?? 0) > 0 {
                let checked = totalRetentionCheckedMs.load(ordering: .relaxed)
                due(checked == Int64.min ? nowMs : checked + Self.totalRetentionCheckIntervalMs)
            }
            return next
        }
    }

    /// True when closing this handle loses nothing and stops nothing: every written record is
    /// durable in its segment or the journal no longer needs it (an `async` log's unflushed
    /// records may stay so: their flush is left as a debt, `flushDebt`, with the registry's
    /// `FlushDebts`, and no flush in progress), nobody waits to append or read,
    /// no offload pass runs, no background work is due before `nowMs`, and the log is healthy
    /// (damaged and stopped logs stay open so their state is reported). The caller also checks
    /// that nobody else holds the handle.
    func isEvictable(nowMs: Int64, offload: Bool) -> Bool {
        guard !readOnlyViewPresent, groupCommit.idle, !groupCommit.hasAppendsWaiting, readWaiters.count == 0 else {
            return false
        }
        let owesAFlush = owesOnlyAFlushWhenUnflushed
        if let next = nextBackgroundWorkMs(nowMs: nowMs, offload: offload, flush: !owesAFlush), next <= nowMs {
            return false
        }
        let (written, healthy) = state.withLock { s in
            (s.writtenOffset, s.failure == nil && !s.closed && !s.segments.contains { $0.corruption != nil })
        }
        guard healthy, owesAFlush || groupCommit.durableOffset >= written else { return false }
        if let journal, journal.holdsEntries(ofLog: name), groupCommit.segmentDurableOffset < written { return false }
        guard offloadPass.tryLock() else { return false }
        offloadPass.unlock()
        return true
    }

    private var readOnlyViewPresent: Bool { readOnlyView != nil }

    /// Closes an idle handle the registry evicts (under the registry lock, nobody else holding
    /// it): refuses further use, wakes nobody (no one waits) and closes its cached descriptors.
    /// No flush: it is durable already, or its flush is a debt (`isEvictable`); no producer snapshot: the next open
    /// rebuilds producer state from the newest snapshot and the batch headers after it.
    func closeEvicted() {
        let paths = state.withLock { s in
            s.closed = true
            return s.segments.map(\.path)
        }
        readWaiters.close()
        for path in paths { files.invalidate(path) }
    }
}
