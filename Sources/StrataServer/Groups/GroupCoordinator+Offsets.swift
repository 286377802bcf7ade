import Strata
import StrataKafka

/// Committed offsets and the administrative group calls (ARCHITECTURE.md §2f). A commit is
/// visible and answered only once `persistence` has it; a failed write changes nothing.
extension GroupCoordinator {
    /// Per-partition errors, in the call's order.
    func commitOffsets(_ call: OffsetCommitCall) async -> [(GroupTopicPartition, KafkaErrorCode)] {
        func all(_ error: KafkaErrorCode) -> [(GroupTopicPartition, KafkaErrorCode)] {
            call.offsets.map { ($0.0, error) }
        }
        if let unavailable { return all(unavailable) }
        let group: GroupState
        if let found = groups[call.groupId] {
            group = found
        } else if call.generationId >= 0 {
            // A member of a generation this coordinator does not know (Kafka's answer).
            return all(.illegalGeneration)
        } else {
            // A consumer outside group management: the group holds only offsets.
            guard let created = groupForNew(call.groupId) else { return all(.coordinatorNotAvailable) }
            group = created
        }
        // Kafka's validateOffsetCommit.
        if group.phase == .dead { return all(.coordinatorNotAvailable) }
        if call.generationId < 0 && group.phase == .empty {
            // No generation and no members: the admin client or a consumer without group management.
        } else if call.generationId >= 0 || !call.memberId.isEmpty || call.groupInstanceId != nil {
            if let error = validateCurrentMember(group, call.memberId, call.groupInstanceId) { return all(error) }
            if call.generationId != group.generation { return all(.illegalGeneration) }
        } else {
            // Only members commit for a group that has members.
            return all(.unknownMemberId)
        }
        switch group.phase {
        case .completingRebalance: return all(.rebalanceInProgress)
        case .stable, .preparingRebalance:
            if let member = group.members[call.memberId] {
                member.sessionDeadlineMs = clock.nowMs() + Int64(member.sessionTimeoutMs)
            }
        case .empty, .dead: break
        }

        let now = clock.nowMs()
        var accepted: [GroupTopicPartition: CommittedOffset] = [:]
        var errors: [GroupTopicPartition: KafkaErrorCode] = [:]
        for (partition, offset) in call.offsets {
            if offset.metadata.utf8.count > options.offsetMetadataBytesMax {
                errors[partition] = .offsetMetadataTooLarge
                accepted.removeValue(forKey: partition)
            } else {
                var stamped = offset
                stamped.commitTimestampMs = now
                accepted[partition] = stamped
                errors.removeValue(forKey: partition)
            }
        }
        if !accepted.isEmpty {
            let turn = takeTurn(group)
            await awaitTurn(group, turn)
            // Checked again in the group's write order: a topic deleted since the handler looked
            // has had its offsets dropped (topicDeleted waits for the writes ordered before it).
            if let partitionExists {
                for partition in accepted.keys where !partitionExists(partition) {
                    accepted.removeValue(forKey: partition)
                    errors[partition] = .unknownTopicOrPartition
                }
            }
            var failure: StrataError?
            if let persistence, !accepted.isEmpty {
                do throws(StrataError) {
                    try await persistence.commitOffsets(group.groupId, accepted)
                } catch {
                    failure = error
                }
            }
            if let failure {
                log("groups: group \(group.groupId): committing \(accepted.count) offset(s) failed: \(failure)")
                let code = Self.storeCode(failure.code)
                for partition in accepted.keys { errors[partition] = code }
            } else {
                group.offsets.merge(accepted) { _, new in new }
            }
            endTurn(group)
        }
        return call.offsets.map { ($0.0, errors[$0.0] ?? .none) }
    }

    /// The Kafka code for a failed group write (Kafka's storeOffsets mapping): a storage
    /// failure is KAFKA_STORAGE_ERROR, a write too large INVALID_COMMIT_OFFSET_SIZE, anything
    /// else COORDINATOR_NOT_AVAILABLE (the client retries).
    static func storeCode(_ code: StrataError.Code) -> KafkaErrorCode {
        switch code {
        case .corrupt, .io: return .kafkaStorageError
        case .tooLarge: return .invalidCommitOffsetSize
        default: return .coordinatorNotAvailable
        }
    }

