import Synchronization

/// How often and how patiently to retry a transient (`unavailable`) blob error: the one retry
/// policy of the project (`LakeOptions.blobRetry`, `ColdLogOptions.retry`, `S3Config.retry`).
///
/// Waits grow exponentially with full jitter: after failed attempt `n` the wait is uniform in
/// `0 ... min(delayMaxMs, baseDelayMs · 2^(n-1))`, which spreads out clients that failed together.
///
/// A policy is applied once per request, at the lowest layer that can retry it, never stacked:
/// - a `SelfRetryingBlobStore` (S3) retries each HTTP request itself: a multipart upload
///   retries the part that failed, not the whole object, and each attempt is signed afresh;
/// - the cold tier retries every other store (file system, test doubles) once per blob call,
///   and never a self-retrying one.
///
/// So one logical call makes at most `attemptsMax` attempts at the store. (The cold tier used
/// to retry an S3 client that retried too: one call could make 5 × 5 = 25 HTTP attempts.)
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

    /// One attempt and no waiting: what a layer above a self-retrying store uses.
    public static let once = RetryPolicy(attemptsMax: 1, baseDelayMs: 0, delayMaxMs: 0)

    /// The largest wait after failed attempt `attempt` (1-based): `baseDelayMs · 2^(attempt-1)`, capped.
    public func delayCapMs(afterAttempt attempt: Int) -> Int64 {
        let doublings = min(max(0, attempt - 1), 40)  // 2^40 · any sane base is past any cap.
        let (grown, overflow) = baseDelayMs.multipliedReportingOverflow(by: Int64(1) << doublings)
        return overflow ? delayMaxMs : min(grown, delayMaxMs)
    }
}

/// A `BlobStore` that retries transient failures itself, per request, with `retryPolicy`.
/// Layers above it must not retry it again (see `RetryPolicy`); the cold tier checks for this.
public protocol SelfRetryingBlobStore: BlobStore {
    /// The policy each request of this store is retried with.
    var retryPolicy: RetryPolicy { get }
}

/// Where `withRetries` gets randomness and sleep from; tests inject both to stay deterministic
/// and never sleep.
public struct RetryEnvironment: Sendable {
    /// A uniform integer in `0 ... upper`.
    public var randomUpTo: @Sendable (_ upper: Int64) -> Int64
    /// Waits `ms` milliseconds; throws `CancellationError` if the task is cancelled.
    public var sleepMs: @Sendable (_ ms: Int64) async throws -> Void

    /// - Parameters:
    ///   - randomUpTo: returns a uniform integer in `0 ... upper` (the jitter).
    ///   - sleepMs: waits that many milliseconds, or records the wait in a test.
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
    public static func seeded(
        _ seed: UInt64, sleepMs: @escaping @Sendable (Int64) async throws -> Void
    )
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

/// The one retry loop: runs `operation`, retrying it while it throws a retryable `BlobError`
/// (`isRetryable`) and attempts remain, waiting between attempts as `policy` says.
/// - Parameters:
///   - policy: how many attempts and how long the waits may grow.
///   - environment: jitter and sleep (`.live`, or injected by tests).
///   - operation: one attempt; called at most `policy.attemptsMax` times.
/// - Returns: the first successful result.
/// - Throws: the last error once attempts run out, its message ending in
///   "(gave up after N attempts)" when there was more than one; any non-retryable error at once
///   (including non-`BlobError`s); `CancellationError` if the task is cancelled while waiting.
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
        } catch var error as BlobError where error.isRetryable {
            guard attempt < policy.attemptsMax else {
                if attempt > 1 { error.message += " (gave up after \(attempt) attempts)" }
                throw error
            }
            let waitMs = environment.randomUpTo(policy.delayCapMs(afterAttempt: attempt))
            try await environment.sleepMs(waitMs)
            attempt += 1
        }
    }
}
