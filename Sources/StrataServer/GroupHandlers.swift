import Strata
import StrataKafka

// The consumer-group APIs (issue 14): FindCoordinator answers this node; the others decode the
// request into the wire-free calls of Groups/GroupRequests.swift, ask the `GroupCoordinator`,
// and encode its outcome for the request's version. Only checks that need no group state are
// made here: empty group ids, commits for partitions that do not exist, metadata too long.
extension RequestDispatcher {
    /// The internal topic holding committed offsets and group metadata: hidden from Metadata,
    /// refused by Produce, CreateTopics and DeleteTopics (INVALID_TOPIC), never committed to.
    static let groupsTopic = GroupStore.topicName

    /// Kafka's operation codes for what a group supports: READ (3), DELETE (6), DESCRIBE (8).
    static let groupOperationCodes: [(AclOperation, Int32)] = [(.read, 3), (.delete, 6), (.describe, 8)]

    /// Group authorized operations reported when DescribeGroups v3+ asks: the bits of the group
    /// operations the ACLs let the principal do (all three without `--acl`).
    func groupOperations(_ group: String, session: ConnectionSession) -> Int32 {
        Self.groupOperationCodes.reduce(0) { bits, entry in
            security.allows(session.principal, entry.0, .group, group) ? bits | 1 << entry.1 : bits
        }
    }

    /// FindCoordinator 0–4: this node for groups (key type 0). Transactions (1) get
    /// COORDINATOR_NOT_AVAILABLE, since transactional producers are refused; other key types
    /// INVALID_REQUEST. v4 answers each of `CoordinatorKeys` in order. A coordinator that has
    /// shut down is COORDINATOR_NOT_AVAILABLE (one still loading is found: its group calls
    /// answer COORDINATOR_LOAD_IN_PROGRESS).
    func findCoordinator(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError)
        -> KafkaStruct
    {
        let keyType = try request.body.int8("KeyType")
        let stopped = await groups.availability() == .notCoordinator
        func coordinator(_ key: String) -> KafkaStruct {
            var entry: KafkaStruct = ["Key": .string(key)]
            switch keyType {
            case 0 where !allowed(session, .describe, group: key):
                entry["ErrorCode"] = KafkaErrorCode.groupAuthorizationFailed.value
                entry["ErrorMessage"] = .string("not authorized to describe group '\(key)'")
            case 0 where stopped:
                entry["ErrorCode"] = KafkaErrorCode.coordinatorNotAvailable.value
                entry["ErrorMessage"] = .string("the server is shutting down")
            case 0:
                entry["ErrorCode"] = KafkaErrorCode.none.value
                entry["NodeId"] = .int(Int64(KafkaServerOptions.nodeId))
                entry["Host"] = .string(session.listener.advertisedHost)
                entry["Port"] = .int(Int64(session.listener.advertisedPort))
                entry["ErrorMessage"] = .string(nil)
                return entry
            case 1:
                entry["ErrorCode"] = KafkaErrorCode.coordinatorNotAvailable.value
                entry["ErrorMessage"] = .string("transactions are not supported: there is no transaction coordinator")
            default:
                entry["ErrorCode"] = KafkaErrorCode.invalidRequest.value
                entry["ErrorMessage"] = .string("key type \(keyType) is not 0 (group) or 1 (transaction)")
            }
            entry["NodeId"] = .int(-1)
            entry["Host"] = .string("")
            entry["Port"] = .int(-1)
            return entry
        }
        guard request.version >= 4 else {
            var body = coordinator(try request.body.string("Key") ?? "")
            body["Key"] = nil
            body["ThrottleTimeMs"] = .int(0)
            return body
        }
        let keys = try request.body.strings("CoordinatorKeys") ?? []
        return ["ThrottleTimeMs": .int(0), "Coordinators": .structs(keys.map { coordinator($0 ?? "") })]
    }

