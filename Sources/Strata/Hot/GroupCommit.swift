import Dispatch
import Synchronization

/// The group-commit test hook (`LakeOptions.beforeGroupFsync`).
typealias GroupFsyncHook = @Sendable (Topic) throws(StrataError) -> Void

/// Group commit of one topic (ARCHITECTURE.md invariant 2), the owner of its durable offset:
/// appenders in `sync` mode wait for a durable offset; one leader at a time runs fdatasync off
/// the Swift thread pool and releases every waiter its fsync covered, then goes again for those
/// that arrived meanwhile. Appends waiting here are bounded (`syncAppendsWaitingMax`).
final class GroupCommit: Sendable {
    /// How a `sync` appender waiting for durability is resumed.
    typealias Continuation = CheckedContinuation<Result<Void, StrataError>, Never>

    private struct Waiter {
        var target: Int64
        var continuation: Continuation
    }

    private struct State {
        /// One past the last fdatasync'ed record.
        var durableOffset: Int64
        /// One past the last record fdatasync'ed in the segment itself (a journaled log's
        /// `durableOffset` may be ahead: the journal holds the rest).
        var segmentDurableOffset: Int64
        var leaderRunning = false
        var waiters: [Waiter] = []
        /// `sync` appends written and not yet acknowledged.
        var appendsWaiting = 0
        /// The fsync failure that stopped the topic: later waiters fail at once.
        var failure: StrataError?
        var fsyncCount = 0
        var lastFlushMs: Int64 = 0
    }

    /// What the leader's fsync made durable, or why it failed.
    typealias FsyncOutcome = (target: Int64, failure: StrataError?)

    private let state: Mutex<State>
    private let topicName: String
    private let appendsWaitingMax: Int

    init(topicName: String, durableOffset: Int64, appendsWaitingMax: Int) {
        self.topicName = topicName
        self.appendsWaitingMax = appendsWaitingMax
        state = Mutex(State(durableOffset: durableOffset, segmentDurableOffset: durableOffset))
    }

    /// One past the last fdatasync'ed record.
    var durableOffset: Int64 { state.withLock { $0.durableOffset } }

    /// fdatasync calls made for appends and rolls (journal fsyncs that covered this log count).
    var fsyncCount: Int { state.withLock { $0.fsyncCount } }

    /// One past the last record fdatasync'ed in the log's own segment.
    var segmentDurableOffset: Int64 { state.withLock { $0.segmentDurableOffset } }

    /// Takes a slot for a `sync` append about to be written; `releaseAppend` gives it back once
    /// the append is acknowledged (or its write failed).
    /// - Throws: `busy` when `syncAppendsWaitingMax` appends already wait (nothing is written).
    func reserveAppend() throws(StrataError) {
        try state.withLock { (s) throws(StrataError) in
            guard s.appendsWaiting < appendsWaitingMax else {
                let limit = "syncAppendsWaitingMax=\(appendsWaitingMax)"
                throw StrataError(.busy, "\(s.appendsWaiting) appends wait for fsync, limit \(limit)", topic: topicName)
            }
            s.appendsWaiting += 1
        }
    }

    func releaseAppend() { state.withLock { $0.appendsWaiting -= 1 } }

    /// True while a `sync` append holds a slot: written (or about to be) and not yet
    /// acknowledged, wherever it waits (this group commit or the lake journal).
    var hasAppendsWaiting: Bool { state.withLock { $0.appendsWaiting > 0 } }

    /// A roll fdatasync'ed the sealed segment: everything below `offset` is durable.
    func recordRollFsync(durableUpTo offset: Int64) {
        state.withLock { s in
            s.fsyncCount += 1
            s.durableOffset = max(s.durableOffset, offset)
            s.segmentDurableOffset = max(s.segmentDurableOffset, offset)
        }
    }

