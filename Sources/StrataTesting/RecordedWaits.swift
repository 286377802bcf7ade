import StrataBlob
import Synchronization

/// Records the waits a retry loop asks for instead of sleeping, so retry tests never sleep and
/// can count the waits (one fewer than the attempts).
public final class RecordedWaits: Sendable {
    private let waits = Mutex<[Int64]>([])

    public init() {}

    /// The waits asked for so far, in milliseconds, oldest first.
    public var recorded: [Int64] { waits.withLock { $0 } }

    /// Seeded jitter (`RetryEnvironment.seeded`) and a sleep that only records.
    /// - Parameter seed: the jitter's seed; the same seed gives the same waits.
    public func environment(seed: UInt64 = 11) -> RetryEnvironment {
        .seeded(seed) { [self] ms in waits.withLock { $0.append(ms) } }
    }
}
