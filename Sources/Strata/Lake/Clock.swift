import Foundation

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
