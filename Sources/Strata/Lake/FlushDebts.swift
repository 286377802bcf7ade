import Dispatch
import Glibc
import Synchronization

/// The flushes evicted `async` logs still owe (ARCHITECTURE.md §2j, "An unflushed `async` log is
/// evicted"). An `async` log's records are in its segment's page cache when they are written; its
/// flush only makes them durable. So a handle need not stay open, holding its ~2 KB, until the
/// flush interval ends: it is evicted and leaves behind what the flush needs (the segment's
/// path, the directories still to fsync, when it is due). The background tick pays due debts
/// (one syncfs with the due `async` flushes when there are many, else an fdatasync each),
/// `Lake.close` pays them all, a reopened handle takes its log's debt back, and a topic delete
/// drops its logs' debts.
final class FlushDebts: Sendable {
    struct Debt: Sendable {
        /// When the log's flush interval ends (lake clock ms).
        var dueMs: Int64
        /// One past the last record durable in the segment when the handle went.
        var durableOffset: Int64
        /// The active segment holding the records not yet durable.
        var segment: String
        /// Directory entries not yet durable (`Topic.pendingDirectories`), innermost first.
        var directories: [String]
        /// A payment that failed: the next handle is stopped with it, `close` reports it.
        var failure: StrataError?
    }

    private struct State {
        var debts: [String: Debt] = [:]
        /// (due, name); a pair whose due is not its debt's any more is stale and skipped.
        var heap = DueHeap()
    }

    private let state = Mutex(State())

    /// Records what evicted log `name` owes. A debt it still had (a reopened handle takes its
    /// debt, so only a failure can be left) is merged: the earlier due, the lower durable end.
    func add(_ name: String, _ debt: Debt) {
        state.withLock { s in
            var debt = debt
            if let old = s.debts[name] {
                debt.dueMs = min(debt.dueMs, old.dueMs)
                debt.durableOffset = min(debt.durableOffset, old.durableOffset)
                debt.directories += old.directories.filter { !debt.directories.contains($0) }
                debt.failure = debt.failure ?? old.failure
            }
            s.debts[name] = debt
            if debt.failure == nil { s.heap.push(debt.dueMs, name) }
            if s.heap.count > 2 * s.debts.count + 1024 {
                s.heap = DueHeap()
                for (name, debt) in s.debts where debt.failure == nil { s.heap.push(debt.dueMs, name) }
            }
        }
    }

    /// Takes log `name`'s debt (a handle opening it takes the flush on).
    func take(_ name: String) -> Debt? { state.withLock { $0.debts.removeValue(forKey: name) } }

    /// Takes the debts due at `nowMs` (failed ones stay for the next handle or `close`).
    func takeDue(nowMs: Int64) -> [(name: String, debt: Debt)] {
        state.withLock { s in
            var due: [(name: String, debt: Debt)] = []
            while let (dueMs, name) = s.heap.top, dueMs <= nowMs {
                s.heap.pop()
                guard let debt = s.debts[name], debt.failure == nil, debt.dueMs == dueMs else { continue }
                s.debts[name] = nil
                due.append((name, debt))
            }
            return due
        }
    }

    /// Takes every debt, failed ones too (`Lake.close`).
    func takeAll() -> [(name: String, debt: Debt)] {
        state.withLock { s in
            defer { s = State() }
            return s.debts.map { ($0.key, $0.value) }
        }
    }

    /// Forgets the debts of topic `topic`'s logs (its files are being deleted).
    func drop(topic: String) {
        state.withLock { s in
            for name in Array(s.debts.keys) where (try? LogName.parse(name))?.topic == topic { s.debts[name] = nil }
        }
    }

    /// Debts recorded and not yet paid (failed ones included).
    var count: Int { state.withLock { $0.debts.count } }
    func owes(_ name: String) -> Bool { state.withLock { $0.debts[name] != nil } }

