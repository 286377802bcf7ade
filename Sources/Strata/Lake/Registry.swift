import Dispatch
import Foundation
import Glibc
import StrataBlob
import Synchronization

/// The open partition logs: opening one (under the registry lock), evicting idle ones beyond the
/// memory budget, and closing them all (ARCHITECTURE.md §2j).
extension Lake {
    /// The open handle of `log`, opened (recovered from its directory) when it has none.
    ///
    /// The files are read outside the registry lock: a reopen under a tight memory budget (a
    /// listing, the active segment's scan, the producer headers) would otherwise stall every
    /// lookup of every other log behind it. One open per log at a time is kept by the log's
    /// stripe of `TopicRegistry.opening`, held from the first look to the insert; a delete or
    /// close that began meanwhile is found by the second look, and the handle is dropped.
    func load(_ log: LogName) throws(StrataError) -> Topic {
        let name = log.description
        if closed.withLock({ $0 }) { throw StrataError(.closed, "lake is closed", topic: name) }
        let config = try storedConfig(log.topic)
        return try registry.opening(name).lock.withLock { (_) throws(StrataError) -> Topic in
            let looked = try registry.topics.withLock { (open) throws(StrataError) -> (Topic?, Bool) in
                if let existing = open[name] { return (existing, false) }
                if closed.withLock({ $0 }) { throw StrataError(.closed, "lake is closed", topic: name) }
                // `deleteTopic` marks the topic deleting before it lists the open logs, and waits
                // for the opens under way (`TopicRegistry.waitForOpens`) before its files go.
                guard topicExists(log.topic) else {
                    throw StrataError(.notFound, "topic '\(log.topic)' does not exist in \(path)", topic: name)
                }
                return (nil, open.takeFresh(name))
            }
            if let existing = looked.0 { return existing }
            options.beforeLogFilesRead?(name)
            let topic = try openFiles(log, config: config, fresh: looked.1)
            return try registry.topics.withLock { (open) throws(StrataError) -> Topic in
                let stopped =
                    closed.withLock({ $0 })
                    ? StrataError(.closed, "lake is closed", topic: name)
                    : topicExists(log.topic)
                        ? nil : StrataError(.notFound, "topic '\(log.topic)' does not exist in \(path)", topic: name)
                if let stopped {
                    topic.closeEvicted()
                    throw stopped
                }
                // What an evicted handle of this log left unflushed is this handle's to flush.
                if let debt = registry.debts.take(name) { topic.takeOn(debt) }
                open[name] = topic
                if !isReadOnly {
                    // The next tick looks at what a freshly opened log still needs (sealed segments
                    // to offload, an age roll), then schedules it or forgets it.
                    registry.work.mark(name, dueMs: Int64.min)
                    open.evict(
                        budgetBytes: options.partitionMemoryBytes, examineMax: TopicRegistry.evictionsPerOpenMax,
                        nowMs: options.clock.nowMs(), offload: options.backgroundOffload, work: registry.work,
                        debts: registry.debts)
                }
                return topic
            }
        }
    }

    /// `load`'s reading of the log's directory: its segments recovered, its log start and
    /// producer state loaded. `fresh`: the directory is as this lake made it, empty.
    private func openFiles(_ log: LogName, config: TopicConfig, fresh: Bool) throws(StrataError) -> Topic {
        let name = log.description
        var fresh = fresh
        // A read-only lake sees a partition never written as an empty log (ReadOnlySegmentLoader).
        // The new directory's entry becomes durable with the log's first segment fsync
        // (Topic.beforeSegmentFsync: every writer's handle starts with it pending, see
        // Topic.open), not here: a partition costs no fsync until it holds a record.
        if log.partition > 0, !isReadOnly, !fresh {
            fresh = try FileIO.makeDirectories(paths.topicDirectory(name))
        }
        // A directory made empty here (or by this topic's create) has nothing to list; any
        // other is listed once, for the segments and the producer snapshots both.
        let listing: [String]? =
            fresh ? [] : isReadOnly ? nil : try FileIO.listDirectory(paths.topicDirectory(name))
        let topic =
            isReadOnly
            ? try Topic.openReadOnly(
                name: name, config: config, paths: paths, files: files, clock: options.clock,
                log: options.log, cold: cold, startOffset: startOffset(name))
            : try Topic.open(
                name: name, config: config, paths: paths, files: files, clock: options.clock,
                log: options.log, cold: cold, startOffset: startOffset(name),
                limits: options.topicLimits, beforeGroupFsync: options.beforeGroupFsync, journal: journal,
                metadataBarrier: metadataBarrier,
                backgroundWork: registry.work, listing: listing)
        do throws(StrataError) {
            try topic.loadLogStart()
            if !isReadOnly { try topic.recoverProducerState(listing: listing) }
        } catch {
            topic.closeEvicted()
            throw error
        }
        return topic
    }

