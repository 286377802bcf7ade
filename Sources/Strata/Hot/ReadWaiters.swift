import Synchronization

/// Readers of one topic long-polling for records past the high watermark (`waitForData`,
/// `Cursor.next(waitMs:)`). It keeps its own copy of the visible end, which the topic publishes
/// after every advance, so a waiter is registered and woken under this one lock and never
/// misses an advance. At most `readWaitersMax` wait at once (ARCHITECTURE.md invariant 8).
final class ReadWaiters: Sendable {
    private struct Waiter {
        var id: UInt64
        var offset: Int64
        var continuation: CheckedContinuation<Result<Bool, StrataError>, Never>
        /// The timer that ends the wait.
        var timeout: Task<Void, Never>
    }

    private struct State {
        /// One past the last record readers may see, as last published.
        var visibleEnd: Int64
        var closed = false
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>
    private let topicName: String
    private let clock: any StrataClock
    private let waitersMax: Int

    init(topicName: String, visibleEnd: Int64, clock: any StrataClock, waitersMax: Int) {
        self.topicName = topicName
        self.clock = clock
        self.waitersMax = waitersMax
        state = Mutex(State(visibleEnd: visibleEnd))
    }

    /// Readers waiting now.
    var count: Int { state.withLock { $0.waiters.count } }

    /// Waits until the visible end passes `offset` or `timeoutMs` of the clock elapse, or the
    /// calling task is cancelled (then it returns false at once and frees its slot).
    /// - Returns: true when data at `offset` is readable (or the topic closed).
    /// - Throws: `busy` when `readWaitersMax` readers already wait.
    func wait(at offset: Int64, timeoutMs: Int64) async throws(StrataError) -> Bool {
        let id: UInt64? = state.withLock { s in
            guard s.visibleEnd <= offset, !s.closed else { return nil }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return true }
        let (limit, topicName) = (waitersMax, self.topicName)
        let outcome: Result<Bool, StrataError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow: Result<Bool, StrataError>? = state.withLock { s in
                    if s.visibleEnd > offset || s.closed { return .success(true) }
                    // Cancelled before this lock: the handler below found no waiter to end.
                    if Task.isCancelled { return .success(false) }
                    guard s.waiters.count < limit else {
                        let message = "\(s.waiters.count) readers already wait, limit readWaitersMax=\(limit)"
                        return .failure(StrataError(.busy, message, topic: topicName))
                    }
                    // The timer is made and stored with its waiter under this lock, so a wake that
                    // comes first always finds and cancels it (no timer outlives its poll).
                    let clock = self.clock
                    let timeout = Task {
                        do { try await clock.sleep(ms: timeoutMs) } catch { return }
                        self.expire(id)
                    }
                    s.waiters.append(Waiter(id: id, offset: offset, continuation: continuation, timeout: timeout))
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            self.expire(id)
        }
        return try outcome.get()
    }

    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { s in
            guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.waiters.remove(at: i)
        }
        waiter?.timeout.cancel()
        waiter?.continuation.resume(returning: .success(false))
    }

    /// The visible end moved to `end`: releases readers waiting below it and stops their
    /// timers. Ends only grow, so a late publish of an older end changes nothing. Resuming a
    /// continuation or cancelling a task only schedules work, so callers may hold their own locks.
    func publish(visibleEnd end: Int64) {
        state.withLock { s in
            s.visibleEnd = max(s.visibleEnd, end)
            wake(&s)
        }
    }

    /// Sets the visible end where the log now ends (it may move down after a repair), waking the
    /// readers below it.
    func reset(visibleEnd end: Int64) {
        state.withLock { s in
            s.visibleEnd = end
            wake(&s)
        }
    }

    /// Releases every waiting reader; later waits return at once.
    func close() {
        state.withLock { s in
            s.closed = true
            wake(&s)
        }
    }

    private func wake(_ s: inout State) {
        guard !s.waiters.isEmpty else { return }
        let (end, closed) = (s.visibleEnd, s.closed)
        s.waiters.removeAll { waiter in
            guard waiter.offset < end || closed else { return false }
            waiter.timeout.cancel()
            waiter.continuation.resume(returning: .success(waiter.offset < end))
            return true
        }
    }
}

extension Topic {
    /// Waits until the high watermark passes `offset` or `timeoutMs` of the lake's clock elapse.
    /// - Returns: true when data at `offset` is readable (or the topic closed).
    /// - Throws: `busy` when `readWaitersMax` readers already wait on this topic.
    /// Readers long-polling this log now (`waitForData`, `Cursor.next(waitMs:)`).
    public var readWaiterCount: Int { readWaiters.count }

    public func waitForData(at offset: Int64, timeoutMs: Int64) async throws(StrataError) -> Bool {
        try await readWaiters.wait(at: offset, timeoutMs: timeoutMs)
    }

    /// Tells waiting readers the current high watermark (after any advance of it).
    func publishVisibleEnd() {
        readWaiters.publish(visibleEnd: highWatermark)
    }
}