    /// Pays `debts` one by one, on up to `Journal.closeSyncThreads` Dispatch threads: the
    /// metadata barrier once, then each debt's directories and an fdatasync of its segment. A
    /// segment that is gone (its topic deleted meanwhile) owes nothing any more and is logged.
    /// - Returns: the debts whose payment failed, with the failure.
    static func pay(
        _ debts: [(name: String, debt: Debt)], barrier: MetadataBarrier?, metrics: EngineMetrics,
        log: @escaping @Sendable (String) -> Void
    ) async -> [(name: String, debt: Debt)] {
        guard !debts.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(StrataError) { try barrier?() } catch {
                    continuation.resume(returning: debts.map { ($0.name, withFailure($0.debt, error)) })
                    return
                }
                let failures = Mutex<[Int: StrataError]>([:])
                _ = Journal.concurrently(debts.count, threads: Journal.closeSyncThreads) { i in
                    do throws(StrataError) {
                        try payOne(debts[i].debt, metrics: metrics)
                    } catch where error.code == .notFound {
                        log("flush of evicted log \(debts[i].name): \(error.message), its topic is gone")
                    } catch {
                        failures.withLock { $0[i] = error }
                        return false
                    }
                    return true
                }
                let failed = failures.withLock { $0 }.sorted { $0.key < $1.key }
                continuation.resume(returning: failed.map { (debts[$0.key].name, withFailure(debts[$0.key].debt, $0.value)) })
            }
        }
    }

    private static func withFailure(_ debt: Debt, _ error: StrataError) -> Debt {
        var debt = debt
        debt.failure = error
        return debt
    }

    private static func payOne(_ debt: Debt, metrics: EngineMetrics) throws(StrataError) {
        for directory in debt.directories {
            try metrics.timed(.directory) { () throws(StrataError) in try FileIO.fsyncDirectory(directory) }
        }
        let fd = try FileIO.open(debt.segment, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        // fsync acts on the file, not the descriptor: the pages the evicted handle wrote are the
        // ones it makes durable, and an unseen writeback error is reported to it (Linux 4.16+).
        try metrics.timed(.segment) { () throws(StrataError) in try FileIO.fdatasync(fd, path: debt.segment) }
    }
}

extension Topic {
    /// What this handle owes when it is evicted now: an `async` log (no journal) with records
    /// not yet durable in its segment; the flush stays due when its interval ends (an interval
    /// not yet started starts now). Nil when it owes nothing.
    func flushDebt(nowMs: Int64) -> FlushDebts.Debt? {
        guard owesOnlyAFlushWhenUnflushed else { return nil }
        let (written, segment) = state.withLock { ($0.writtenOffset, $0.active.path) }
        let durable = groupCommit.segmentDurableOffset
        guard durable < written else { return nil }
        let dueMs = groupCommit.flushIntervalStartMs.map { $0 + config.flushIntervalMs } ?? nowMs + config.flushIntervalMs
        return FlushDebts.Debt(
            dueMs: dueMs, durableOffset: durable, segment: segment,
            directories: pendingDirectories.withLock { $0 })
    }

    /// An `async` log outside any journal: unflushed records are all its segment's page cache
    /// holds for it, so eviction may leave their flush behind as a debt.
    var owesOnlyAFlushWhenUnflushed: Bool { config.durability == .async && journal == nil && !isReadOnly }

    /// Takes on the debt an evicted handle of this log left: the records it had not flushed are
    /// unflushed here too (due when they were), and its pending directories; a failed payment
    /// stops this handle as the failed fsync would have stopped that one.
    func takeOn(_ debt: FlushDebts.Debt) {
        if let failure = debt.failure {
            stop(failure)
            return
        }
        groupCommit.inheritUnflushed(
            durableOffset: min(debt.durableOffset, groupCommit.segmentDurableOffset),
            intervalStartMs: debt.dueMs - config.flushIntervalMs)
        pendingDirectories.withLock { pending in
            for directory in debt.directories where !pending.contains(directory) { pending.append(directory) }
        }
    }
}