    /// Closes idle logs beyond `LakeOptions.partitionMemoryBytes` (the background tick's pass),
    /// after estimating open logs afresh, a bounded number a tick (`OpenLogs.refreshResidentBytes`):
    /// what a log holds grows after it opens, and an open's eviction refreshes only the
    /// candidates it examines.
    ///
    /// A `sync` log the lake journal covers has its records durable in the journal, not yet in
    /// its segment (a checkpoint fdatasyncs segments only when a journal file rolls, at
    /// `journalBytes`): it cannot be closed until its segment is durable, or a checkpoint would
    /// have nothing to fsync it through. So first, over the budget, the least recently used
    /// such logs have their segments made durable (one syncfs when there are many,
    /// Lake/FilesystemSync.swift), at most `TopicRegistry.visitsPerTickMax` a tick.
    static func evictIdle(_ registry: TopicRegistry, _ options: LakeOptions, _ sync: FilesystemSync) async {
        await syncSegmentsBeforeEviction(registry, options, sync)
        registry.topics.withLock { open in
            open.evict(
                budgetBytes: options.partitionMemoryBytes, examineMax: open.count, nowMs: options.clock.nowMs(),
                offload: options.backgroundOffload, work: registry.work, debts: registry.debts)
        }
    }

    /// `evictIdle`'s first step, in a function of its own: the handles it holds are released
    /// when it returns, before eviction checks that the registry's reference is the only one.
    private static func syncSegmentsBeforeEviction(
        _ registry: TopicRegistry, _ options: LakeOptions, _ sync: FilesystemSync
    ) async {
        let candidates = registry.topics.withLock { open in
            open.refreshResidentBytes()
            return open.leastRecentlyUsed(
                beyondBudget: options.partitionMemoryBytes, limit: TopicRegistry.visitsPerTickMax)
        }
        let dirty = FilesystemSync.dirty(candidates.filter { $0.journal != nil && $0.groupCommit.idle })
        if !dirty.isEmpty {
            let (synced, failure) = await sync.sync(dirty)
            if let failure { options.log("eviction: syncfs failed, fsyncing each segment itself: \(failure)") }
            if !synced {
                // fdatasync blocks: on Dispatch threads, never the cooperative pool. The handles
                // are dropped before the wait ends (a Dispatch block may be released later).
                final class Held: Sendable {
                    let logs: Mutex<[(topic: Topic, written: Int64)]>
                    init(_ logs: [(topic: Topic, written: Int64)]) { self.logs = Mutex(logs) }
                }
                let (held, count) = (Held(dirty), dirty.count)
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().async {
                        _ = Journal.concurrently(count, threads: Journal.closeSyncThreads) { i in
                            let (topic, written) = held.logs.withLock { $0[i] }
                            return topic.syncSegment(upTo: written)
                        }
                        held.logs.withLock { $0 = [] }
                        continuation.resume()
                    }
                }
            }
        }
    }

    /// Flushes every topic, stops background work and releases the lock. The lake cannot be
    /// used afterwards, also when this throws: every topic is closed and the lock released
    /// whatever fails.
    /// - Throws: `io` naming the first topic whose final flush (fdatasync) failed: records
    ///   written to it since its last flush may not be durable.
    public func close() async throws(StrataError) {
        guard !closed.withLock({ $0 }) else { return }
        // Before the lake is marked closed: a compaction pass under way finishes the object it
        // writes and commits its moves, which open logs, and a closed lake opens none.
        await compaction.stop()
        let alreadyClosed = closed.withLock { c in
            defer { c = true }
            return c
        }
        guard !alreadyClosed else { return }
        // An open under way inserts its handle now (closed below) or finds the lake closed.
        await registry.waitForOpens()
        let task = background.withLock { t in
            t?.cancel()
            return t
        }
        await task?.value
        await tables.stopBackgroundPass()
        let open = registry.topics.withLock { $0.values }
        // Evicted logs' flushes too (Lake/FlushDebts.swift); one that failed before is reported.
        let all = registry.debts.takeAll()
        let owed = all.filter { $0.debt.failure == nil }
        // Many dirty logs: one syncfs for all (FilesystemSync.swift); the closes below then
        // find nothing to flush.
        let dirty = FilesystemSync.dirty(open)
        let (synced, failure) = await filesystemSync.sync(dirty, debts: owed.count)
        if synced { options.log("close: one syncfs of \(paths.root) made \(dirty.count + owed.count) logs durable") }
        if let failure {
            options.log(
                "close: syncfs of \(paths.root) failed, flushing its \(dirty.count + owed.count) logs one by one: \(failure)")
        }
        var firstFailure = await Self.closeConcurrently(open, options)
        if let failed = all.first(where: { $0.debt.failure != nil }) {
            options.log("close: evicted log \(failed.name) lost its flush earlier: \(failed.debt.failure!)")
            firstFailure = firstFailure ?? failed.debt.failure
        }
        if !synced, let failed = await registry.pay(owed, filesystemSync, log: options.log) {
            firstFailure = firstFailure ?? failed
            _ = registry.debts.takeAll()
        }
        do throws(StrataError) { try journal?.close() } catch {
            options.log("close: journal checkpoint failed, the journal is kept for recovery: \(error)")
            firstFailure = firstFailure ?? error
        }
        do throws(StrataError) { try closeMetadata() } catch {
            options.log("close: the topic metadata store did not close cleanly: \(error)")
            firstFailure = firstFailure ?? error
        }
        files.closeAll()
        if lockFD >= 0 { FileIO.close(lockFD) }
        if let firstFailure { throw firstFailure }
    }

    /// Closes `topics` at most `TopicRegistry.closeConcurrencyMax` at once (their final flushes
    /// overlap); returns the first failure in the order given, after every topic is closed.
    private static func closeConcurrently(_ topics: [Topic], _ options: LakeOptions) async -> StrataError? {
        let failures = await concurrentMap(topics, atOnce: TopicRegistry.closeConcurrencyMax) { (topic) -> StrataError? in
            do throws(StrataError) { try await topic.close() } catch {
                options.log("close topic=\(topic.name): final flush failed: \(error)")
                return error
            }
            return nil
        }
        return failures.lazy.compactMap { $0 }.first
    }
}