    func fetchOffsets(_ call: OffsetFetchCall) async -> OffsetFetchOutcome {
        if let unavailable {
            return OffsetFetchOutcome(
                error: unavailable, partitions: (call.partitions ?? []).map { ($0, nil, unavailable) })
        }
        let offsets = groups[call.groupId]?.offsets ?? [:]
        guard let asked = call.partitions else {
            return OffsetFetchOutcome(
                error: .none, partitions: offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value, .none) })
        }
        return OffsetFetchOutcome(error: .none, partitions: asked.map { ($0, offsets[$0], .none) })
    }

    /// Kafka's summary: members with metadata and assignment only while Stable; an unknown
    /// group is Dead with no error.
    func describe(_ groupIds: [String]) async -> [DescribedGroup] {
        groupIds.map { groupId in
            if let unavailable {
                return DescribedGroup(
                    error: unavailable, groupId: groupId, state: GroupPhase.dead.rawValue, protocolType: "",
                    protocolName: "", members: [])
            }
            guard let group = groups[groupId], group.phase != .dead else {
                return DescribedGroup(
                    error: .none, groupId: groupId, state: GroupPhase.dead.rawValue, protocolType: "", protocolName: "",
                    members: [])
            }
            let stable = group.phase == .stable
            return DescribedGroup(
                error: .none, groupId: groupId, state: group.phase.rawValue, protocolType: group.protocolType ?? "",
                protocolName: stable ? group.protocolName ?? "" : "",
                members: group.orderedMembers.map { m in
                    DescribedMember(
                        memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId,
                        clientHost: m.clientHost, metadata: stable ? m.metadata(for: group.protocolName) : [],
                        assignment: stable ? m.assignment : [])
                })
        }
    }

    /// `states` empty: every group (ListGroups v4's StatesFilter, compared case-insensitively).
    /// Nothing while the groups load.
    func list(states: [String]) async -> [ListedGroup] {
        guard unavailable == nil else { return [] }
        let wanted = Set(states.map { $0.lowercased() })
        return groups.values.filter {
            $0.phase != .dead && (wanted.isEmpty || wanted.contains($0.phase.rawValue.lowercased()))
        }
        .sorted { $0.groupId < $1.groupId }
        .map { ListedGroup(groupId: $0.groupId, protocolType: $0.protocolType ?? "", state: $0.phase.rawValue) }
    }

    /// Only an Empty group (no members) can be deleted; it is Dead while the delete is written
    /// and gone once it is, or Empty again if the write failed.
    func delete(_ groupIds: [String]) async -> [(String, KafkaErrorCode)] {
        var results: [(String, KafkaErrorCode)] = []
        for groupId in groupIds {
            if let unavailable {
                results.append((groupId, unavailable))
                continue
            }
            guard let group = groups[groupId], group.phase != .dead else {
                results.append((groupId, .groupIdNotFound))
                continue
            }
            guard group.phase == .empty, group.members.isEmpty else {
                results.append((groupId, .nonEmptyGroup))
                continue
            }
            group.phase = .dead
            group.pending.removeAll()
            let turn = takeTurn(group)
            await awaitTurn(group, turn)
            var failure: StrataError?
            if let persistence {
                do throws(StrataError) {
                    try await persistence.deleteGroup(groupId)
                } catch {
                    failure = error
                }
            }
            if let failure {
                log("groups: deleting group \(groupId) failed: \(failure)")
                group.phase = .empty
                results.append((groupId, Self.storeCode(failure.code)))
            } else {
                if groups[groupId] === group { groups.removeValue(forKey: groupId) }
                log("groups: group \(groupId) deleted")
                results.append((groupId, .none))
            }
            endTurn(group)
        }
        return results
    }

    /// A topic was deleted: its committed offsets go, in memory and in the store. Every group's
    /// writes ordered before now land first, so a commit in flight for the topic cannot outlive
    /// the tombstone (a commit ordered after checks the topic again in its turn).
    func topicDeleted(_ topic: String) async {
        for group in Array(groups.values) where group.ticketNext != group.ticketServing {
            let turn = takeTurn(group)
            await awaitTurn(group, turn)
            endTurn(group)
        }
        for group in groups.values { group.offsets = group.offsets.filter { $0.key.topic != topic } }
        guard let persistence else { return }
        do throws(StrataError) {
            try await persistence.dropTopic(topic)
        } catch {
            log("groups: dropping the offsets of deleted topic \(topic) failed: \(error)")
        }
    }
}
