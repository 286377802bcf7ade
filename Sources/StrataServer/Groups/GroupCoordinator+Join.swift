import Strata
import StrataKafka

/// JoinGroup and SyncGroup: the calls that wait (ARCHITECTURE.md §2f). Each registers its
/// continuation first and then runs the state machine synchronously on the actor, so an answer
/// decided at once and one decided later by another member's call (or the sweep) take the same
/// path; a cancelled call is answered at once and leaves the member in place.
extension GroupCoordinator {
    func join(_ call: JoinGroupCall) async -> JoinGroupOutcome {
        let waiter = takeWaiterId()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<JoinGroupOutcome, Never>) in
                joinWaiters[waiter] = continuation
                handleJoin(call, waiter)
                notifyWatchers()
            }
        } onCancel: {
            Task { await self.cancelJoinWaiter(waiter) }
        }
    }

    func sync(_ call: SyncGroupCall) async -> SyncGroupOutcome {
        let waiter = takeWaiterId()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SyncGroupOutcome, Never>) in
                syncWaiters[waiter] = continuation
                handleSync(call, waiter)
                notifyWatchers()
            }
        } onCancel: {
            Task { await self.cancelSyncWaiter(waiter) }
        }
    }

    // MARK: JoinGroup

    private func handleJoin(_ call: JoinGroupCall, _ waiter: UInt64) {
        func fail(_ error: KafkaErrorCode, memberId: String? = nil) {
            reply(waiter, JoinGroupOutcome(error: error, memberId: memberId ?? call.memberId))
        }
        if let unavailable { return fail(unavailable) }
        guard !call.groupId.isEmpty else { return fail(.invalidGroupId) }
        guard (options.sessionTimeoutMsMin ... options.sessionTimeoutMsMax).contains(call.sessionTimeoutMs) else {
            return fail(.invalidSessionTimeout)
        }
        let group: GroupState
        if call.memberId.isEmpty {
            guard let found = groupForNew(call.groupId) else { return fail(.coordinatorNotAvailable) }
            group = found
            newMemberJoin(group, call, waiter)
        } else {
            guard let found = groups[call.groupId] else { return fail(.unknownMemberId) }
            group = found
            currentMemberJoin(group, call, waiter)
        }
        tryCompleteJoin(group)
    }

    /// Kafka's doNewMemberJoinGroup / doStaticMemberJoinGroup.
    private func newMemberJoin(_ group: GroupState, _ call: JoinGroupCall, _ waiter: UInt64) {
        guard group.phase != .dead else {
            return reply(waiter, JoinGroupOutcome(error: .coordinatorNotAvailable, memberId: call.memberId))
        }
        guard group.supportsProtocols(call.protocolType, call.protocols.map(\.name)) else {
            return reply(waiter, JoinGroupOutcome(error: .inconsistentGroupProtocol, memberId: call.memberId))
        }
        if let instanceId = call.groupInstanceId, let oldId = group.staticMembers[instanceId] {
            return replaceStaticMember(group, oldId, call, waiter)
        }
        // Members that will stay (those rejoining, while a rebalance runs) and unused ids count.
        let members =
            group.phase == .preparingRebalance ? group.members.values.count(where: \.awaitingJoin) : group.members.count
        guard members + group.pending.count < options.groupMembersMax else {
            log("groups: group \(group.groupId) is full (\(options.groupMembersMax) members), refusing a new member")
            return reply(waiter, JoinGroupOutcome(error: .groupMaxSizeReached, memberId: ""))
        }
        let newId = "\(Self.memberIdPrefix(call.groupInstanceId ?? call.clientId))-\(randomUUIDString())"
        if call.groupInstanceId == nil && call.requireKnownMemberId {
            group.pending[newId] = clock.nowMs() + Int64(call.sessionTimeoutMs)
            return reply(waiter, JoinGroupOutcome(error: .memberIdRequired, memberId: newId))
        }
        addMemberAndRebalance(group, newId, call, waiter)
    }

    /// The start of a member id: the client or instance id, cut to 255 UTF-8 bytes at a character
    /// boundary, so that the id always fits a Kafka string (32,767 bytes) whatever a client sends.
    static func memberIdPrefix(_ name: String) -> String {
        var bytes = 0
        var prefix = ""
        for character in name {
            bytes += character.utf8.count
            guard bytes <= 255 else { break }
            prefix.append(character)
        }
        return prefix
    }

    /// Kafka's doCurrentMemberJoinGroup.
    private func currentMemberJoin(_ group: GroupState, _ call: JoinGroupCall, _ waiter: UInt64) {
        func fail(_ error: KafkaErrorCode) { reply(waiter, JoinGroupOutcome(error: error, memberId: call.memberId)) }
        guard group.phase != .dead else { return fail(.coordinatorNotAvailable) }
        guard group.supportsProtocols(call.protocolType, call.protocols.map(\.name)) else {
            return fail(.inconsistentGroupProtocol)
        }
        if group.pending[call.memberId] != nil {
            // Pending ids are handed to dynamic members only.
            guard call.groupInstanceId == nil else { return fail(.unknownMemberId) }
            group.pending.removeValue(forKey: call.memberId)
            return addMemberAndRebalance(group, call.memberId, call, waiter)
        }
        if let error = validateCurrentMember(group, call.memberId, call.groupInstanceId) { return fail(error) }
        guard let member = group.members[call.memberId] else { return fail(.unknownMemberId) }
        member.sessionDeadlineMs = clock.nowMs() + Int64(call.sessionTimeoutMs)
        switch group.phase {
        case .preparingRebalance:
            updateMemberAndRebalance(group, member, call, waiter)
        case .completingRebalance:
            // Its JoinGroup answer was lost: the same answer again, unless its protocols changed.
            if member.matches(call.protocols) {
                reply(waiter, joinResult(group, member))
            } else {
                updateMemberAndRebalance(group, member, call, waiter)
            }
        case .stable:
            if group.leaderId == member.memberId || !member.matches(call.protocols) {
                updateMemberAndRebalance(group, member, call, waiter)
            } else {
                reply(waiter, joinResult(group, member))
            }
        case .empty, .dead:
            fail(.unknownMemberId)
        }
    }

    private func addMemberAndRebalance(_ group: GroupState, _ memberId: String, _ call: JoinGroupCall, _ waiter: UInt64)
    {
        let member = GroupMember(
            memberId: memberId, groupInstanceId: call.groupInstanceId, clientId: call.clientId,
            clientHost: call.clientHost, rebalanceTimeoutMs: call.rebalanceTimeoutMs,
            sessionTimeoutMs: call.sessionTimeoutMs, protocolType: call.protocolType, protocols: call.protocols,
            sessionDeadlineMs: clock.nowMs() + Int64(call.sessionTimeoutMs))
        member.awaitingJoin = true
        member.joinWaiter = waiter
        if group.phase == .preparingRebalance && group.generation == 0 { group.newMemberAdded = true }
        group.add(member)
        maybePrepareRebalance(group, "member \(memberId) joined")
    }

    private func updateMemberAndRebalance(
        _ group: GroupState, _ member: GroupMember, _ call: JoinGroupCall, _ waiter: UInt64
    ) {
        // A second JoinGroup while one waits: the older one is answered, the newer waits.
        answerJoin(member, JoinGroupOutcome(error: .rebalanceInProgress, memberId: member.memberId))
        member.protocols = call.protocols
        member.rebalanceTimeoutMs = call.rebalanceTimeoutMs
        member.sessionTimeoutMs = call.sessionTimeoutMs
        member.awaitingJoin = true
        member.joinWaiter = waiter
        maybePrepareRebalance(group, "member \(member.memberId) rejoined")
    }

    /// Kafka's updateStaticMemberAndRebalance: a known group.instance.id joined with no member id.
    /// It gets a new id and takes the old member's place (the old id is fenced from now on); a
    /// Stable group whose chosen protocol stays gives it the current assignment back without a
    /// rebalance, once the new membership is persisted.
    private func replaceStaticMember(_ group: GroupState, _ oldId: String, _ call: JoinGroupCall, _ waiter: UInt64) {
        guard let old = group.members[oldId], let instanceId = call.groupInstanceId else {
            return reply(waiter, JoinGroupOutcome(error: .unknownMemberId, memberId: call.memberId))
        }
        let currentLeader = group.leaderId
        let newId = "\(Self.memberIdPrefix(instanceId))-\(randomUUIDString())"
        answerJoin(old, JoinGroupOutcome(error: .fencedInstanceId, memberId: oldId))
        answerSync(old, SyncGroupOutcome(error: .fencedInstanceId))
        let member = GroupMember(
            memberId: newId, groupInstanceId: instanceId, clientId: call.clientId, clientHost: call.clientHost,
            rebalanceTimeoutMs: call.rebalanceTimeoutMs, sessionTimeoutMs: call.sessionTimeoutMs,
            protocolType: call.protocolType, protocols: call.protocols,
            sessionDeadlineMs: clock.nowMs() + Int64(call.sessionTimeoutMs))
        member.assignment = old.assignment
        member.awaitingJoin = true
        member.joinWaiter = waiter
        group.members.removeValue(forKey: oldId)
        group.members[newId] = member
        if let i = group.order.firstIndex(of: oldId) { group.order[i] = newId }
        group.staticMembers[instanceId] = newId
        if group.leaderId == oldId { group.leaderId = newId }
        log("groups: group \(group.groupId): static member \(instanceId) replaced \(oldId) by \(newId)")
        switch group.phase {
        case .stable:
            guard group.selectProtocol() == group.protocolName else {
                return prepareRebalance(group, "static member \(instanceId) changed its protocols")
            }
            let record = group.metadataRecord(nowMs: clock.nowMs())
            let turn = takeTurn(group)
            let generation = group.generation
            Task {
                await self.finishStaticRejoin(group, old, newId, generation, currentLeader, record, turn)
            }
        case .completingRebalance:
            // The leader may be assigning the old id: a new rebalance.
            prepareRebalance(group, "static member \(instanceId) rejoined during CompletingRebalance")
        case .preparingRebalance, .empty, .dead:
            break
        }
    }

    private func finishStaticRejoin(
        _ group: GroupState, _ old: GroupMember, _ memberId: String, _ generation: Int32, _ leader: String?,
        _ record: GroupMetadataRecord, _ turn: UInt64
    ) async {
        let failure = await storeMetadata(group, record, turn: turn)
        defer { notifyWatchers() }
        guard let member = group.members[memberId], member.awaitingJoin, group.phase == .stable,
            group.generation == generation
        else { return }
        if failure != nil {
            // The new id is not durable: the old member comes back, as Kafka reverts it.
            group.members.removeValue(forKey: memberId)
            group.members[old.memberId] = old
            if let i = group.order.firstIndex(of: memberId) { group.order[i] = old.memberId }
            if let instance = old.groupInstanceId { group.staticMembers[instance] = old.memberId }
            if group.leaderId == memberId { group.leaderId = old.memberId }
            old.sessionDeadlineMs = clock.nowMs() + Int64(old.sessionTimeoutMs)
            answerJoin(member, JoinGroupOutcome(error: .coordinatorNotAvailable, memberId: ""))
            return
        }
        // The old leader id, so that a static leader does not assign again in a Stable group
        // (Kafka before JoinGroup v9's skipAssignment); it syncs as a follower.
        answerJoin(
            member,
            JoinGroupOutcome(
                error: .none, generationId: group.generation, protocolType: group.protocolType,
                protocolName: group.protocolName, leader: leader ?? "", memberId: memberId))
    }

    // MARK: SyncGroup

    private func handleSync(_ call: SyncGroupCall, _ waiter: UInt64) {
        func fail(_ error: KafkaErrorCode) { reply(waiter, SyncGroupOutcome(error: error)) }
        // While loading, the rebalance in progress is lost: the member rejoins (Kafka's answer,
        // which older clients expect instead of COORDINATOR_LOAD_IN_PROGRESS).
        if let unavailable {
            return fail(unavailable == .coordinatorLoadInProgress ? .rebalanceInProgress : unavailable)
        }
        guard !call.groupId.isEmpty else { return fail(.invalidGroupId) }
        guard let group = groups[call.groupId] else { return fail(.unknownMemberId) }
        if group.phase == .dead { return fail(.coordinatorNotAvailable) }
        if let error = validateCurrentMember(group, call.memberId, call.groupInstanceId) { return fail(error) }
        guard let member = group.members[call.memberId] else { return fail(.unknownMemberId) }
        if call.generationId != group.generation { return fail(.illegalGeneration) }
        if let type = call.protocolType, type != group.protocolType { return fail(.inconsistentGroupProtocol) }
        if let name = call.protocolName, name != group.protocolName { return fail(.inconsistentGroupProtocol) }
        let now = clock.nowMs()
        switch group.phase {
        case .empty, .dead:
            fail(.unknownMemberId)
        case .preparingRebalance:
            fail(.rebalanceInProgress)
        case .stable:
            member.sessionDeadlineMs = now + Int64(member.sessionTimeoutMs)
            reply(
                waiter,
                SyncGroupOutcome(
                    error: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                    assignment: member.assignment))
        case .completingRebalance:
            answerSync(member, SyncGroupOutcome(error: .rebalanceInProgress))
            member.awaitingSync = true
            member.syncWaiter = waiter
            member.sessionDeadlineMs = now + Int64(member.sessionTimeoutMs)
            guard group.leaderId == member.memberId, group.assignmentStoringGeneration != group.generation else {
                return
            }
            var assignment: [String: [UInt8]] = [:]
            for (memberId, bytes) in call.assignments where group.members[memberId] != nil {
                assignment[memberId] = bytes
            }
            group.assignmentStoringGeneration = group.generation
            let record = group.metadataRecord(nowMs: now, assignment: assignment)
            let turn = takeTurn(group)
            let generation = group.generation
            Task { await self.finishSync(group, generation, assignment, record, turn) }
        }
    }

    /// Persists the leader's assignment, then answers every waiting member (Kafka's
    /// setAndPropagateAssignment) and the group is Stable; on a failed write every waiting
    /// member gets COORDINATOR_NOT_AVAILABLE and the group rebalances.
    private func finishSync(
        _ group: GroupState, _ generation: Int32, _ assignment: [String: [UInt8]], _ record: GroupMetadataRecord,
        _ turn: UInt64
    ) async {
        let failure = await storeMetadata(group, record, turn: turn)
        defer { notifyWatchers() }
        if group.assignmentStoringGeneration == generation { group.assignmentStoringGeneration = nil }
        // Another member may have joined meanwhile: then this generation is over.
        guard groups[group.groupId] === group, group.phase == .completingRebalance, group.generation == generation
        else { return }
        if failure != nil {
            resetAndPropagateAssignmentError(group, .coordinatorNotAvailable)
            maybePrepareRebalance(group, "storing the assignment of generation \(generation) failed")
            return
        }
        let now = clock.nowMs()
        group.phase = .stable
        for member in group.orderedMembers {
            member.assignment = assignment[member.memberId] ?? []
            if member.awaitingSync { member.sessionDeadlineMs = now + Int64(member.sessionTimeoutMs) }
            answerSync(
                member,
                SyncGroupOutcome(
                    error: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                    assignment: member.assignment))
        }
        log("groups: group \(group.groupId) generation \(generation) is stable")
    }
}
