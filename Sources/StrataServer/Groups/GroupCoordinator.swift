import Strata
import StrataKafka

/// The group coordinator of this node (the classic protocol; ARCHITECTURE.md §2f).
///
/// PLACEHOLDER (lead, session 21): the signatures are the contract between the handlers and the
/// coordinator; the helper building the coordinator replaces every body.
actor GroupCoordinator {
    let persistence: (any GroupPersistence)?
    let clock: any StrataClock
    let options: GroupCoordinatorOptions
    let log: @Sendable (String) -> Void

    init(
        persistence: (any GroupPersistence)?, clock: any StrataClock, options: GroupCoordinatorOptions,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.persistence = persistence
        self.clock = clock
        self.options = options
        self.log = log
    }

    /// Loads the stored groups and starts the session-timeout sweep.
    func start() async {}
    /// Stops the sweep and answers every waiting join and sync (COORDINATOR_NOT_AVAILABLE... or
    /// REBALANCE_IN_PROGRESS as Kafka does on shutdown).
    func shutdown() async {}

    func join(_ call: JoinGroupCall) async -> JoinGroupOutcome {
        JoinGroupOutcome(error: .coordinatorNotAvailable, memberId: call.memberId)
    }
    func sync(_ call: SyncGroupCall) async -> SyncGroupOutcome { SyncGroupOutcome(error: .coordinatorNotAvailable) }
    func heartbeat(_ call: HeartbeatCall) async -> KafkaErrorCode { .coordinatorNotAvailable }
    func leave(_ call: LeaveGroupCall) async -> LeaveGroupOutcome { LeaveGroupOutcome(error: .coordinatorNotAvailable) }
    /// Per-partition errors, in the call's order.
    func commitOffsets(_ call: OffsetCommitCall) async -> [(GroupTopicPartition, KafkaErrorCode)] {
        call.offsets.map { ($0.0, .coordinatorNotAvailable) }
    }
    func fetchOffsets(_ call: OffsetFetchCall) async -> OffsetFetchOutcome {
        OffsetFetchOutcome(error: .coordinatorNotAvailable, partitions: [])
    }
    func describe(_ groupIds: [String]) async -> [DescribedGroup] { [] }
    /// `states` empty: every group (ListGroups v4's StatesFilter).
    func list(states: [String]) async -> [ListedGroup] { [] }
    func delete(_ groupIds: [String]) async -> [(String, KafkaErrorCode)] {
        groupIds.map { ($0, .coordinatorNotAvailable) }
    }
    /// A topic was deleted: its committed offsets go, in memory and in the store.
    func topicDeleted(_ topic: String) async {}
}

/// Bounds and timings of the coordinator (`strata serve --group-*`).
struct GroupCoordinatorOptions: Sendable {
    /// Kafka's group.min.session.timeout.ms / group.max.session.timeout.ms.
    var sessionTimeoutMsMin: Int32 = 6_000
    var sessionTimeoutMsMax: Int32 = 1_800_000
    /// How long a new group waits for more members before its first generation
    /// (group.initial.rebalance.delay.ms).
    var initialRebalanceDelayMs: Int64 = 3_000
    /// Members per group at most (GROUP_MAX_SIZE_REACHED beyond).
    var groupMembersMax = 1_000
    /// Groups at most (a JoinGroup or commit for a new group beyond it is refused).
    var groupsMax = 100_000
    /// Longest metadata string per committed offset (OFFSET_METADATA_TOO_LARGE beyond).
    var offsetMetadataBytesMax = 4_096
}
