import Strata
import Synchronization

/// A clock tests move by hand.
public final class ManualClock: StrataClock {
    private let now: Mutex<Int64>
    public init(startMs: Int64 = 1_700_000_000_000) { now = Mutex(startMs) }
    public func nowMs() -> Int64 { now.withLock { $0 } }
    public func advance(ms: Int64) { now.withLock { $0 += ms } }
}