    /// A journal fsync made this log's entries durable below `offset` (Journal.swift).
    func recordJournalFsync(durableUpTo offset: Int64) {
        state.withLock { s in
            s.fsyncCount += 1
            s.durableOffset = max(s.durableOffset, offset)
        }
    }

    /// A checkpoint fdatasync'ed the active segment: its records below `offset` no longer need
    /// the journal.
    func recordSegmentFsync(durableUpTo offset: Int64) {
        state.withLock { s in s.segmentDurableOffset = max(s.segmentDurableOffset, offset) }
    }

    /// No fsync leader is running and no appender waits (repair may then move the end back).
    var idle: Bool { state.withLock { !$0.leaderRunning && $0.waiters.isEmpty } }

    /// Sets the durable offset where the log now ends after it was cut back (`repairQuarantine`)
    /// or re-read from another process's files (a read-only topic): the one call that may move
    /// it down.
    func reset(durableOffset offset: Int64) {
        state.withLock { s in
            s.durableOffset = offset
            s.segmentDurableOffset = offset
        }
    }

    /// Stops the topic's group commit after a failure whose file state is unknown.
    func stop(_ failure: StrataError) {
        state.withLock { s in s.failure = s.failure ?? failure }
    }

    /// When the current flush interval started (lake clock ms), nil before the first look.
    var flushIntervalStartMs: Int64? { state.withLock { $0.lastFlushMs == 0 ? nil : $0.lastFlushMs } }

    /// A new handle takes on what an evicted one had not flushed (`Topic.takeOn`): durable only
    /// below `durableOffset`, its flush interval started at `intervalStartMs`.
    func inheritUnflushed(durableOffset offset: Int64, intervalStartMs: Int64) {
        state.withLock { s in
            s.durableOffset = min(s.durableOffset, offset)
            s.segmentDurableOffset = min(s.segmentDurableOffset, offset)
            s.lastFlushMs = intervalStartMs
        }
    }

    /// When `flushDue` can next be true for records not yet flushed: at once before the interval
    /// has started (the first look starts it), else when it ends.
    func flushDueMs(nowMs: Int64, intervalMs: Int64) -> Int64 {
        state.withLock { s in s.lastFlushMs == 0 ? nowMs : s.lastFlushMs + intervalMs }
    }

    /// True when an `async` topic has records up to `writtenOffset` unflushed for longer than
    /// `intervalMs` (the first call that sees unflushed records starts the interval).
    func flushDue(writtenOffset: Int64, nowMs: Int64, intervalMs: Int64) -> Bool {
        state.withLock { s in
            guard writtenOffset > s.durableOffset else { return false }
            if s.lastFlushMs == 0 { s.lastFlushMs = nowMs }
            guard nowMs - s.lastFlushMs >= intervalMs else { return false }
            s.lastFlushMs = nowMs
            return true
        }
    }

    /// Returns once every record below `target` is durable. The first waiter that finds no
    /// leader becomes one: `fsync` runs on a Dispatch thread until no waiter is left, and
    /// `durable` is told each new durable offset (to wake readers).
    /// - Throws: the fsync failure that stopped the topic (`io`).
    func waitDurable(
        _ target: Int64, fsync: @escaping @Sendable () -> FsyncOutcome, durable: @escaping @Sendable (Int64) -> Void
    ) async throws(StrataError) {
        let outcome = await withCheckedContinuation { (continuation: Continuation) in
            let startLeader: Bool = state.withLock { s in
                if s.durableOffset >= target {
                    continuation.resume(returning: .success(()))
                    return false
                }
                if let failure = s.failure {
                    continuation.resume(returning: .failure(failure))
                    return false
                }
                s.waiters.append(Waiter(target: target, continuation: continuation))
                guard !s.leaderRunning else { return false }
                s.leaderRunning = true
                return true
            }
            // fdatasync blocks: run it on a Dispatch thread, never on the cooperative pool.
            if startLeader { DispatchQueue.global().async { self.lead(fsync: fsync, durable: durable) } }
        }
        try outcome.get()
    }