    /// JoinGroup 0–9. v0 has no rebalance timeout (the session timeout stands in); from v4 a
    /// first join without a member id gets MEMBER_ID_REQUIRED with its id (KIP-394). The
    /// coordinator may hold the answer until the rebalance completes.
    func joinGroup(_ request: KafkaRequest, peer: String) async throws(KafkaDecodeError) -> KafkaStruct {
        let body = request.body
        let groupId = try body.string("GroupId") ?? ""
        let memberId = try body.string("MemberId") ?? ""
        let outcome: JoinGroupOutcome
        if groupId.isEmpty {
            outcome = JoinGroupOutcome(error: .invalidGroupId, memberId: memberId)
        } else {
            let sessionTimeoutMs = try body.int32("SessionTimeoutMs")
            var protocols: [(name: String, metadata: [UInt8])] = []
            for entry in try body.structs("Protocols") ?? [] {
                protocols.append((try entry.string("Name") ?? "", try entry.bytes("Metadata") ?? []))
            }
            let call = JoinGroupCall(
                groupId: groupId, sessionTimeoutMs: sessionTimeoutMs,
                rebalanceTimeoutMs: request.version >= 1 ? try body.int32("RebalanceTimeoutMs") : sessionTimeoutMs,
                memberId: memberId, groupInstanceId: try body.string("GroupInstanceId"),
                protocolType: try body.string("ProtocolType") ?? "", protocols: protocols,
                clientId: request.header.clientId ?? "", clientHost: Self.clientHost(peer),
                requireKnownMemberId: request.version >= 4, reason: try body.string("Reason"))
            outcome = await groups.join(call)
        }
        let members: [KafkaStruct] = outcome.members.map { member in
            [
                "MemberId": .string(member.memberId), "GroupInstanceId": .string(member.groupInstanceId),
                "Metadata": .bytes(member.metadata),
            ]
        }
        // ProtocolName is nullable from v7 only.
        let protocolName = request.version >= 7 ? outcome.protocolName : outcome.protocolName ?? ""
        return [
            "ThrottleTimeMs": .int(0), "ErrorCode": outcome.error.value,
            "GenerationId": .int(Int64(outcome.generationId)),
            "ProtocolType": .string(outcome.protocolType), "ProtocolName": .string(protocolName),
            "Leader": .string(outcome.leader), "SkipAssignment": .bool(outcome.skipAssignment),
            "MemberId": .string(outcome.memberId), "Members": .structs(members),
        ]
    }

    /// SyncGroup 0–5: the leader's assignment in, each member's out.
    func syncGroup(_ request: KafkaRequest) async throws(KafkaDecodeError) -> KafkaStruct {
        let body = request.body
        let groupId = try body.string("GroupId") ?? ""
        let outcome: SyncGroupOutcome
        if groupId.isEmpty {
            outcome = SyncGroupOutcome(error: .invalidGroupId)
        } else {
            var assignments: [(memberId: String, assignment: [UInt8])] = []
            for entry in try body.structs("Assignments") ?? [] {
                assignments.append((try entry.string("MemberId") ?? "", try entry.bytes("Assignment") ?? []))
            }
            outcome = await groups.sync(
                SyncGroupCall(
                    groupId: groupId, generationId: try body.int32("GenerationId"),
                    memberId: try body.string("MemberId") ?? "", groupInstanceId: try body.string("GroupInstanceId"),
                    protocolType: try body.string("ProtocolType"), protocolName: try body.string("ProtocolName"),
                    assignments: assignments))
        }
        return [
            "ThrottleTimeMs": .int(0), "ErrorCode": outcome.error.value, "ProtocolType": .string(outcome.protocolType),
            "ProtocolName": .string(outcome.protocolName), "Assignment": .bytes(outcome.assignment),
        ]
    }

    /// Heartbeat 0–4.
    func heartbeat(_ request: KafkaRequest) async throws(KafkaDecodeError) -> KafkaStruct {
        let body = request.body
        let groupId = try body.string("GroupId") ?? ""
        var error = KafkaErrorCode.invalidGroupId
        if !groupId.isEmpty {
            error = await groups.heartbeat(
                HeartbeatCall(
                    groupId: groupId, generationId: try body.int32("GenerationId"),
                    memberId: try body.string("MemberId") ?? "", groupInstanceId: try body.string("GroupInstanceId")))
        }
        return ["ThrottleTimeMs": .int(0), "ErrorCode": error.value]
    }

