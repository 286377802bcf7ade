import CoreMetrics
import Glibc
import StrataBlob

/// The engine's metrics (ARCHITECTURE.md "Observability"), through swift-metrics so a library
/// user gets them with any backend. Every metric object is made once, here: the data path bumps a
/// stored counter (an atomic add in the Prometheus backend), never looks one up by name.
///
/// Counters move as the engine works; the gauges (open files and partitions, offload lag, cold
/// cache bytes) are sampled by `Lake.refreshMetrics()`, which `strata serve` calls before each
/// scrape: walking every open partition on each append or background tick would cost more than
/// the numbers are worth.
public final class EngineMetrics: Sendable {
    /// The process's metrics, made from `MetricsSystem.factory` the first time a lake uses them
    /// (bootstrap the metrics system before opening a lake).
    public static let global = EngineMetrics(factory: MetricsSystem.factory)

    /// What was fsynced: a journal file (the leader of a group commit over many partitions, a
    /// roll); a partition's segment (a `sync` topic without the journal, an async flush, a roll,
    /// a checkpoint, close); a directory (new segment, partition, topic and journal entries); the
    /// topic catalog file; or the whole filesystem (one `syncfs` for many dirty logs).
    public enum FsyncKind: String, Sendable, CaseIterable {
        case journal, segment, directory, catalog, filesystem

        /// The position of this kind's counter and timer.
        var index: Int {
            switch self {
            case .journal: 0
            case .segment: 1
            case .directory: 2
            case .catalog: 3
            case .filesystem: 4
            }
        }
    }

    let fsyncs: [Counter]
    let fsyncSeconds: [Timer]
    let journalBytes: Counter
    let segmentBytes: Counter
    let coldCacheHits: Counter
    let coldCacheMisses: Counter
    let coldCacheBytes: Gauge
    let blobGets: Counter
    let blobPuts: Counter
    let blobHeads: Counter
    let blobLists: Counter
    let blobDeletes: Counter
    let blobBytesRead: Counter
    let blobBytesWritten: Counter
    let blobRetries: Counter
    /// Failed blob requests (every attempt), by `BlobError.Code`, plus `other` for errors that are
    /// not a `BlobError` (cancellation).
    private let blobErrors: [String: Counter]
    let offloadLagSegments: Gauge
    let offloadLagBytes: Gauge
    let openFiles: Gauge
    let openPartitions: Gauge

    /// The metrics made by `factory` (tests pass a registry of their own).
    public init(factory: any MetricsFactory) {
        func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
            Counter(label: label, dimensions: dimensions, factory: factory)
        }
        func gauge(_ label: String) -> Gauge { Gauge(label: label, factory: factory) }
        fsyncs = FsyncKind.allCases.map { counter("strata_fsyncs_total", [("kind", $0.rawValue)]) }
        fsyncSeconds = FsyncKind.allCases.map {
            Timer(label: "strata_fsync_seconds", dimensions: [("kind", $0.rawValue)], factory: factory)
        }
        journalBytes = counter("strata_journal_written_bytes_total")
        segmentBytes = counter("strata_segment_written_bytes_total")
        coldCacheHits = counter("strata_cold_cache_hits_total")
        coldCacheMisses = counter("strata_cold_cache_misses_total")
        coldCacheBytes = gauge("strata_cold_cache_bytes")
        blobGets = counter("strata_blob_requests_total", [("op", "get")])
        blobPuts = counter("strata_blob_requests_total", [("op", "put")])
        blobHeads = counter("strata_blob_requests_total", [("op", "head")])
        blobLists = counter("strata_blob_requests_total", [("op", "list")])
        blobDeletes = counter("strata_blob_requests_total", [("op", "delete")])
        blobBytesRead = counter("strata_blob_read_bytes_total")
        blobBytesWritten = counter("strata_blob_written_bytes_total")
        blobRetries = counter("strata_blob_retries_total")
        let kinds: [BlobError.Code] = [.notFound, .preconditionFailed, .unavailable, .invalid, .denied, .corrupt]
        var errors: [String: Counter] = [:]
        for kind in kinds.map(\.rawValue) + ["other"] {
            errors[kind] = counter("strata_blob_errors_total", [("kind", kind)])
        }
        blobErrors = errors
        offloadLagSegments = gauge("strata_offload_lag_segments")
        offloadLagBytes = gauge("strata_offload_lag_bytes")
        openFiles = gauge("strata_open_files")
        openPartitions = gauge("strata_open_partitions")
    }

    /// Counts one fsync that took `nanoseconds` (failed ones too: they took the time).
    func fsynced(_ kind: FsyncKind, nanoseconds: UInt64) {
        fsyncs[kind.index].increment()
        fsyncSeconds[kind.index].recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// Runs `sync` (an fsync of `kind`) and counts it with the time it took, failed or not.
    func timed<T, E: Error>(_ kind: FsyncKind, _ sync: () throws(E) -> T) throws(E) -> T {
        let started = monotonicNanoseconds()
        defer { fsynced(kind, nanoseconds: monotonicNanoseconds() &- started) }
        return try sync()
    }

    /// Counts one failed blob request. Errors are rare: the dictionary lookup is off the data path.
    func blobFailed(_ error: any Error) {
        let kind = (error as? BlobError)?.code.rawValue ?? "other"
        blobErrors[kind]?.increment()
    }
}

