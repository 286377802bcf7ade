import Strata

/// The states of a classic group, named as Kafka names them on the wire (DescribeGroups,
/// ListGroups).
enum GroupPhase: String, Sendable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"
}

/// One member of a group, as the coordinator tracks it (Kafka's MemberMetadata). Confined to the
/// `GroupCoordinator` actor.
final class GroupMember {
    let memberId: String
    var groupInstanceId: String?
    var clientId: String
    var clientHost: String
    var rebalanceTimeoutMs: Int32
    var sessionTimeoutMs: Int32
    var protocolType: String
    /// In the member's order of preference.
    var protocols: [(name: String, metadata: [UInt8])]
    /// What the leader assigned it for the current generation; empty until then.
    var assignment: [UInt8] = []
    /// It sent a JoinGroup for the rebalance in progress (true even when that request's
    /// connection closed since: the member counts until its session ends).
    var awaitingJoin = false
    /// It waits in a SyncGroup for the leader's assignment.
    var awaitingSync = false
    /// The waiting JoinGroup / SyncGroup to answer (ids into the coordinator's waiter tables).
    var joinWaiter: UInt64?
    var syncWaiter: UInt64?
    /// When its session ends unless it heartbeats (ignored while it awaits a join or sync).
    var sessionDeadlineMs: Int64

    init(
        memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, rebalanceTimeoutMs: Int32,
        sessionTimeoutMs: Int32, protocolType: String, protocols: [(name: String, metadata: [UInt8])],
        sessionDeadlineMs: Int64
    ) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.sessionTimeoutMs = sessionTimeoutMs
        self.protocolType = protocolType
        self.protocols = protocols
        self.sessionDeadlineMs = sessionDeadlineMs
    }

    /// The member's metadata (subscription) for one protocol; empty when it has none.
    func metadata(for protocolName: String?) -> [UInt8] {
        guard let protocolName else { return [] }
        return protocols.first { $0.name == protocolName }?.metadata ?? []
    }

    /// Same protocols, metadata and order (Kafka's MemberMetadata.matches).
    func matches(_ other: [(name: String, metadata: [UInt8])]) -> Bool {
        protocols.count == other.count
            && zip(protocols, other).allSatisfy { $0.name == $1.name && $0.metadata == $1.metadata }
    }

    /// The member's most preferred protocol among `candidates`.
    func vote(_ candidates: Set<String>) -> String? { protocols.first { candidates.contains($0.name) }?.name }
}

/// One group's state (Kafka's GroupMetadata). Confined to the `GroupCoordinator` actor.
final class GroupState {
    let groupId: String
    var phase: GroupPhase = .empty
    var generation: Int32 = 0
    /// Set by the first member to join; kept while the group empties.
    var protocolType: String?
    /// The protocol chosen for the current generation; nil while empty.
    var protocolName: String?
    var leaderId: String?
    var members: [String: GroupMember] = [:]
    /// Member ids in the order they joined (the leader falls back to the first).
    var order: [String] = []
    /// group.instance.id → member id.
    var staticMembers: [String: String] = [:]
    /// Ids handed out with MEMBER_ID_REQUIRED, with the time they expire unless used.
    var pending: [String: Int64] = [:]
    var offsets: [GroupTopicPartition: CommittedOffset] = [:]

    /// PreparingRebalance: when the join completes whether or not every member rejoined.
    var joinDeadlineMs: Int64 = 0
    /// The initial delay of a group's first rebalance (Kafka's InitialDelayedJoin); nil for an
    /// ordinary rebalance.
    var initialDelay: (delayMs: Int64, remainingMs: Int64)?
    /// A member joined during the initial delay (extends it).
    var newMemberAdded = false
    /// The generation whose leader assignment is being persisted.
    var assignmentStoringGeneration: Int32?

    /// When the sweep first saw the group Empty with no offsets (it is forgotten after
    /// `emptyGroupRetentionMs`); nil otherwise.
    var emptySinceMs: Int64?

