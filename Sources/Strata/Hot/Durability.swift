/// What must be durable before a log's records are (ARCHITECTURE.md §2h, §2i).
///
/// Every fdatasync that makes records durable runs `beforeSegmentFsync` first (the journal
/// leader runs the lake's barrier itself): the group commit of a segment, a roll, the journal
/// checkpoint's segment syncs and the journal replay's. So what the lake stores about a topic
/// (its existence, config, partition count) never becomes durable after the records it
/// describes: a power loss can lose a topic only together with every record of it.

/// Makes what the lake stores about its topics durable (nothing to do when it already is).
typealias MetadataBarrier = @Sendable () throws(StrataError) -> Void

extension Topic {
    /// Runs before an fdatasync of this log's segment.
    /// - Throws: the barrier's failure; the caller stops the log as for a failed fsync.
    /// Then the directory entries a new segment or partition directory still needs
    /// (`pendingDirectories`), once: with them, the fdatasync that follows makes the records
    /// reachable after a power loss.
    func beforeSegmentFsync() throws(StrataError) {
        try metadataBarrier?()
        try syncPendingDirectories()
    }

    /// fsyncs the directories in `pendingDirectories`, innermost first; each leaves the list once
    /// synced. The lock is held across the fsyncs, so a directory a concurrent roll adds is never
    /// dropped by a sync that started before the new entry existed.
    func syncPendingDirectories() throws(StrataError) {
        try pendingDirectories.withLock { (directories) throws(StrataError) in
            while let directory = directories.first {
                try cold.metrics.timed(.directory) { () throws(StrataError) in try FileIO.fsyncDirectory(directory) }
                directories.removeFirst()
            }
        }
    }
}