/// The monotonic clock in nanoseconds, for timing fsyncs (`DispatchTime` without Dispatch).
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// The gauges a scrape samples, computed from the open partitions.
public struct LakeGaugeSample: Sendable, Equatable {
    /// Partition logs open now (the registry's, not every partition of the lake).
    public var openPartitions = 0
    /// Segment files open in the lake's descriptor cache.
    public var openFiles = 0
    /// Sealed, non-empty local segments of open partitions not yet committed to the cold tier.
    public var offloadLagSegments = 0
    /// Their bytes.
    public var offloadLagBytes: Int64 = 0
    /// Bytes of decompressed frames in the cold cache.
    public var coldCacheBytes = 0
}

extension LakeOptions {
    /// `metrics`, or the process's.
    var engineMetrics: EngineMetrics { metrics ?? .global }
}

extension RetryEnvironment {
    /// The same environment, counting each wait before another attempt as one retry
    /// (strata_blob_retries_total): the tier's loop and a self-retrying store's (S3) both wait
    /// through it.
    func counted(by metrics: EngineMetrics) -> RetryEnvironment {
        let sleepMs = self.sleepMs
        return RetryEnvironment(
            randomUpTo: randomUpTo,
            sleepMs: { ms in
                metrics.blobRetries.increment()
                try await sleepMs(ms)
            })
    }
}

extension Topic {
    /// Sealed, non-empty local segments not yet committed to the cold tier, and their bytes.
    /// Before this process's first offload pass the committed end is unknown: every sealed
    /// segment counts (retention removes offloaded ones).
    func offloadLag() -> (segments: Int, bytes: Int64) {
        let committed = manifestWriter.committedOffset ?? Int64.min
        return state.withLock { s in
            var lag = (segments: 0, bytes: Int64(0))
            for segment in s.segments where segment.sealed && !segment.isEmpty && segment.nextOffset > committed {
                lag.segments += 1
                lag.bytes += Int64(segment.segmentBytes)
            }
            return lag
        }
    }
}

extension Lake {
    /// Samples the gauges (open partitions and files, offload lag, cold cache bytes) into this
    /// lake's metrics and returns them. Costs one lock per open partition: call it per scrape,
    /// not per request.
    @discardableResult
    public func refreshMetrics() -> LakeGaugeSample {
        let open = registry.topics.withLock { $0.values }
        var sample = LakeGaugeSample()
        sample.openPartitions = open.count
        sample.openFiles = files.openCount
        for topic in open {
            let lag = topic.offloadLag()
            sample.offloadLagSegments += lag.segments
            sample.offloadLagBytes += lag.bytes
        }
        sample.coldCacheBytes = cold.frames.totalCost
        let metrics = cold.metrics
        metrics.openPartitions.record(sample.openPartitions)
        metrics.openFiles.record(sample.openFiles)
        metrics.offloadLagSegments.record(sample.offloadLagSegments)
        metrics.offloadLagBytes.record(sample.offloadLagBytes)
        metrics.coldCacheBytes.record(sample.coldCacheBytes)
        return sample
    }
}
