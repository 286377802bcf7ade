import Synchronization

/// Compaction of packed objects in the background (ARCHITECTURE.md §2k, "Compaction"): every
/// `LakeOptions.packedCompactionIntervalMs` of the lake's clock, the background loop starts one
/// `Lake.compactPacked` pass in a task of its own, so a pass that reads every log's manifest
/// never holds up a tick's flushes, rolls and offloads. One pass at a time; `stop` (from
/// `close`, before the lake is marked closed) cancels the one running and waits for it: a pass
/// finishes the object it writes and commits its moves, then stops before its next new object;
/// an object it wrote but could not commit is an orphan `scrub` deletes.
final class BackgroundCompaction: Sendable {
    private struct State {
        /// When the last pass started (the lake's open, before the first).
        var lastStartMs: Int64
        var task: Task<Void, Never>?
        var running = false
        var stopped = false
    }

    private let state: Mutex<State>

    init(nowMs: Int64) { state = Mutex(State(lastStartMs: nowMs)) }

    /// Starts `pass` when `intervalMs` (positive) has passed since the last start and no pass
    /// runs. - Returns: the pass started, nil when none was.
    func startIfDue(
        nowMs: Int64, intervalMs: Int64, _ pass: @escaping @Sendable () async -> Void
    ) -> Task<Void, Never>? {
        guard intervalMs > 0 else { return nil }
        return state.withLock { s -> Task<Void, Never>? in
            guard !s.stopped, !s.running, nowMs - s.lastStartMs >= intervalMs else { return nil }
            s.lastStartMs = nowMs
            s.running = true
            let task = Task.detached { [self] in
                await pass()
                state.withLock { $0.running = false }
            }
            s.task = task
            return task
        }
    }

    /// The pass running, if any.
    var running: Task<Void, Never>? { state.withLock { $0.running ? $0.task : nil } }

    /// Whether `stop` was called: no pass starts any more, and the one running is cancelled.
    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Cancels the pass running, if any, waits for it, and starts none after.
    func stop() async {
        let task = state.withLock { s -> Task<Void, Never>? in
            s.stopped = true
            s.task?.cancel()
            return s.task
        }
        await task?.value
    }
}
