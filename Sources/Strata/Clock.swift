import Foundation
import Synchronization

/// Time source of the engine, injected so tests control segment ages and retention.
public protocol StrataClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMs() -> Int64
}

/// The wall clock.
public struct SystemClock: StrataClock {
    public init() {}
    public func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// A clock tests move by hand.
public final class ManualClock: StrataClock {
    private let now: Mutex<Int64>
    public init(startMs: Int64 = 1_700_000_000_000) { now = Mutex(startMs) }
    public func nowMs() -> Int64 { now.withLock { $0 } }
    public func advance(ms: Int64) { now.withLock { $0 += ms } }
}