/// The lake's open logs, and the logs with background work pending (ARCHITECTURE.md §2j).
final class TopicRegistry: Sendable {
    let topics = Mutex(OpenLogs())
    /// Logs with background work due, by log name (Lake/Background.swift).
    let work = BackgroundWork()
    /// The flushes evicted `async` logs owe (Lake/FlushDebts.swift).
    let debts = FlushDebts()

    /// Topics closed at once by `Lake.close`.
    static let closeConcurrencyMax = 64
    /// syncfs calls that made many logs durable at once (Lake/FilesystemSync.swift).
    let filesystemSyncs = Atomic<Int>(0)
    /// Candidates one open looks at for eviction (the background tick looks at all of them).
    static let evictionsPerOpenMax = 8
    /// One lock per stripe of log names, held by `Lake.load` from its first look at the open
    /// logs to the insert of the handle it opened: one open per log at a time, outside `topics`.
    private let stripes: [OpenStripe] = (0 ..< 64).map { _ in OpenStripe() }

    final class OpenStripe: Sendable {
        let lock = Mutex(())
    }

    /// The lock `Lake.load` holds while it opens log `name`.
    func opening(_ name: String) -> OpenStripe { stripes[Int(UInt(bitPattern: name.hashValue) % 64)] }

    /// Returns once every open under way when it was called has inserted its handle or given
    /// up: after a topic is marked deleting or the lake closed, no open of it is still writing.
    /// The locks are waited for on a Dispatch thread, never one of the cooperative pool's two.
    func waitForOpens() async {
        let stripes = stripes
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                for stripe in stripes { stripe.lock.withLock { _ in } }
                continuation.resume()
            }
        }
    }

    /// Logs one background tick visits at most (an evicted log it opens again counts): the rest
    /// stay due for the next tick, so a burst of due work never opens every log at once.
    static let visitsPerTickMax = 4096
}

/// The open log handles by log name, in least-recently-used order, with the memory they hold.
///
/// At most one handle per log is ever alive: a handle is evicted only when the registry holds
/// its only reference (nobody can obtain another without this lock), so whoever still holds a
/// handle (a cursor, a Kafka request, the journal) is handed the same one by the next lookup.
struct OpenLogs {
    private struct Entry {
        var topic: Topic
        var lastUse: UInt64
        var bytes: Int
    }

