/// What the engine keeps durably for a consumer group (ARCHITECTURE.md §2f, formats/groups.md):
/// the committed offsets, and the membership of its last completed generation so that a restarted
/// server (and `strata inspect groups`) knows members and assignments. The coordinator in
/// StrataServer owns the protocol; these are the values it writes through `GroupStore`, and the
/// values `GroupRecords.swift` encodes (one model, here, for both).

/// One partition of one topic, as a group names it.
public struct GroupTopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    public var description: String { "\(topic)/\(partition)" }
}

/// An offset a group committed for one partition (Kafka's OffsetAndMetadata).
public struct CommittedOffset: Sendable, Equatable {
    /// The next offset the group will read.
    public var offset: Int64
    /// The leader epoch the client saw with it; -1 when it sent none.
    public var leaderEpoch: Int32
    /// The client's metadata string (Kafka stores a null one as "").
    public var metadata: String
    /// When the coordinator accepted the commit (ms since the epoch).
    public var commitTimestampMs: Int64

    public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestampMs: Int64) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestampMs = commitTimestampMs
    }
}

/// One member of a group's completed generation.
public struct GroupMemberRecord: Sendable, Equatable {
    public var memberId: String
    /// `group.instance.id` of a static member (KIP-345); nil for a dynamic one.
    public var groupInstanceId: String?
    public var clientId: String
    public var clientHost: String
    public var rebalanceTimeoutMs: Int32
    public var sessionTimeoutMs: Int32
    /// The member's metadata for the chosen protocol (its subscription), passed through unread.
    public var subscription: [UInt8]
    /// What the leader assigned it in SyncGroup, passed through unread.
    public var assignment: [UInt8]

    public init(
        memberId: String, groupInstanceId: String? = nil, clientId: String, clientHost: String,
        rebalanceTimeoutMs: Int32, sessionTimeoutMs: Int32, subscription: [UInt8], assignment: [UInt8]
    ) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.sessionTimeoutMs = sessionTimeoutMs
        self.subscription = subscription
        self.assignment = assignment
    }
}

/// A group's membership as of its last completed generation (or as it emptied).
public struct GroupMetadataRecord: Sendable, Equatable {
    /// "consumer" for consumer groups; Connect uses "connect".
    public var protocolType: String
    public var generation: Int32
    /// The chosen assignor ("range", "roundrobin", "cooperative-sticky", …); nil when empty.
    public var protocolName: String?
    public var leader: String?
    /// When this record was written (ms since the epoch).
    public var stateTimestampMs: Int64
    /// Empty when the group has no members (offsets stay).
    public var members: [GroupMemberRecord]

    public init(
        protocolType: String, generation: Int32, protocolName: String?, leader: String?, stateTimestampMs: Int64,
        members: [GroupMemberRecord]
    ) {
        self.protocolType = protocolType
        self.generation = generation
        self.protocolName = protocolName
        self.leader = leader
        self.stateTimestampMs = stateTimestampMs
        self.members = members
    }
}

/// Everything stored for one group.
public struct StoredGroup: Sendable, Equatable {
    /// Nil for a group that only ever committed offsets (a standalone consumer with a group id).
    public var metadata: GroupMetadataRecord?
    public var offsets: [GroupTopicPartition: CommittedOffset]

    public init(metadata: GroupMetadataRecord? = nil, offsets: [GroupTopicPartition: CommittedOffset] = [:]) {
        self.metadata = metadata
        self.offsets = offsets
    }
}