    /// LeaveGroup 0–5. v0–2 name one member and have no member errors: as Kafka does, that
    /// member's error becomes the top-level one.
    func leaveGroup(_ request: KafkaRequest) async throws(KafkaDecodeError) -> KafkaStruct {
        let body = request.body
        let groupId = try body.string("GroupId") ?? ""
        var members: [(memberId: String, groupInstanceId: String?)] = []
        if request.version <= 2 {
            members = [(try body.string("MemberId") ?? "", nil)]
        } else {
            for entry in try body.structs("Members") ?? [] {
                members.append((try entry.string("MemberId") ?? "", try entry.string("GroupInstanceId")))
            }
        }
        let outcome: LeaveGroupOutcome
        if groupId.isEmpty {
            outcome = LeaveGroupOutcome(error: .invalidGroupId)
        } else {
            outcome = await groups.leave(LeaveGroupCall(groupId: groupId, members: members))
        }
        var error = outcome.error
        if request.version <= 2, error == .none, let member = outcome.members.first { error = member.error }
        let answered: [KafkaStruct] = outcome.members.map { member in
            [
                "MemberId": .string(member.memberId), "GroupInstanceId": .string(member.groupInstanceId),
                "ErrorCode": member.error.value,
            ]
        }
        return ["ThrottleTimeMs": .int(0), "ErrorCode": error.value, "Members": .structs(answered)]
    }

    /// OffsetCommit 2–8. Partitions of topics or partitions that do not exist (and of the
    /// internal topic) get UNKNOWN_TOPIC_OR_PARTITION, metadata over `offsetMetadataBytesMax`
    /// OFFSET_METADATA_TOO_LARGE; the rest go to the coordinator. An empty group id is allowed,
    /// as Kafka allows it for commits (a standalone consumer's). RetentionTimeMs (v2–4) is read
    /// and ignored, as Kafka has since 2.1: offsets stay until their group or topic is deleted.
    func offsetCommit(_ request: KafkaRequest) async throws(KafkaDecodeError) -> KafkaStruct {
        let body = request.body
        let metadataMax = options.groupOffsetMetadataBytesMax
        // Every partition in the request's order, with the error found here (nil: to the coordinator).
        var entries: [(partition: GroupTopicPartition, error: KafkaErrorCode?)] = []
        var accepted: [(GroupTopicPartition, CommittedOffset)] = []
        var layout: [(name: String, count: Int)] = []
        var counts: [String: Int32?] = [:]
        for topic in try body.structs("Topics") ?? [] {
            let name = try topic.string("Name") ?? ""
            if counts[name] == nil { counts[name] = committableCount(name) }
            let count = counts[name] ?? nil
            let partitions = try topic.structs("Partitions") ?? []
            for partition in partitions {
                let index = try partition.int32("PartitionIndex")
                let key = GroupTopicPartition(topic: name, partition: index)
                let metadata = try partition.string("CommittedMetadata") ?? ""
                guard let count, index >= 0, index < count else {
                    entries.append((key, .unknownTopicOrPartition))
                    continue
                }
                guard metadata.utf8.count <= metadataMax else {
                    entries.append((key, .offsetMetadataTooLarge))
                    continue
                }
                entries.append((key, nil))
                accepted.append(
                    (
                        key,
                        CommittedOffset(
                            offset: try partition.int("CommittedOffset"),
                            leaderEpoch: try partition.int32("CommittedLeaderEpoch"), metadata: metadata,
                            commitTimestampMs: 0)
                    ))
            }
            layout.append((name, partitions.count))
        }
        var answers: [KafkaErrorCode] = []
        if !accepted.isEmpty {
            let call = OffsetCommitCall(
                groupId: try body.string("GroupId") ?? "", generationId: try body.int32("GenerationIdOrMemberEpoch"),
                memberId: try body.string("MemberId") ?? "", groupInstanceId: try body.string("GroupInstanceId"),
                offsets: accepted)
            answers = await groups.commitOffsets(call).map(\.1)
        }
        var next = answers.makeIterator()
        var topics: [KafkaStruct] = []
        var position = 0
        for (name, count) in layout {
            var partitions: [KafkaStruct] = []
            for entry in entries[position ..< position + count] {
                // A coordinator that answered fewer partitions than asked left the rest unanswered.
                let error = entry.error ?? next.next() ?? .unknownServerError
                partitions.append(["PartitionIndex": .int(Int64(entry.partition.partition)), "ErrorCode": error.value])
            }
            position += count
            topics.append(["Name": .string(name), "Partitions": .structs(partitions)])
        }
        return ["ThrottleTimeMs": .int(0), "Topics": .structs(topics)]
    }

