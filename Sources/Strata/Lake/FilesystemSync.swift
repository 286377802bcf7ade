import Dispatch
import StrataBlob
import Synchronization

/// Many logs made durable with one `syncfs(2)` of the lake's filesystem instead of one
/// fdatasync each (ARCHITECTURE.md §2j): `Lake.close`, and the background tick's `async` flushes.
/// A disk does some thousands of fsyncs a second; 100,000 dirty partitions closed in 15.5 s with
/// an fsync each, and the tick, flushing one log after another, fell behind their one-second
/// interval. syncfs writes back and makes durable every file of the filesystem (data, metadata,
/// directory entries) and reports writeback errors it saw (Linux 5.8+).
struct FilesystemSync: Sendable {
    let root: String
    let barrier: MetadataBarrier?
    /// syncfs calls made (tests and stats).
    let calls: @Sendable () -> Void
    /// False with the `beforeGroupFsync` test hook (it stands for each log's own fsync) and for
    /// a read-only lake.
    let enabled: Bool
    let metrics: EngineMetrics

    /// Fewer dirty logs than this flush themselves.
    static let logsMin = 64

    /// The logs of `topics` holding records not yet durable in their segments, each with the
    /// end written before the sync starts. Stopped and read-only logs are left out: their own
    /// flush reports what stopped them.
    static func dirty(_ topics: [Topic]) -> [(topic: Topic, written: Int64)] {
        topics.compactMap { topic in
            guard !topic.isReadOnly else { return nil }
            let (written, stopped) = topic.state.withLock { ($0.writtenOffset, $0.failure != nil) }
            return !stopped && topic.groupCommit.segmentDurableOffset < written ? (topic, written) : nil
        }
    }

    /// When `dirty` and `debts` (evicted logs' flushes, Lake/FlushDebts.swift, taken before the
    /// call) are more than `logsMin` logs: the metadata barrier, then one syncfs off the
    /// cooperative pool, then each log's durable offset moved to what it had written before.
    /// - Returns: false (nothing changed) when not enabled, too few logs, or the sync failed
    ///   (the failure is returned too): the caller then flushes each log and pays each debt itself.
    func sync(_ dirty: [(topic: Topic, written: Int64)], debts: Int = 0) async -> (synced: Bool, failure: StrataError?) {
        guard enabled, dirty.count + debts > Self.logsMin else { return (false, nil) }
        let (root, barrier, metrics) = (self.root, self.barrier, self.metrics)
        let failure: StrataError? = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(StrataError) {
                    try barrier?()
                    try metrics.timed(.filesystem) { () throws(StrataError) in
                        do throws(Errno) { try Posix.syncFilesystem(containing: root) } catch {
                            throw FileIO.ioError(error)
                        }
                    }
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error)
                }
            }
        }
        if let failure { return (false, failure) }
        calls()
        for (topic, written) in dirty { topic.groupCommit.recordRollFsync(durableUpTo: written) }
        return (true, nil)
    }
}

extension Lake {
    var filesystemSync: FilesystemSync {
        let registry = self.registry
        return FilesystemSync(
            root: paths.root, barrier: metadataBarrier, calls: { registry.filesystemSyncs.add(1, ordering: .relaxed) },
            enabled: options.beforeGroupFsync == nil && !isReadOnly, metrics: options.engineMetrics)
    }
}

extension TopicRegistry {
    /// Pays `owed` one by one (`FlushDebts.pay`). A failed payment stops the log's open handle
    /// (a lookup opened it again meanwhile), or stays with the debts for the next handle and
    /// `close`, as a failed fsync stops an open log.
    /// - Returns: the first failure, in the order given.
    func pay(_ owed: [(name: String, debt: FlushDebts.Debt)], _ sync: FilesystemSync, log: @escaping @Sendable (String) -> Void)
        async -> StrataError?
    {
        let failed = await FlushDebts.pay(owed, barrier: sync.barrier, metrics: sync.metrics, log: log)
        guard !failed.isEmpty else { return nil }
        topics.withLock { open in
            for (name, debt) in failed {
                guard let failure = debt.failure else { continue }
                log("flush of evicted log \(name) failed, the log is stopped until the lake is reopened: \(failure)")
                if let topic = open.peek(name) { topic.stop(failure) } else { debts.add(name, debt) }
            }
        }
        return failed.first?.debt.failure
    }
}
