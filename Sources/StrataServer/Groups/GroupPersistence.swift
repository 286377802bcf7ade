import Strata

/// Where the coordinator writes what must survive a restart (ARCHITECTURE.md §2f). The engine's
/// `GroupStore` is the real one; every write returns only once it is as durable as a record of
/// the lake's default durability (fsynced for `sync`). A write that throws changed nothing the
/// coordinator may rely on: it answers the request with an error and keeps its old state.
protocol GroupPersistence: Sendable {
    /// The state rebuilt at start: every group with its last membership and committed offsets.
    func groups() async -> [String: StoredGroup]
    /// Stores these offsets for `group` in one atomic write (all or none).
    func commitOffsets(_ group: String, _ offsets: [GroupTopicPartition: CommittedOffset]) async throws(StrataError)
    /// Stores the membership of a completed generation, or of a group that emptied.
    func storeMetadata(_ group: String, _ metadata: GroupMetadataRecord) async throws(StrataError)
    /// Forgets a group: its membership and every committed offset.
    func deleteGroup(_ group: String) async throws(StrataError)
    /// Forgets every group's offsets for a deleted topic.
    func dropTopic(_ topic: String) async throws(StrataError)
}

/// The engine's durable store: `__consumer_offsets` in the lake (formats/groups.md).
extension GroupStore: GroupPersistence {}
