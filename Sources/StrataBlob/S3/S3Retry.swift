import Foundation

/// Exponential backoff with full jitter (the AWS architecture blog's recommendation): the wait
/// before try `n + 1` is uniform in `0 ... min(delayMsMax, delayMsBase * 2^n)`, so clients that
/// failed together do not retry together.
struct S3Backoff: Sendable {
    var policy: S3RetryPolicy
    /// Returns a uniform value in `0 ... upper`; injected so tests are deterministic.
    var uniform: @Sendable (Int) -> Int = { Int.random(in: 0...max(0, $0)) }

    /// Milliseconds to wait after failed try number `attemptIndex` (0-based).
    func delayMs(afterAttempt attemptIndex: Int) -> Int {
        let shift = min(attemptIndex, 30)
        let (product, overflow) = policy.delayMsBase.multipliedReportingOverflow(by: 1 << shift)
        let ceiling = overflow ? policy.delayMsMax : min(policy.delayMsMax, product)
        return uniform(max(0, ceiling))
    }

    /// Runs `operation` until it succeeds, throws a non-retryable error, or the tries run out.
    /// The last error is rethrown with the number of tries appended to its message.
    func run<T: Sendable>(_ operation: @Sendable (_ attemptIndex: Int) async throws -> T) async throws -> T {
        var attemptIndex = 0
        while true {
            do {
                return try await operation(attemptIndex)
            } catch var error as BlobError where error.isRetryable {
                guard attemptIndex + 1 < policy.attemptCountMax else {
                    error.message += " (gave up after \(attemptIndex + 1) tries)"
                    throw error
                }
                try await Task.sleep(nanoseconds: UInt64(delayMs(afterAttempt: attemptIndex)) * 1_000_000)
                attemptIndex += 1
            }
        }
    }
}