    /// Writes to the persistence run one at a time per group, in the order taken (tickets).
    var ticketNext: UInt64 = 0
    var ticketServing: UInt64 = 0
    var turnWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]

    init(groupId: String) { self.groupId = groupId }

    /// The largest rebalance timeout of the members (Kafka's group.rebalanceTimeoutMs).
    var rebalanceTimeoutMs: Int32 { members.values.map(\.rebalanceTimeoutMs).max() ?? 0 }

    /// Members in join order.
    var orderedMembers: [GroupMember] { order.compactMap { members[$0] } }

    /// Every member rejoined and no handed-out id is still unused (Kafka's hasAllMembersJoined).
    var hasAllMembersJoined: Bool { pending.isEmpty && members.values.allSatisfy(\.awaitingJoin) }

    /// Nothing to keep in memory: no members, pending ids, offsets, generation or write.
    var isDisposable: Bool {
        phase == .empty && members.isEmpty && pending.isEmpty && offsets.isEmpty && generation == 0
            && ticketNext == ticketServing
    }

    /// Whether a member of this type with these protocols may join (Kafka's supportsProtocols):
    /// an empty group takes any non-empty type and protocol list; otherwise the type must match
    /// and one of the protocols must be supported by every member.
    func supportsProtocols(_ protocolType: String, _ names: [String]) -> Bool {
        guard !members.isEmpty else { return !protocolType.isEmpty && !names.isEmpty }
        guard self.protocolType == protocolType else { return false }
        return names.contains { name in members.values.allSatisfy { m in m.protocols.contains { $0.name == name } } }
    }

    /// The protocol every member supports with the most first-preference votes (Kafka's
    /// selectProtocol); ties go to the one the earliest member prefers.
    func selectProtocol() -> String? {
        let all = orderedMembers
        guard let first = all.first else { return nil }
        var candidates = Set(first.protocols.map(\.name))
        for m in all.dropFirst() { candidates.formIntersection(m.protocols.map(\.name)) }
        guard !candidates.isEmpty else { return first.protocols.first?.name }
        var votes: [String: Int] = [:]
        for m in all { if let v = m.vote(candidates) { votes[v, default: 0] += 1 } }
        let most = votes.values.max() ?? 0
        return first.protocols.map(\.name).first { votes[$0] == most } ?? first.protocols.first?.name
    }

    func add(_ member: GroupMember) {
        if members.isEmpty { protocolType = member.protocolType }
        members[member.memberId] = member
        order.append(member.memberId)
        if let instance = member.groupInstanceId { staticMembers[instance] = member.memberId }
        if leaderId == nil { leaderId = member.memberId }
    }

    /// Takes a member out (its waiters are the caller's to answer); the leader passes to the
    /// earliest remaining member.
    @discardableResult
    func remove(_ memberId: String) -> GroupMember? {
        guard let member = members.removeValue(forKey: memberId) else { return nil }
        order.removeAll { $0 == memberId }
        if let instance = member.groupInstanceId, staticMembers[instance] == memberId {
            staticMembers.removeValue(forKey: instance)
        }
        if leaderId == memberId { leaderId = order.first }
        return member
    }

    /// Makes sure the leader is a member that rejoined (Kafka's maybeElectNewJoinedLeader);
    /// false when no member rejoined.
    func electJoinedLeader() -> Bool {
        if let leaderId, members[leaderId]?.awaitingJoin == true { return true }
        guard let joined = orderedMembers.first(where: \.awaitingJoin) else { return false }
        leaderId = joined.memberId
        return true
    }

    /// Every member with its metadata for the chosen protocol (what the leader gets).
    func memberMetadata() -> [JoinGroupMember] {
        orderedMembers.map {
            JoinGroupMember(
                memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(for: protocolName))
        }
    }

    /// The membership as persisted, with `assignment` for the members it names (else theirs).
    func metadataRecord(nowMs: Int64, assignment: [String: [UInt8]]? = nil) -> GroupMetadataRecord {
        GroupMetadataRecord(
            protocolType: protocolType ?? "", generation: generation,
            protocolName: members.isEmpty ? nil : protocolName,
            leader: members.isEmpty ? nil : leaderId, stateTimestampMs: nowMs,
            members: orderedMembers.map { m in
                GroupMemberRecord(
                    memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId,
                    clientHost: m.clientHost, rebalanceTimeoutMs: m.rebalanceTimeoutMs,
                    sessionTimeoutMs: m.sessionTimeoutMs, subscription: m.metadata(for: protocolName),
                    assignment: assignment.map { $0[m.memberId] ?? [] } ?? m.assignment)
            })
    }
}

/// A random member id suffix in the UUID text form (Kafka's `clientId-UUID`), without Foundation.
func randomUUIDString() -> String {
    var rng = SystemRandomNumberGenerator()
    var bytes = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
    bytes[6] = (bytes[6] & 0x0F) | 0x40
    bytes[8] = (bytes[8] & 0x3F) | 0x80
    let hex = bytes.map { b in String(b >> 4, radix: 16) + String(b & 0x0F, radix: 16) }
    return [0 ..< 4, 4 ..< 6, 6 ..< 8, 8 ..< 10, 10 ..< 16].map { hex[$0].joined() }.joined(separator: "-")
}