    private var entries: [String: Entry] = [:]
    /// Log names in the order they were last used, oldest first, from `orderHead`; an item whose
    /// use is not its entry's `lastUse` is stale (the log was used again later).
    private var order: [(name: String, use: UInt64)] = []
    private var orderHead = 0
    /// Where in `order` the next `refreshResidentBytes` resumes.
    private var refreshAt = 0
    private var useCount: UInt64 = 0
    /// The open handles' `residentBytes` as last estimated.
    private(set) var residentBytes = 0
    /// Handles evicted since the lake opened.
    private(set) var evictions = 0
    /// Logs whose directory this lake made empty and no handle has opened since: their first
    /// open lists nothing (Lake.load). Marked before the topic or partition can be looked up,
    /// taken by the first open under this lock, so no later handle skips what a former one wrote.
    private var freshDirectories: Set<String> = []

    /// Notes that log `name`'s directory was just made, empty.
    mutating func markFresh(_ name: String) { freshDirectories.insert(name) }

    /// Whether log `name`'s directory is still as it was made (and forgets it: only its first
    /// open may skip the listing).
    mutating func takeFresh(_ name: String) -> Bool { freshDirectories.remove(name) != nil }

    /// Whether log `name` is marked fresh, without taking the mark.
    func isFresh(_ name: String) -> Bool { freshDirectories.contains(name) }

    /// The open handle of `name` (a use: it becomes the most recently used); setting nil
    /// forgets it, setting a handle adds it.
    subscript(name: String) -> Topic? {
        mutating get {
            guard entries[name] != nil else { return nil }
            use(name)
            return entries[name]?.topic
        }
        set {
            if let old = entries.removeValue(forKey: name) { residentBytes -= old.bytes }
            guard let topic = newValue else { return }
            let bytes = topic.residentBytes
            entries[name] = Entry(topic: topic, lastUse: 0, bytes: bytes)
            residentBytes += bytes
            use(name)
        }
    }

    /// The open handle of `name`, without counting a use (the background tick).
    func peek(_ name: String) -> Topic? { entries[name]?.topic }

    /// Every open handle.
    var values: [Topic] { entries.values.map(\.topic) }
    var count: Int { entries.count }

    private mutating func use(_ name: String) {
        useCount += 1
        entries[name]?.lastUse = useCount
        order.append((name, useCount))
        if order.count - orderHead > 2 * entries.count + 64 { compactOrder() }
    }

    private mutating func compactOrder() {
        order = entries.map { ($0.key, $0.value.lastUse) }.sorted { $0.use < $1.use }
        orderHead = 0
        refreshAt = 0
    }

    /// Estimates open handles afresh (logs grow after they open: index entries, producers,
    /// segments), so the total `evict` compares with the budget stays current: up to `limit`
    /// handles a call, resuming in `order` where the last call stopped and going round it, so
    /// a tick's work under the registry's lock is bounded whatever the number of open handles
    /// (a full pass over 100,000 handles took about 15 ms, every tick, with creates and opens
    /// waiting on the lock). Every handle is estimated again within (open handles / `limit`)
    /// calls; with no more than `limit` open, every one each call.
    mutating func refreshResidentBytes(limit: Int = Self.refreshesPerCallMax) {
        let items = order.count - orderHead
        guard items > 0 else { return }
        if refreshAt < orderHead || refreshAt >= order.count { refreshAt = orderHead }
        // Stale items are skipped but counted: `order` holds at most 2 x entries + 64 of them.
        var (refreshed, stepped) = (0, 0)
        while refreshed < limit, stepped < min(items, 2 * limit + 64) {
            let (name, use) = order[refreshAt]
            refreshAt = refreshAt + 1 == order.count ? orderHead : refreshAt + 1
            stepped += 1
            guard let index = entries.index(forKey: name), entries.values[index].lastUse == use else { continue }
            let bytes = entries.values[index].topic.residentBytes
            residentBytes += bytes - entries.values[index].bytes
            entries.values[index].bytes = bytes
            refreshed += 1
        }
    }

    /// How many handles one `refreshResidentBytes` estimates at most (the background tick's).
    static let refreshesPerCallMax = 16_384

    /// The least recently used handles whose estimates add up to what the open logs exceed
    /// `budgetBytes` by (eviction's first candidates), at most `limit`, oldest first.
    func leastRecentlyUsed(beyondBudget budgetBytes: Int, limit: Int) -> [Topic] {
        var excess = residentBytes - budgetBytes
        var found: [Topic] = []
        var i = orderHead
        while excess > 0, found.count < limit, i < order.count {
            let (name, use) = order[i]
            i += 1
            guard let entry = entries[name], entry.lastUse == use else { continue }
            found.append(entry.topic)
            excess -= entry.bytes
        }
        return found
    }

