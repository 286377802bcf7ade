import Dispatch

/// The group-commit test hook (`LakeOptions.beforeGroupFsync`).
typealias GroupFsyncHook = @Sendable (Topic) throws(StrataError) -> Void
/// How a `sync` appender waiting for durability is resumed.
typealias SyncContinuation = CheckedContinuation<Result<Void, StrataError>, Never>

/// Group commit (DESIGN §4 invariant 2): appenders in `sync` mode wait for a durable offset;
/// one leader at a time runs fdatasync off the Swift thread pool and releases every waiter its
/// fsync covered, then goes again for those that arrived meanwhile.
extension Topic {
    /// Returns once every record below `target` is fdatasync'ed.
    /// - Throws: the fsync failure that stopped the topic (`io`).
    func waitDurable(_ target: Int64) async throws(StrataError) {
        let outcome = await withCheckedContinuation { (continuation: SyncContinuation) in
            let startLeader: Bool = state.withLock { s in
                if s.durableOffset >= target {
                    continuation.resume(returning: .success(()))
                    return false
                }
                if let failure = s.failure {
                    continuation.resume(returning: .failure(failure))
                    return false
                }
                s.syncWaiters.append(SyncWaiter(target: target, continuation: continuation))
                guard !s.syncInFlight else { return false }
                s.syncInFlight = true
                return true
            }
            // fdatasync blocks: run it on a Dispatch thread, never on the cooperative pool.
            if startLeader { DispatchQueue.global().async { self.runSyncLoop() } }
        }
        try outcome.get()
    }

    /// True when an `async` topic has unflushed records older than its flush interval.
    func flushDue(nowMs: Int64) -> Bool {
        state.withLock { s in
            guard s.writtenOffset > s.durableOffset else { return false }
            if s.lastFlushMs == 0 { s.lastFlushMs = nowMs }
            guard nowMs - s.lastFlushMs >= config.flushIntervalMs else { return false }
            s.lastFlushMs = nowMs
            return true
        }
    }

    /// Makes everything written so far durable (the async-mode flush, and close).
    /// - Throws: `io` when the fdatasync fails (the topic then refuses appends until the lake
    ///   is reopened and recovered).
    public func flush() async throws(StrataError) {
        let target = state.withLock { $0.writtenOffset }
        try await waitDurable(target)
    }

    private func runSyncLoop() {
        while true {
            let (path, target) = state.withLock { s in (s.active.path, s.writtenOffset) }
            var failure: StrataError? = nil
            do throws(StrataError) {
                try beforeGroupFsync?(self)
                try files.withFile(path) { (fd) throws(StrataError) in try FileIO.fdatasync(fd, path: path) }
            } catch {
                // A file whose fsync failed has unknown contents (fsyncgate): stop the topic.
                failure = error
            }
            let (ready, failed, done) = settle(target: target, failure: failure)
            for waiter in ready { waiter.continuation.resume(returning: .success(())) }
            for waiter in failed {
                waiter.continuation.resume(returning: .failure(failure ?? StrataError(.io, "fsync failed", topic: name)))
            }
            if done { return }
        }
    }

    /// Records the outcome of one fsync; returns the waiters to release and whether the leader
    /// may stop (no waiter is left).
    private func settle(target: Int64, failure: StrataError?) -> ([SyncWaiter], [SyncWaiter], Bool) {
        state.withLock { s in
            s.fsyncCount += 1
            if let failure {
                s.failure = s.failure ?? failure
                let all = s.syncWaiters
                s.syncWaiters = []
                s.syncInFlight = false
                return ([], all, true)
            }
            s.durableOffset = max(s.durableOffset, target)
            let ready = s.syncWaiters.filter { $0.target <= s.durableOffset }
            s.syncWaiters.removeAll { $0.target <= s.durableOffset }
            wakeReaders(&s)
            let done = s.syncWaiters.isEmpty
            if done { s.syncInFlight = false }
            return (ready, [], done)
        }
    }

    // MARK: - Waiting readers (long poll)

    /// Waits until the high watermark passes `offset` or `timeoutMs` of the lake's clock elapse.
    /// - Returns: true when data at `offset` is readable (or the topic closed).
    /// - Throws: `busy` when `readWaitersMax` readers already wait on this topic.
    public func waitForData(at offset: Int64, timeoutMs: Int64) async throws(StrataError) -> Bool {
        let id: UInt64? = state.withLock { s in
            guard visibleEnd(s) <= offset, !s.closed else { return nil }
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        guard let id else { return true }
        let (limit, topicName) = (limits.readWaitersMax, name)
        let outcome: Result<Bool, StrataError> = await withCheckedContinuation { continuation in
            let resumeNow: Result<Bool, StrataError>? = state.withLock { s in
                if visibleEnd(s) > offset || s.closed { return .success(true) }
                guard s.readWaiters.count < limit else {
                    let message = "\(s.readWaiters.count) readers already wait, limit readWaitersMax=\(limit)"
                    return .failure(StrataError(.busy, message, topic: topicName))
                }
                s.readWaiters.append(ReadWaiter(id: id, offset: offset, continuation: continuation))
                return nil
            }
            if let resumeNow {
                continuation.resume(returning: resumeNow)
                return
            }
            // Armed only once the waiter is registered, so the timeout cannot be lost; cancelled
            // when data wakes the waiter first, so no timer outlives its poll.
            let clock = self.clock
            let timeout = Task {
                do { try await clock.sleep(ms: timeoutMs) } catch { return }
                self.cancelReadWaiter(id)
            }
            let armed = state.withLock { s in
                guard let i = s.readWaiters.firstIndex(where: { $0.id == id }) else { return false }
                s.readWaiters[i].timeout = timeout
                return true
            }
            if !armed { timeout.cancel() }
        }
        return try outcome.get()
    }

    private func cancelReadWaiter(_ id: UInt64) {
        let waiter: ReadWaiter? = state.withLock { s in
            guard let i = s.readWaiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.readWaiters.remove(at: i)
        }
        waiter?.continuation.resume(returning: .success(false))
    }

    /// Releases readers waiting below the new high watermark, and stops their timers. Called
    /// with the state locked; resuming a continuation or cancelling a task only schedules work,
    /// so it is safe here.
    func wakeReaders(_ s: inout TopicState) {
        guard !s.readWaiters.isEmpty else { return }
        let end = visibleEnd(s)
        let closed = s.closed
        s.readWaiters.removeAll { waiter in
            guard waiter.offset < end || closed else { return false }
            waiter.timeout?.cancel()
            waiter.continuation.resume(returning: .success(waiter.offset < end))
            return true
        }
    }

    /// Refuses further appends, then flushes what was written; wakes every waiting reader.
    /// Closing first means no append can slip in after the final flush.
    /// - Throws: `io` when the final fdatasync fails: records written since the last flush may
    ///   not be on disk, and the caller must hear it.
    func close() async throws(StrataError) {
        state.withLock { s in
            s.closed = true
            wakeReaders(&s)
        }
        try await flush()
    }
}