    private func lead(fsync: @Sendable () -> FsyncOutcome, durable: @Sendable (Int64) -> Void) {
        while true {
            let (target, failure) = fsync()
            let (ready, failed, end, done) = settle(target: target, failure: failure)
            if let end { durable(end) }
            for waiter in ready { waiter.continuation.resume(returning: .success(())) }
            for waiter in failed {
                let error = failure ?? StrataError(.io, "fsync failed", topic: topicName)
                waiter.continuation.resume(returning: .failure(error))
            }
            if done { return }
        }
    }

    /// Records the outcome of one fsync; returns the waiters to release, the new durable
    /// offset (nil after a failure) and whether the leader may stop (no waiter is left).
    private func settle(target: Int64, failure: StrataError?) -> ([Waiter], [Waiter], Int64?, Bool) {
        state.withLock { s in
            s.fsyncCount += 1
            if let failure {
                s.failure = s.failure ?? failure
                let all = s.waiters
                s.waiters = []
                s.leaderRunning = false
                return ([], all, nil, true)
            }
            s.durableOffset = max(s.durableOffset, target)
            s.segmentDurableOffset = max(s.segmentDurableOffset, target)
            let durable = s.durableOffset
            let ready = s.waiters.filter { $0.target <= durable }
            s.waiters.removeAll { $0.target <= durable }
            let done = s.waiters.isEmpty
            if done { s.leaderRunning = false }
            return (ready, [], durable, done)
        }
    }
}

/// The topic's side of group commit: what one fsync covers, flush and close.
extension Topic {
    /// Returns once every record below `target` is fdatasync'ed.
    /// - Throws: the fsync failure that stopped the topic (`io`).
    func waitDurable(_ target: Int64) async throws(StrataError) {
        if let journal {
            guard groupCommit.durableOffset < target else { return }
            try await journal.waitDurable(state.withLock { $0.journalPosition })
            return
        }
        try await groupCommit.waitDurable(
            target, fsync: { self.fsyncActiveSegment() },
            durable: { _ in self.publishVisibleEnd() })
    }

    /// One group-commit fsync of the active segment: it covers everything written so far.
    private func fsyncActiveSegment() -> GroupCommit.FsyncOutcome {
        let (path, target) = state.withLock { s in (s.active.path, s.writtenOffset) }
        do throws(StrataError) {
            try beforeGroupFsync?(self)
            try beforeSegmentFsync()
            try cold.metrics.timed(.segment) { () throws(StrataError) in
                try files.withFile(path) { (fd) throws(StrataError) in try FileIO.fdatasync(fd, path: path) }
            }
            return (target, nil)
        } catch {
            // A file whose fsync failed has unknown contents (fsyncgate): stop the topic.
            stop(error)
            return (target, error)
        }
    }

    /// True when an `async` topic has unflushed records older than its flush interval.
    func flushDue(nowMs: Int64) -> Bool {
        let written = state.withLock { $0.writtenOffset }
        return groupCommit.flushDue(writtenOffset: written, nowMs: nowMs, intervalMs: config.flushIntervalMs)
    }

    /// Makes everything written so far durable (the async-mode flush, and close).
    /// - Throws: `io` when the fdatasync fails (the topic then refuses appends until the lake
    ///   is reopened and recovered).
    public func flush() async throws(StrataError) {
        let target = state.withLock { $0.writtenOffset }
        try await waitDurable(target)
    }

    /// Refuses further appends, then flushes what was written; wakes every waiting reader.
    /// Closing first means no append can slip in after the final flush.
    /// - Throws: `io` when the final fdatasync fails: records written since the last flush may
    ///   not be on disk, and the caller must hear it.
    func close() async throws(StrataError) {
        state.withLock { $0.closed = true }
        readWaiters.close()
        try await flush()
        try writeProducerSnapshotOnClose()
    }
}