    /// Closes least recently used idle handles while the estimate exceeds `budgetBytes`, looking
    /// at no more than `examineMax` candidates; a busy one goes to the back of the order.
    mutating func evict(
        budgetBytes: Int, examineMax: Int, nowMs: Int64, offload: Bool, work: BackgroundWork, debts: FlushDebts
    ) {
        var examined = 0
        while residentBytes > budgetBytes, examined < examineMax, orderHead < order.count {
            let (name, use) = order[orderHead]
            orderHead += 1
            guard entries[name]?.lastUse == use else { continue }
            examined += 1
            let bytes = entries[name]?.topic.residentBytes ?? 0
            residentBytes += bytes - (entries[name]?.bytes ?? 0)
            entries[name]?.bytes = bytes
            // The registry's reference is the only one: nobody can get another without this lock.
            guard isKnownUniquelyReferenced(&entries[name]!.topic),
                entries[name]?.topic.isEvictable(nowMs: nowMs, offload: offload) == true,
                let evicted = entries.removeValue(forKey: name)
            else {
                self.use(name)
                continue
            }
            // Work due later (an age roll, local retention) is remembered: the tick reopens it then;
            // an `async` flush not yet made is owed, and paid without a handle.
            work.replace(name, dueMs: evicted.topic.nextBackgroundWorkMs(nowMs: nowMs, offload: offload, flush: false))
            if let debt = evicted.topic.flushDebt(nowMs: nowMs) { debts.add(name, debt) }
            evicted.topic.closeEvicted()
            residentBytes -= evicted.bytes
            evictions += 1
        }
        if orderHead > 1024, orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            refreshAt = max(0, refreshAt - orderHead)
            orderHead = 0
        }
    }
}

/// The logs with background work pending and when it is due (lake clock ms): the background
/// tick visits these, not every open log. A write marks its log (once until the next visit,
/// `Topic.markBackgroundWork`); a visit schedules what the log still needs, or forgets it. A
/// min-heap of due times finds what is due without looking at the rest.
final class BackgroundWork: Sendable {
    private struct State {
        var due: [String: Int64] = [:]
        /// (due, name) pairs; one whose due is not `due[name]` any more is stale and skipped.
        var heap = DueHeap()

        /// Rebuilds the heap from `due` once stale pairs outnumber live ones.
        mutating func compactIfStale() {
            guard heap.count > 2 * due.count + 1024 else { return }
            heap = DueHeap()
            for (name, dueMs) in due { heap.push(dueMs, name) }
        }
    }

    private let state = Mutex(State())

    /// Schedules `name` at `dueMs` unless it is due earlier already.
    func mark(_ name: String, dueMs: Int64) {
        state.withLock { s in
            if let known = s.due[name], known <= dueMs { return }
            s.due[name] = dueMs
            s.heap.push(dueMs, name)
            s.compactIfStale()
        }
    }

    /// Schedules `name` at `dueMs` (nil: forgets it), whatever was scheduled.
    func replace(_ name: String, dueMs: Int64?) {
        state.withLock { s in
            s.due[name] = dueMs
            if let dueMs { s.heap.push(dueMs, name) }
            s.compactIfStale()
        }
    }

    /// Removes and returns up to `limit` logs due at `nowMs`, earliest first (the rest stay due
    /// for the next tick).
    func takeDue(nowMs: Int64, limit: Int = .max) -> [String] {
        state.withLock { s in
            var ready: [String] = []
            while ready.count < limit, let (dueMs, name) = s.heap.top, dueMs <= nowMs {
                s.heap.pop()
                guard s.due[name] == dueMs else { continue }
                s.due[name] = nil
                ready.append(name)
            }
            return ready
        }
    }

    /// Logs scheduled (due now or later).
    var count: Int { state.withLock { $0.due.count } }
    func isScheduled(_ name: String) -> Bool { state.withLock { $0.due[name] != nil } }
}

/// A binary min-heap of (due ms, log name).
struct DueHeap {
    private var items: [(Int64, String)] = []
    var count: Int { items.count }
    var top: (Int64, String)? { items.first }

    mutating func push(_ dueMs: Int64, _ name: String) {
        items.append((dueMs, name))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].0 < items[parent].0 else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].0 < items[smallest].0 { smallest = left }
            if right < items.count, items[right].0 < items[smallest].0 { smallest = right }
            guard smallest != parent else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
