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
    func beforeSegmentFsync() throws(StrataError) {
        try metadataBarrier?()
    }
}