    /// The partition count of a topic a group may commit to; nil when it does not exist (or is
    /// the internal topic, or is not a valid name).
    private func committableCount(_ name: String) -> Int32? {
        guard name != Self.groupsTopic, TopicName.isValid(name) else { return nil }
        return try? EngineCalls.partitionCount(lake, name)
    }

    /// OffsetFetch 1–8. A null topic list (v2+) asks for every committed partition; v8 asks for
    /// several groups at once. v1 has no top-level error: a group error goes on each partition.
    func offsetFetch(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        let body = request.body
        let requireStable = try body.bool("RequireStable")
        // Offsets of topics the principal may not describe: TOPIC_AUTHORIZATION_FAILED when asked
        // for by name, left out of an all-topics answer, as Kafka does. (The group's describe
        // check for v0–7 is made in `groupDenied`.)
        let mayDescribe = { (topic: String) in self.security.allows(session.principal, .describe, .topic, topic) }
        guard request.version >= 8 else {
            let topics = try body.structs("Topics")
            let (error, answered) = try await fetchOffsets(
                try body.string("GroupId") ?? "", topics: topics, requireStable: requireStable,
                errorOnPartitions: request.version < 2, mayDescribe: mayDescribe)
            return ["ThrottleTimeMs": .int(0), "ErrorCode": error.value, "Topics": .structs(answered)]
        }
        var results: [KafkaStruct] = []
        for group in try body.structs("Groups") ?? [] {
            let groupId = try group.string("GroupId") ?? ""
            guard allowed(session, .describe, group: groupId) else {
                results.append(
                    [
                        "GroupId": .string(groupId), "ErrorCode": KafkaErrorCode.groupAuthorizationFailed.value,
                        "Topics": .structs([]),
                    ])
                continue
            }
            let (error, answered) = try await fetchOffsets(
                groupId, topics: try group.structs("Topics"), requireStable: requireStable, errorOnPartitions: false,
                mayDescribe: mayDescribe)
            results.append(["GroupId": .string(groupId), "ErrorCode": error.value, "Topics": .structs(answered)])
        }
        return ["ThrottleTimeMs": .int(0), "Groups": .structs(results)]
    }

    /// One group's committed offsets for `topics` (nil: all), as response topics.
    private func fetchOffsets(
        _ groupId: String, topics: [KafkaStruct]?, requireStable: Bool, errorOnPartitions: Bool,
        mayDescribe: (String) -> Bool
    ) async throws(KafkaDecodeError) -> (KafkaErrorCode, [KafkaStruct]) {
        var asked: [GroupTopicPartition]?
        if let topics {
            var list: [GroupTopicPartition] = []
            for topic in topics {
                let name = try topic.string("Name") ?? ""
                for index in try topic.ints("PartitionIndexes") ?? [] {
                    list.append(GroupTopicPartition(topic: name, partition: Int32(truncatingIfNeeded: index)))
                }
            }
            asked = list
        }
        let outcome = await groups.fetchOffsets(
            OffsetFetchCall(groupId: groupId, partitions: asked, requireStable: requireStable))
        var rows = outcome.partitions
        if errorOnPartitions, outcome.error != .none {
            rows = (asked ?? []).map { ($0, nil, outcome.error) }
        }
        rows = rows.compactMap { row in
            if mayDescribe(row.0.topic) { return row }
            return asked == nil ? nil : (row.0, nil, .topicAuthorizationFailed)
        }
        var order: [String] = []
        var byTopic: [String: [KafkaStruct]] = [:]
        for (key, committed, error) in rows {
            if byTopic[key.topic] == nil {
                order.append(key.topic)
                byTopic[key.topic] = []
            }
            byTopic[key.topic]?.append(
                [
                    "PartitionIndex": .int(Int64(key.partition)), "CommittedOffset": .int(committed?.offset ?? -1),
                    "CommittedLeaderEpoch": .int(Int64(committed?.leaderEpoch ?? -1)),
                    "Metadata": .string(committed?.metadata ?? ""), "ErrorCode": error.value,
                ])
        }
        let answered: [KafkaStruct] = order.map { ["Name": .string($0), "Partitions": .structs(byTopic[$0] ?? [])] }
        return (errorOnPartitions ? .none : outcome.error, answered)
    }

