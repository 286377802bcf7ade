import Synchronization

/// How often and how patiently to retry a transient (`unavailable`) blob error.
/// Waits grow exponentially with full jitter: after failed attempt `n` the wait is uniform in
/// `0 ... min(delayMaxMs, baseDelayMs · 2^(n-1))`, which spreads out clients that failed together.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in total, the first one included; at least 1.
    public var attemptsMax: Int
    /// Cap of the wait after the first failure.
    public var baseDelayMs: Int64
    /// Cap of any wait.
    public var delayMaxMs: Int64

    /// - Parameters:
    ///   - attemptsMax: attempts including the first; values below 1 mean 1.
    ///   - baseDelayMs: cap of the first wait; negative means 0.
    ///   - delayMaxMs: cap of every wait; below `baseDelayMs` means `baseDelayMs`.
    public init(attemptsMax: Int = 5, baseDelayMs: Int64 = 50, delayMaxMs: Int64 = 5_000) {
        self.attemptsMax = max(1, attemptsMax)
        self.baseDelayMs = max(0, baseDelayMs)
        self.delayMaxMs = max(self.baseDelayMs, delayMaxMs)
    }

    /// The largest wait after failed attempt `attempt` (1-based): `baseDelayMs · 2^(attempt-1)`, capped.
    public func delayCapMs(afterAttempt attempt: Int) -> Int64 {
        let doublings = min(max(0, attempt - 1), 40)  // 2^40 · any sane base is past any cap.
        let (grown, overflow) = baseDelayMs.multipliedReportingOverflow(by: Int64(1) << doublings)
        return overflow ? delayMaxMs : min(grown, delayMaxMs)
    }
}

/// Where `withRetries` gets randomness and sleep from; tests inject both to stay deterministic.
public struct RetryEnvironment: Sendable {
    /// A uniform integer in `0 ... upper`.
    public var randomUpTo: @Sendable (_ upper: Int64) -> Int64
    /// Waits `ms` milliseconds; throws `CancellationError` if the task is cancelled.
    public var sleepMs: @Sendable (_ ms: Int64) async throws -> Void

    public init(
        randomUpTo: @escaping @Sendable (Int64) -> Int64,
        sleepMs: @escaping @Sendable (Int64) async throws -> Void
    ) {
        self.randomUpTo = randomUpTo
        self.sleepMs = sleepMs
    }

    /// System randomness and real `Task.sleep`.
    public static let live = RetryEnvironment(
        randomUpTo: { upper in Int64.random(in: 0 ... max(0, upper)) },
        sleepMs: { ms in try await Task.sleep(for: .milliseconds(ms)) }
    )

    /// Jitter from `SplitMix64(seed:)`, so the waits replay exactly; `sleepMs` as given
    /// (tests pass one that records instead of sleeping).
    public static func seeded(_ seed: UInt64, sleepMs: @escaping @Sendable (Int64) async throws -> Void)
        -> RetryEnvironment
    {
        let generator = LockedGenerator(seed: seed)
        return RetryEnvironment(
            randomUpTo: { upper in generator.next(upTo: upper) },
            sleepMs: sleepMs
        )
    }
}

/// A `SplitMix64` that escaping `@Sendable` closures can share.
private final class LockedGenerator: Sendable {
    private let generator: Mutex<SplitMix64>

    init(seed: UInt64) {
        generator = Mutex(SplitMix64(seed: seed))
    }

    func next(upTo upper: Int64) -> Int64 {
        generator.withLock { Int64.random(in: 0 ... max(0, upper), using: &$0) }
    }
}

/// Runs `operation`, retrying it while it throws a retryable `BlobError` (`isRetryable`) and
/// attempts remain, waiting between attempts as `policy` says.
/// - Returns: the first successful result.
/// - Throws: the last error once attempts run out; any non-retryable error at once (including
///   non-`BlobError`s); `CancellationError` if the task is cancelled while waiting.
public func withRetries<T>(
    _ policy: RetryPolicy,
    environment: RetryEnvironment = .live,
    isolation: isolated (any Actor)? = #isolation,
    _ operation: () async throws -> T
) async throws -> T {
    var attempt = 1
    while true {
        do {
            return try await operation()
        } catch let error as BlobError where error.isRetryable && attempt < policy.attemptsMax {
            let waitMs = environment.randomUpTo(policy.delayCapMs(afterAttempt: attempt))
            try await environment.sleepMs(waitMs)
            attempt += 1
        }
    }
}
