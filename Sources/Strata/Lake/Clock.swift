import Foundation

/// Time source of the engine, injected so tests control segment ages, retention, timeouts and
/// the background loop. Everything that waits for time to pass waits through `sleep(ms:)` (a
/// ticker is a loop around it), so a test clock can make those waits end exactly when the
/// test says (as SlateDB injects its clock).
public protocol StrataClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMs() -> Int64

    /// Suspends the calling task until `ms` milliseconds of this clock's time have passed;
    /// returns at once for `ms <= 0`.
    /// - Throws: `CancellationError` as soon as the task is cancelled.
    func sleep(ms: Int64) async throws
}

/// The wall clock.
public struct SystemClock: StrataClock {
    public init() {}
    public func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    public func sleep(ms: Int64) async throws {
        guard ms > 0 else { return try Task.checkCancellation() }
        try await Task.sleep(nanoseconds: UInt64(ms) * 1_000_000)
    }
}