    /// DescribeGroups 0–5: each group in the request's order. An unknown group is the
    /// coordinator's to answer (Kafka: state Dead, no error).
    func describeGroups(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError)
        -> KafkaStruct
    {
        let ids = (try request.body.strings("Groups") ?? []).map { $0 ?? "" }
        let includeOperations = try request.body.bool("IncludeAuthorizedOperations")
        // A group the principal may not describe is GROUP_AUTHORIZATION_FAILED in its place; the
        // coordinator is asked only about the others.
        let permitted = ids.map { allowed(session, .describe, group: $0) }
        var described = await groups.describe(zip(ids, permitted).filter { $0.1 }.map { $0.0 }).makeIterator()
        // One answer per id, in the request's order (a search per id was quadratic in the ids).
        let answered: [KafkaStruct] = zip(ids, permitted).map { id, permitted in
            guard permitted, let group = described.next() else {
                return [
                    "ErrorCode": KafkaErrorCode.groupAuthorizationFailed.value, "GroupId": .string(id),
                    "GroupState": .string(""), "ProtocolType": .string(""), "ProtocolData": .string(""),
                    "Members": .structs([]),
                ]
            }
            let members: [KafkaStruct] = group.members.map { member in
                [
                    "MemberId": .string(member.memberId), "GroupInstanceId": .string(member.groupInstanceId),
                    "ClientId": .string(member.clientId), "ClientHost": .string(member.clientHost),
                    "MemberMetadata": .bytes(member.metadata), "MemberAssignment": .bytes(member.assignment),
                ]
            }
            var entry: KafkaStruct = [
                "ErrorCode": group.error.value, "GroupId": .string(group.groupId), "GroupState": .string(group.state),
                "ProtocolType": .string(group.protocolType), "ProtocolData": .string(group.protocolName),
                "Members": .structs(members),
            ]
            if includeOperations {
                entry["AuthorizedOperations"] = .int(Int64(groupOperations(group.groupId, session: session)))
            }
            return entry
        }
        return ["ThrottleTimeMs": .int(0), "Groups": .structs(answered)]
    }

    /// ListGroups 0–4; v4 filters by state (empty: every group) and reports each one's. While the
    /// coordinator loads (or after it stopped) the top-level error says so.
    /// Only groups the principal may describe are listed (Kafka's rule without cluster describe).
    func listGroups(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        let states = (try request.body.strings("StatesFilter") ?? []).map { $0 ?? "" }
        let error = await groups.availability()
        let listed = (error == .none ? await groups.list(states: states) : []).filter {
            security.allows(session.principal, .describe, .group, $0.groupId)
        }
        let entries: [KafkaStruct] = listed.map { group in
            [
                "GroupId": .string(group.groupId), "ProtocolType": .string(group.protocolType),
                "GroupState": .string(group.state),
            ]
        }
        return ["ThrottleTimeMs": .int(0), "ErrorCode": error.value, "Groups": .structs(entries)]
    }

    /// DeleteGroups 0–2: each group in the request's order (NON_EMPTY_GROUP while it has members).
    /// A group the principal may not delete is GROUP_AUTHORIZATION_FAILED and stays.
    func deleteGroups(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        let ids = (try request.body.strings("GroupsNames") ?? []).map { $0 ?? "" }
        let permitted = ids.map { allowed(session, .delete, group: $0) }
        var deleted = await groups.delete(zip(ids, permitted).filter { $0.1 }.map { $0.0 }).makeIterator()
        let results: [KafkaStruct] = zip(ids, permitted).map { id, permitted in
            guard permitted, let (_, error) = deleted.next() else {
                return ["GroupId": .string(id), "ErrorCode": KafkaErrorCode.groupAuthorizationFailed.value]
            }
            return ["GroupId": .string(id), "ErrorCode": error.value]
        }
        return ["ThrottleTimeMs": .int(0), "Results": .structs(results)]
    }

    /// Kafka's client host: "/" and the peer's address, without the port ("/127.0.0.1").
    /// `peer` is NIO's description of the remote address, e.g. `[IPv4]127.0.0.1/127.0.0.1:54321`.
    static func clientHost(_ peer: String) -> String {
        var address = Substring(peer)
        if let slash = address.firstIndex(of: "/") { address = address[address.index(after: slash)...] }
        if let colon = address.lastIndex(of: ":") { address = address[..<colon] }
        return "/" + address
    }
}
