import Foundation
import Glibc
import StrataBlob
import Synchronization

/// The background loop: rolls by age, async flushes, offload and retention, then table passes,
/// for the logs with work due only (`TopicRegistry.work`), then eviction beyond the memory budget.
extension Lake {
    /// Flushes `async` topics on their interval and rolls segments that outlived `segmentMs`,
    /// every `backgroundIntervalMs` of the lake's clock (a test's manual clock drives it).
    func startBackground() {
        let (registry, options, tables, journal) = (self.registry, self.options, self.tables, self.journal)
        let (reopen, sync) = (Self.reopener(self), filesystemSync)
        let (compaction, compact) = (self.compaction, Self.compactor(self))
        let task = Task.detached {
            while !Task.isCancelled {
                do { try await options.clock.sleep(ms: options.backgroundIntervalMs) } catch { return }
                if Task.isCancelled { return }
                // Deletes rolled journal files a roll-triggered checkpoint could not (off the pool).
                if let journal { DispatchQueue.global().async { journal.checkpoint() } }
                await Self.backgroundTick(registry, options, tables, sync, reopen: reopen, waitForTables: false)
                _ = Self.startCompactionIfDue(compaction, options, compact)
            }
        }
        background.withLock { $0 = task }
    }

    /// One round of background work (internal so tests drive it with a manual clock); it waits
    /// for the table and compaction passes it starts, so a test sees their outcome when it returns.
    func backgroundTick() async {
        await Self.backgroundTick(
            registry, options, tables, filesystemSync, reopen: Self.reopener(self), waitForTables: true)
        // The loop's own tick may have started it (a test's manual clock wakes the loop too).
        let started = Self.startCompactionIfDue(compaction, options, Self.compactor(self))
        await (started ?? compaction.running)?.value
    }

    /// Starts a compaction of packed objects when its interval has passed (Cold/BackgroundCompaction.swift).
    private static func startCompactionIfDue(
        _ compaction: BackgroundCompaction, _ options: LakeOptions, _ compact: @escaping @Sendable () async -> Void
    ) -> Task<Void, Never>? {
        guard options.backgroundOffload else { return nil }
        return compaction.startIfDue(
            nowMs: options.clock.nowMs(), intervalMs: options.packedCompactionIntervalMs, compact)
    }

    /// One background compaction pass; holds the lake only while it runs.
    private static func compactor(_ lake: Lake) -> @Sendable () async -> Void {
        { [weak lake] in await lake?.compactInBackground() }
    }

    /// Opens an evicted log again when its work falls due (an age roll, local retention); holds
    /// the lake weakly, so a dropped lake still releases its lock at once.
    private static func reopener(_ lake: Lake) -> @Sendable (String) -> Topic? {
        { [weak lake] name in
            guard let lake, let log = try? validateLogName(name) else { return nil }
            return try? lake.load(log)
        }
    }

    static func backgroundTick(
        _ registry: TopicRegistry, _ options: LakeOptions, _ tables: TableWriter, _ sync: FilesystemSync,
        reopen: @Sendable (String) -> Topic?, waitForTables: Bool
    ) async {
        let pass = await visitDue(registry, options, tables, sync, reopen: reopen)
        // Tables follow what this tick committed, in a task of their own: a slow or failing table
        // pass never holds up the next tick's offload, retention, rolls or flushes.
        if waitForTables { await pass?.value }
        await evictIdle(registry, options, sync)
    }

    /// The logs with work due: rolled by age, flushed, offloaded and retention applied, then
    /// scheduled for what they still need (or forgotten). Returns the table pass it started.
    private static func visitDue(
        _ registry: TopicRegistry, _ options: LakeOptions, _ tables: TableWriter, _ sync: FilesystemSync,
        reopen: @Sendable (String) -> Topic?
    ) async -> Task<Void, Never>? {
        let now = options.clock.nowMs()
        // Taken with the open logs locked: a log evicted after its name was taken would have its
        // work rescheduled by the eviction and be reopened here for nothing (under a tight
        // memory budget, a reopen for each of thousands). Every log not open now was evicted
        // with this work due, and is reopened for it.
        let found = registry.topics.withLock { logs in
            var found: (open: [Topic], evicted: [String]) = ([], [])
            for name in registry.work.takeDue(nowMs: now, limit: TopicRegistry.visitsPerTickMax) {
                if let open = logs.peek(name) { found.open.append(open) } else { found.evicted.append(name) }
            }
            return found
        }
        var due = found.open
        for name in found.evicted { if let topic = reopen(name) { due.append(topic) } }
        var flushing: [Topic] = []
        for topic in due {
            // Cleared before the visit looks: a write from now on marks the log again.
            topic.backgroundWorkMarked.store(false, ordering: .sequentiallyConsistent)
            topic.rollIfAged()
            if topic.config.durability == .async, topic.flushDue(nowMs: now) { flushing.append(topic) }
        }
        await flush(flushing, registry.debts.takeDue(nowMs: now), registry, sync, options)
        var pass: Task<Void, Never>? = nil
        if options.backgroundOffload {
            // Small sealed segments of the due logs share packed objects first (Cold/PackedOffload.swift,
            // §2k); `maintain` offloads what is left as objects of their own.
            if options.packSegmentBytesMax > 0 { _ = await PackedOffload.run(due, options: options, explicit: false) }
            _ = await concurrentMap(due, atOnce: options.offloadConcurrency) { await maintain($0, options) }
            pass = tables.startPassForChangedTopics(due) { registry.topics.withLock { $0.values } }
        }
        for topic in due {
            if let next = topic.nextBackgroundWorkMs(nowMs: now, offload: options.backgroundOffload) {
                registry.work.mark(topic.name, dueMs: next)
            }
        }
        return pass
    }

    /// The `async` flushes due, of open logs and evicted ones (`owed`, Lake/FlushDebts.swift):
    /// one syncfs when there are many (Lake/FilesystemSync.swift), else each log's own
    /// fdatasync, `TopicRegistry.closeConcurrencyMax` at once, and each debt's. A log whose
    /// flush fails is stopped by it (its appends then fail), as always.
    private static func flush(
        _ topics: [Topic], _ owed: [(name: String, debt: FlushDebts.Debt)], _ registry: TopicRegistry,
        _ sync: FilesystemSync, _ options: LakeOptions
    ) async {
        let (synced, failure) = await sync.sync(FilesystemSync.dirty(topics), debts: owed.count)
        if let failure { options.log("background flush: syncfs failed, flushing each log itself: \(failure)") }
        if synced { return }
        _ = await concurrentMap(topics, atOnce: TopicRegistry.closeConcurrencyMax) { try? await $0.flush() }
        _ = await registry.pay(owed, sync, log: options.log)
    }

    /// One background pass over a topic: offload what is sealed, then apply retention.
    private static func maintain(_ topic: Topic, _ options: LakeOptions) async {
        do {
            try await topic.offloadSealed(lagMs: topic.config.offloadLagMs)
            try await topic.applyRetention()
            topic.totalRetentionCheckedMs.store(options.clock.nowMs(), ordering: .relaxed)
        } catch {
            if !Task.isCancelled { options.log("background offload topic=\(topic.name): \(error)") }
        }
    }
}
