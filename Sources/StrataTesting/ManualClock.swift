import Strata
import Synchronization

/// A clock tests move by hand. `sleep(ms:)` suspends until `advance(ms:)` moves the time past
/// the sleeper's deadline (or its task is cancelled), so timeouts and the lake's background
/// loop run exactly when a test says, never on the machine's timing.
public final class ManualClock: StrataClock {
    private struct Sleeper {
        var id: UInt64
        var deadlineMs: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Watcher {
        var id: UInt64
        var count: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var nowMs: Int64
        var sleepers: [Sleeper] = []
        var watchers: [Watcher] = []
        var nextID: UInt64 = 0

        /// Removes and returns the watchers satisfied by the current number of sleepers.
        mutating func satisfiedWatchers() -> [Watcher] {
            let ready = watchers.filter { $0.count <= sleepers.count }
            watchers.removeAll { $0.count <= sleepers.count }
            return ready
        }
    }

    private let state: Mutex<State>

    public init(startMs: Int64 = 1_700_000_000_000) { state = Mutex(State(nowMs: startMs)) }

    public func nowMs() -> Int64 { state.withLock { $0.nowMs } }

    /// Moves the time forward and wakes every sleeper whose deadline it reached.
    public func advance(ms: Int64) {
        let due: [Sleeper] = state.withLock { s in
            s.nowMs += ms
            let now = s.nowMs
            let due = s.sleepers.filter { $0.deadlineMs <= now }
            s.sleepers.removeAll { $0.deadlineMs <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Tasks suspended in `sleep(ms:)` right now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Deadlines of the current sleepers, earliest first.
    public var sleeperDeadlinesMs: [Int64] { state.withLock { $0.sleepers.map(\.deadlineMs).sorted() } }

    /// Returns once at least `count` tasks are suspended in `sleep(ms:)`: a test waits here
    /// until a timeout is armed, or until the background loop is back asleep after a tick.
    /// Also returns when the waiting task is cancelled (a test's time limit), so a sleeper that
    /// never comes fails the test instead of hanging it.
    public func waitForSleepers(_ count: Int) async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready: Bool = state.withLock { s in
                    guard s.sleepers.count < count, !Task.isCancelled else { return true }
                    s.watchers.append(Watcher(id: id, count: count, continuation: continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let watcher: Watcher? = state.withLock { s in
                guard let i = s.watchers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.watchers.remove(at: i)
            }
            watcher?.continuation.resume()
        }
    }

    public func sleep(ms: Int64) async throws {
        guard ms > 0 else { return try Task.checkCancellation() }
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Checked under the lock: the flag is set before cancellation handlers run, so a
                // cancel whose handler found nothing to remove yet is seen here.
                let (cancelled, watchers): (Bool, [Watcher]) = state.withLock { s in
                    guard !Task.isCancelled else { return (true, []) }
                    s.sleepers.append(Sleeper(id: id, deadlineMs: s.nowMs + ms, continuation: continuation))
                    return (false, s.satisfiedWatchers())
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
                for watcher in watchers { watcher.continuation.resume() }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { s in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
