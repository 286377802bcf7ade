import Strata
import StrataKafka

/// The group APIs as the coordinator sees them: wire-free values the handlers in
/// `GroupHandlers.swift` decode from and encode to Kafka structs (ARCHITECTURE.md §2f). Field
/// meanings are Kafka's (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
/// DescribeGroups, ListGroups, DeleteGroups); versions that lack a field pass its default.

struct JoinGroupCall: Sendable {
    var groupId: String
    var sessionTimeoutMs: Int32
    /// JoinGroup v0 has none: the session timeout.
    var rebalanceTimeoutMs: Int32
    /// "" on a first join.
    var memberId: String
    var groupInstanceId: String?
    var protocolType: String
    /// In the member's order of preference.
    var protocols: [(name: String, metadata: [UInt8])]
    var clientId: String
    var clientHost: String
    /// v4+: a first join gets MEMBER_ID_REQUIRED with its new id and must join again with it.
    var requireKnownMemberId: Bool
    var reason: String?
}

struct JoinGroupMember: Sendable, Equatable {
    var memberId: String
    var groupInstanceId: String?
    var metadata: [UInt8]
}

struct JoinGroupOutcome: Sendable {
    var error: KafkaErrorCode
    var generationId: Int32 = -1
    var protocolType: String?
    var protocolName: String?
    var leader: String = ""
    /// v9+; always false (this coordinator never runs the assignment itself).
    var skipAssignment = false
    var memberId: String
    /// Every member with its metadata for the chosen protocol, for the leader only.
    var members: [JoinGroupMember] = []
}

struct SyncGroupCall: Sendable {
    var groupId: String
    var generationId: Int32
    var memberId: String
    var groupInstanceId: String?
    var protocolType: String?
    var protocolName: String?
    /// The leader's assignment; empty from followers.
    var assignments: [(memberId: String, assignment: [UInt8])]
}

struct SyncGroupOutcome: Sendable {
    var error: KafkaErrorCode
    var protocolType: String?
    var protocolName: String?
    var assignment: [UInt8] = []
}

struct HeartbeatCall: Sendable {
    var groupId: String
    var generationId: Int32
    var memberId: String
    var groupInstanceId: String?
}

struct LeaveGroupCall: Sendable {
    var groupId: String
    /// v0–2 name one member (by id); v3+ a batch, each by id or by instance id.
    var members: [(memberId: String, groupInstanceId: String?)]
}

struct LeaveGroupOutcome: Sendable {
    var error: KafkaErrorCode
    /// v3+: one entry per member named, in order.
    var members: [(memberId: String, groupInstanceId: String?, error: KafkaErrorCode)] = []
}

struct OffsetCommitCall: Sendable {
    var groupId: String
    /// -1 with an empty member id: a commit from a consumer outside any generation (allowed
    /// only while the group has no members, as Kafka does).
    var generationId: Int32
    var memberId: String
    var groupInstanceId: String?
    /// Partitions the handler already checked exist; the timestamp is set by the coordinator.
    var offsets: [(GroupTopicPartition, CommittedOffset)]
}

struct OffsetFetchCall: Sendable {
    var groupId: String
    /// Nil: every partition the group has an offset for.
    var partitions: [GroupTopicPartition]?
    var requireStable: Bool
}

struct OffsetFetchOutcome: Sendable {
    /// Top-level error (v2+), e.g. COORDINATOR_LOAD_IN_PROGRESS; NONE otherwise.
    var error: KafkaErrorCode
    /// One entry per partition asked (or every stored one); nil offset: none committed (-1).
    var partitions: [(GroupTopicPartition, CommittedOffset?, KafkaErrorCode)]
}

struct DescribedMember: Sendable, Equatable {
    var memberId: String
    var groupInstanceId: String?
    var clientId: String
    var clientHost: String
    var metadata: [UInt8]
    var assignment: [UInt8]
}

struct DescribedGroup: Sendable {
    var error: KafkaErrorCode
    var groupId: String
    /// Kafka's state names: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
    var state: String
    var protocolType: String
    var protocolName: String
    var members: [DescribedMember]
}

struct ListedGroup: Sendable, Equatable {
    var groupId: String
    var protocolType: String
    var state: String
}
