import Strata
import StrataKafka

/// The group coordinator of this node (the classic protocol; ARCHITECTURE.md §2f).
///
/// Kafka's rules (GroupCoordinator/GroupMetadata), with this node the only coordinator: groups
/// move Empty → PreparingRebalance → CompletingRebalance → Stable; a JoinGroup waits (a suspended
/// task, no thread) until every member rejoined or the rebalance timeout passed; the leader's
/// SyncGroup assignment is persisted before anyone is answered; sessions, the initial rebalance
/// delay and rebalance timeouts run on the injected clock, checked by one sweep task.
/// Everything the coordinator keeps is bounded: groups, members and pending ids per group.
actor GroupCoordinator {
    let persistence: (any GroupPersistence)?
    let clock: any StrataClock
    let options: GroupCoordinatorOptions
    let log: @Sendable (String) -> Void

    private enum Lifecycle { case created, loading, running, stopped }
    private var lifecycle = Lifecycle.created
    var groups: [String: GroupState] = [:]
    /// Waiting JoinGroup and SyncGroup calls by waiter id; a member names its waiter by id, so
    /// a cancelled call leaves only a stale id behind.
    var joinWaiters: [UInt64: CheckedContinuation<JoinGroupOutcome, Never>] = [:]
    var syncWaiters: [UInt64: CheckedContinuation<SyncGroupOutcome, Never>] = [:]
    private var nextWaiterId: UInt64 = 0
    /// Tasks waiting for a group state (`waitFor`; tests).
    var watchers: [UInt64: Watcher] = [:]
    private var sweepTask: Task<Void, Never>?

    /// Whether a partition exists now: a commit checks it again in its turn, so an offset of a
    /// topic deleted meanwhile is never stored after the delete's tombstone. Nil: every one does.
    let partitionExists: (@Sendable (GroupTopicPartition) -> Bool)?

    init(
        persistence: (any GroupPersistence)?, clock: any StrataClock, options: GroupCoordinatorOptions,
        partitionExists: (@Sendable (GroupTopicPartition) -> Bool)? = nil, log: @escaping @Sendable (String) -> Void
    ) {
        self.persistence = persistence
        self.clock = clock
        self.options = options
        self.partitionExists = partitionExists
        self.log = log
    }

    // MARK: Lifecycle

    /// Loads the stored groups and starts the session-timeout sweep. A group with stored members
    /// comes back Stable in its generation, with sessions starting now; until then every call
    /// answers COORDINATOR_LOAD_IN_PROGRESS.
    func start() async {
        guard lifecycle == .created else { return }
        lifecycle = .loading
        let stored = await persistence?.groups() ?? [:]
        guard lifecycle == .loading else { return }
        let now = clock.nowMs()
        for (groupId, group) in stored { groups[groupId] = restore(groupId, group, nowMs: now) }
        lifecycle = .running
        log("groups: loaded \(stored.count) group(s)")
        sweepTask = Task { await self.sweepLoop() }
    }

    /// Stops the sweep and answers every waiting join and sync with NOT_COORDINATOR (what Kafka
    /// answers when a broker loses a group), so connections can drain; returns once the writes
    /// in flight are done. Later calls get NOT_COORDINATOR.
    func shutdown() async {
        lifecycle = .stopped
        let sweep = sweepTask
        sweepTask = nil
        sweep?.cancel()
        await sweep?.value
        for (_, waiter) in joinWaiters {
            waiter.resume(returning: JoinGroupOutcome(error: .notCoordinator, memberId: ""))
        }
        joinWaiters.removeAll()
        for (_, waiter) in syncWaiters { waiter.resume(returning: SyncGroupOutcome(error: .notCoordinator)) }
        syncWaiters.removeAll()
        // Writes already under way finish (their callers are answered) before the lake closes.
        for group in groups.values where group.ticketNext != group.ticketServing {
            let turn = takeTurn(group)
            await awaitTurn(group, turn)
            endTurn(group)
        }
    }

    /// NONE while the coordinator answers; COORDINATOR_LOAD_IN_PROGRESS until its groups are
    /// loaded, NOT_COORDINATOR after shutdown (for ListGroups' and FindCoordinator's answers).
    func availability() -> KafkaErrorCode { unavailable ?? .none }

    /// The error for calls outside the running state, nil while running.
    var unavailable: KafkaErrorCode? {
        switch lifecycle {
        case .running: return nil
        case .created, .loading: return .coordinatorLoadInProgress
        case .stopped: return .notCoordinator
        }
    }

    private func restore(_ groupId: String, _ stored: StoredGroup, nowMs: Int64) -> GroupState {
        let group = GroupState(groupId: groupId)
        group.offsets = stored.offsets
        guard let record = stored.metadata else { return group }
        group.generation = record.generation
        group.protocolType = record.protocolType.isEmpty ? nil : record.protocolType
        guard let protocolName = record.protocolName, !record.members.isEmpty else { return group }
        group.protocolName = protocolName
        for r in record.members {
            let member = GroupMember(
                memberId: r.memberId, groupInstanceId: r.groupInstanceId, clientId: r.clientId,
                clientHost: r.clientHost,
                rebalanceTimeoutMs: r.rebalanceTimeoutMs, sessionTimeoutMs: r.sessionTimeoutMs,
                protocolType: record.protocolType, protocols: [(protocolName, r.subscription)],
                sessionDeadlineMs: nowMs + Int64(r.sessionTimeoutMs))
            member.assignment = r.assignment
            group.add(member)
        }
        if let leader = record.leader, group.members[leader] != nil { group.leaderId = leader }
        group.protocolType = record.protocolType
        group.phase = .stable
        return group
    }

    // MARK: Waiters

    func takeWaiterId() -> UInt64 {
        nextWaiterId += 1
        return nextWaiterId
    }

    func reply(_ waiter: UInt64, _ outcome: JoinGroupOutcome) {
        joinWaiters.removeValue(forKey: waiter)?.resume(returning: outcome)
    }

    func reply(_ waiter: UInt64, _ outcome: SyncGroupOutcome) {
        syncWaiters.removeValue(forKey: waiter)?.resume(returning: outcome)
    }

    /// Answers the member's waiting join, if any; it no longer awaits the join.
    func answerJoin(_ member: GroupMember, _ outcome: JoinGroupOutcome) {
        member.awaitingJoin = false
        if let waiter = member.joinWaiter {
            member.joinWaiter = nil
            reply(waiter, outcome)
        }
    }

    func answerSync(_ member: GroupMember, _ outcome: SyncGroupOutcome) {
        member.awaitingSync = false
        if let waiter = member.syncWaiter {
            member.syncWaiter = nil
            reply(waiter, outcome)
        }
    }

    /// A waiting JoinGroup's task was cancelled (its connection closed): its continuation is
    /// answered; the member still awaits the join and counts until its session ends, as in Kafka.
    func cancelJoinWaiter(_ waiter: UInt64) {
        reply(waiter, JoinGroupOutcome(error: .unknownServerError, memberId: ""))
        notifyWatchers()
    }

    /// A waiting SyncGroup's task was cancelled: the member's session clock runs again.
    func cancelSyncWaiter(_ waiter: UInt64) {
        guard syncWaiters[waiter] != nil else { return }
        reply(waiter, SyncGroupOutcome(error: .unknownServerError))
        for group in groups.values {
            for member in group.members.values where member.syncWaiter == waiter {
                member.syncWaiter = nil
                member.awaitingSync = false
            }
        }
        notifyWatchers()
    }

    // MARK: Ordered writes

    /// A place in the group's write order, taken when the state to write is decided.
    func takeTurn(_ group: GroupState) -> UInt64 {
        group.ticketNext += 1
        return group.ticketNext - 1
    }

    /// Returns when every earlier write of the group has finished.
    func awaitTurn(_ group: GroupState, _ ticket: UInt64) async {
        guard group.ticketServing != ticket else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in group.turnWaiters[ticket] = c }
    }

    func endTurn(_ group: GroupState) {
        group.ticketServing += 1
        group.turnWaiters.removeValue(forKey: group.ticketServing)?.resume()
    }

    /// Persists the group's membership as of now (a group that emptied, a static member's
    /// replacement), in write order; returns the error, if any.
    func storeMetadata(_ group: GroupState, _ record: GroupMetadataRecord, turn: UInt64) async -> StrataError? {
        await awaitTurn(group, turn)
        defer { endTurn(group) }
        guard let persistence else { return nil }
        do throws(StrataError) {
            try await persistence.storeMetadata(group.groupId, record)
            return nil
        } catch {
            log("groups: storing the membership of group \(group.groupId) failed: \(error)")
            return error
        }
    }

    /// Persists an emptied group's membership in the background (nobody waits for it; Kafka
    /// answers the leave or expiry without waiting either).
    func persistEmpty(_ group: GroupState) {
        let record = group.metadataRecord(nowMs: clock.nowMs())
        let turn = takeTurn(group)
        Task { _ = await self.storeMetadata(group, record, turn: turn) }
    }

    // MARK: Session sweep

    private func sweepLoop() async {
        while lifecycle == .running {
            do { try await clock.sleep(ms: max(options.sweepIntervalMs, 1)) } catch { return }
            guard lifecycle == .running else { return }
            sweep()
        }
    }

    /// Expires unused member ids and sessions, and completes joins whose time is up.
    func sweep() {
        let now = clock.nowMs()
        var disposable: [String] = []
        for group in groups.values {
            defer { if group.isDisposable { disposable.append(group.groupId) } }
            // Most groups only hold offsets: nothing of theirs can expire. A rebalance whose members
            // all left during the initial delay still ends with its time (the group empties).
            let idle = group.members.isEmpty && group.pending.isEmpty && group.phase != .preparingRebalance
            expireIfEmptyTooLong(group, now: now)
            if group.phase == .dead || idle { continue }
            for (memberId, deadline) in group.pending where deadline <= now {
                group.pending.removeValue(forKey: memberId)
                log("groups: group \(group.groupId): pending member \(memberId) never joined, expired")
            }
            for member in group.orderedMembers
            where !member.awaitingJoin && !member.awaitingSync && member.sessionDeadlineMs <= now {
                log("groups: group \(group.groupId): member \(member.memberId) session expired")
                removeMemberAndUpdateGroup(group, member.memberId)
            }
            if group.phase == .preparingRebalance { tryCompleteJoin(group) }
        }
        for groupId in disposable { groups.removeValue(forKey: groupId) }
        notifyWatchers()
    }

    /// An Empty group with no offsets that once had a generation is forgotten (in memory and in
    /// the store) after `emptyGroupRetentionMs`, as Kafka's cleanup drops such groups: else every
    /// one-off group id (kcat -G scripts, console consumers) would hold a slot of `groupsMax`.
    private func expireIfEmptyTooLong(_ group: GroupState, now: Int64) {
        let forgettable =
            group.phase == .empty && group.members.isEmpty && group.pending.isEmpty && group.offsets.isEmpty
            && group.generation > 0 && group.ticketNext == group.ticketServing
        guard forgettable else {
            group.emptySinceMs = nil
            return
        }
        guard let since = group.emptySinceMs else {
            group.emptySinceMs = now
            return
        }
        guard now - since >= options.emptyGroupRetentionMs else { return }
        group.emptySinceMs = nil
        let turn = takeTurn(group)
        Task {
            await self.awaitTurn(group, turn)
            defer { self.endTurn(group) }
            do throws(StrataError) {
                try await self.persistence?.deleteGroup(group.groupId)
            } catch {
                self.log("groups: forgetting empty group \(group.groupId) failed: \(error)")
                return
            }
            let still =
                group.phase == .empty && group.members.isEmpty && group.pending.isEmpty && group.offsets.isEmpty
            if still, self.groups[group.groupId] === group {
                self.groups.removeValue(forKey: group.groupId)
                self.log("groups: group \(group.groupId) was empty with no offsets; forgotten")
            }
            self.notifyWatchers()
        }
    }

    // MARK: Rebalances

    /// A new rebalance unless one is in progress (Kafka's maybePrepareRebalance).
    func maybePrepareRebalance(_ group: GroupState, _ reason: String) {
        switch group.phase {
        case .stable, .completingRebalance, .empty: prepareRebalance(group, reason)
        case .preparingRebalance, .dead: break
        }
    }

    func prepareRebalance(_ group: GroupState, _ reason: String) {
        if group.phase == .completingRebalance { resetAndPropagateAssignmentError(group, .rebalanceInProgress) }
        let now = clock.nowMs()
        if group.phase == .empty {
            let delay = max(options.initialRebalanceDelayMs, 0)
            group.initialDelay = (delay, max(Int64(group.rebalanceTimeoutMs) - delay, 0))
            group.joinDeadlineMs = now + delay
        } else {
            group.initialDelay = nil
            group.joinDeadlineMs = now + Int64(group.rebalanceTimeoutMs)
        }
        group.newMemberAdded = false
        group.phase = .preparingRebalance
        log("groups: group \(group.groupId) rebalancing (generation \(group.generation)): \(reason)")
    }

    /// The leader's assignment will not come (a new rebalance, a failed write): every waiting
    /// SyncGroup gets `error` and the assignments are cleared.
    func resetAndPropagateAssignmentError(_ group: GroupState, _ error: KafkaErrorCode) {
        for member in group.members.values {
            member.assignment = []
            answerSync(member, SyncGroupOutcome(error: error))
        }
    }

    /// Completes the join if every member rejoined or its time is up; the initial delay of a
    /// new group only ends with its time (extended while members keep arriving).
    func tryCompleteJoin(_ group: GroupState) {
        guard group.phase == .preparingRebalance else { return }
        let now = clock.nowMs()
        if let delay = group.initialDelay {
            guard now >= group.joinDeadlineMs else { return }
            if group.newMemberAdded && delay.remainingMs != 0 {
                group.newMemberAdded = false
                let next = min(max(options.initialRebalanceDelayMs, 0), delay.remainingMs)
                group.initialDelay = (next, max(delay.remainingMs - delay.delayMs, 0))
                group.joinDeadlineMs = now + next
                return
            }
            completeJoin(group)
        } else if group.hasAllMembersJoined || now >= group.joinDeadlineMs {
            completeJoin(group)
        }
    }

    /// Kafka's onCompleteJoin: dynamic members that did not rejoin are removed, the next
    /// generation starts, and every joined member is answered (the leader with all metadata).
    func completeJoin(_ group: GroupState) {
        let now = clock.nowMs()
        for member in group.orderedMembers where !member.awaitingJoin && member.groupInstanceId == nil {
            log("groups: group \(group.groupId): member \(member.memberId) did not rejoin in time, removed")
            removeMember(group, member.memberId)
        }
        if !group.members.isEmpty && !group.electJoinedLeader() {
            // Only static members that have not rejoined: wait for them (or their sessions).
            group.initialDelay = nil
            group.joinDeadlineMs = now + Int64(group.rebalanceTimeoutMs)
            return
        }
        group.generation = group.generation == Int32.max ? 1 : group.generation + 1
        group.initialDelay = nil
        group.newMemberAdded = false
        if group.members.isEmpty {
            group.phase = .empty
            group.protocolName = nil
            group.leaderId = nil
            log("groups: group \(group.groupId) is empty (generation \(group.generation))")
            persistEmpty(group)
            return
        }
        group.protocolName = group.selectProtocol()
        group.phase = .completingRebalance
        log(
            "groups: group \(group.groupId) generation \(group.generation): \(group.members.count) member(s), "
                + "protocol \(group.protocolName ?? "-"), leader \(group.leaderId ?? "-")")
        for member in group.orderedMembers {
            member.sessionDeadlineMs = now + Int64(member.sessionTimeoutMs)
            answerJoin(member, joinResult(group, member))
        }
    }

    /// The current generation as a JoinGroup answer for `member` (the leader gets the members).
    func joinResult(_ group: GroupState, _ member: GroupMember) -> JoinGroupOutcome {
        JoinGroupOutcome(
            error: .none, generationId: group.generation, protocolType: group.protocolType,
            protocolName: group.protocolName, leader: group.leaderId ?? "", memberId: member.memberId,
            members: group.leaderId == member.memberId ? group.memberMetadata() : [])
    }

    /// Takes a member out, answering its waiting join or sync with UNKNOWN_MEMBER_ID.
    func removeMember(_ group: GroupState, _ memberId: String) {
        guard let member = group.remove(memberId) else { return }
        answerJoin(member, JoinGroupOutcome(error: .unknownMemberId, memberId: memberId))
        answerSync(member, SyncGroupOutcome(error: .unknownMemberId))
    }

    /// Kafka's removeMemberAndUpdateGroup: the rest rebalance (or the group empties).
    func removeMemberAndUpdateGroup(_ group: GroupState, _ memberId: String) {
        removeMember(group, memberId)
        switch group.phase {
        case .dead, .empty: break
        case .stable, .completingRebalance:
            maybePrepareRebalance(group, "member \(memberId) left")
            tryCompleteJoin(group)
        case .preparingRebalance: tryCompleteJoin(group)
        }
    }

    /// Kafka's validateCurrentMember: the instance id (if any) must map to this member id, and
    /// the member must be in the group.
    func validateCurrentMember(_ group: GroupState, _ memberId: String, _ instanceId: String?) -> KafkaErrorCode? {
        if let instanceId {
            guard let current = group.staticMembers[instanceId] else { return .unknownMemberId }
            if current != memberId { return .fencedInstanceId }
        }
        return group.members[memberId] == nil ? .unknownMemberId : nil
    }

    /// The group for a new member or commit, created if the bound allows.
    func groupForNew(_ groupId: String) -> GroupState? {
        if let group = groups[groupId] { return group }
        guard groups.count < options.groupsMax else {
            log("groups: refusing group \(groupId): the coordinator holds \(options.groupsMax) groups (groupsMax)")
            return nil
        }
        let group = GroupState(groupId: groupId)
        groups[groupId] = group
        return group
    }

    // MARK: Heartbeat, leave

    func heartbeat(_ call: HeartbeatCall) async -> KafkaErrorCode {
        // While loading, Kafka answers heartbeats blindly: the member keeps its generation.
        if let unavailable { return unavailable == .coordinatorLoadInProgress ? .none : unavailable }
        guard !call.groupId.isEmpty else { return .invalidGroupId }
        guard let group = groups[call.groupId] else { return .unknownMemberId }
        if group.phase == .dead { return .coordinatorNotAvailable }
        if let error = validateCurrentMember(group, call.memberId, call.groupInstanceId) { return error }
        if call.generationId != group.generation { return .illegalGeneration }
        guard let member = group.members[call.memberId] else { return .unknownMemberId }
        switch group.phase {
        case .empty, .dead: return .unknownMemberId
        case .completingRebalance, .stable:
            member.sessionDeadlineMs = clock.nowMs() + Int64(member.sessionTimeoutMs)
            return .none
        case .preparingRebalance:
            member.sessionDeadlineMs = clock.nowMs() + Int64(member.sessionTimeoutMs)
            return .rebalanceInProgress
        }
    }

    /// v0–2 name one member: its error is `members[0].error` (the top-level error stays NONE
    /// unless the whole request failed, as in Kafka's LeaveGroupResponse).
    func leave(_ call: LeaveGroupCall) async -> LeaveGroupOutcome {
        if let unavailable { return LeaveGroupOutcome(error: unavailable) }
        guard !call.groupId.isEmpty else { return LeaveGroupOutcome(error: .invalidGroupId) }
        guard let group = groups[call.groupId] else {
            return LeaveGroupOutcome(
                error: .none, members: call.members.map { ($0.memberId, $0.groupInstanceId, .unknownMemberId) })
        }
        if group.phase == .dead { return LeaveGroupOutcome(error: .coordinatorNotAvailable) }
        var results: [(memberId: String, groupInstanceId: String?, error: KafkaErrorCode)] = []
        for (memberId, instanceId) in call.members {
            results.append((memberId, instanceId, leaveOne(group, memberId, instanceId)))
        }
        notifyWatchers()
        return LeaveGroupOutcome(error: .none, members: results)
    }

    private func leaveOne(_ group: GroupState, _ memberId: String, _ instanceId: String?) -> KafkaErrorCode {
        if memberId.isEmpty {
            guard let instanceId, let current = group.staticMembers[instanceId] else { return .unknownMemberId }
            log("groups: group \(group.groupId): static member \(instanceId) (\(current)) left")
            removeMemberAndUpdateGroup(group, current)
            return .none
        }
        if group.pending.removeValue(forKey: memberId) != nil {
            tryCompleteJoin(group)
            return .none
        }
        if let error = validateCurrentMember(group, memberId, instanceId) { return error }
        log("groups: group \(group.groupId): member \(memberId) left")
        removeMemberAndUpdateGroup(group, memberId)
        return .none
    }
}

/// Bounds and timings of the coordinator (`strata serve --group-*`).
struct GroupCoordinatorOptions: Sendable {
    /// Kafka's group.min.session.timeout.ms / group.max.session.timeout.ms.
    var sessionTimeoutMsMin: Int32 = 6_000
    var sessionTimeoutMsMax: Int32 = 1_800_000
    /// How long a new group waits for more members before its first generation
    /// (group.initial.rebalance.delay.ms).
    var initialRebalanceDelayMs: Int64 = 3_000
    /// Members per group at most (GROUP_MAX_SIZE_REACHED beyond); ids handed out with
    /// MEMBER_ID_REQUIRED and not used yet count too.
    var groupMembersMax = 1_000
    /// Groups at most (a JoinGroup or commit for a new group beyond it is refused).
    var groupsMax = 100_000
    /// Longest metadata string per committed offset (OFFSET_METADATA_TOO_LARGE beyond).
    var offsetMetadataBytesMax = 4_096
    /// How often the sweep looks for ended sessions and rebalance timeouts: the precision of
    /// every coordinator timeout.
    var sweepIntervalMs: Int64 = 100
    /// How long an Empty group with no committed offsets is kept before it is forgotten.
    var emptyGroupRetentionMs: Int64 = 30_000
}

/// A group's state as tests and logs see it (the coordinator's classes stay inside the actor).
struct GroupSnapshot: Sendable, Equatable {
    var phase: GroupPhase
    var generation: Int32
    var leader: String?
    var protocolName: String?
    /// In join order.
    var members: [String]
    var awaitingJoin: Int
    var awaitingSync: Int
    var pending: Int
    /// Ids of the members awaiting the join.
    var joining: Set<String>
}

extension GroupCoordinator {
    /// The group's state now; nil for a group the coordinator does not hold.
    func snapshot(_ groupId: String) -> GroupSnapshot? {
        guard let g = groups[groupId] else { return nil }
        return GroupSnapshot(
            phase: g.phase, generation: g.generation, leader: g.leaderId, protocolName: g.protocolName,
            members: g.order,
            awaitingJoin: g.members.values.count(where: \.awaitingJoin),
            awaitingSync: g.members.values.count(where: \.awaitingSync), pending: g.pending.count,
            joining: Set(g.members.values.filter(\.awaitingJoin).map(\.memberId)))
    }

    /// Returns once `condition` holds for the group's snapshot (checked after every call that
    /// changes a group), or the waiting task is cancelled: tests wait on events, never on time.
    func waitFor(_ groupId: String, _ condition: @escaping @Sendable (GroupSnapshot?) -> Bool) async {
        guard !condition(snapshot(groupId)) else { return }
        let id = takeWaiterId()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                watchers[id] = Watcher(groupId: groupId, condition: condition, continuation: continuation)
            }
        } onCancel: {
            Task { await self.dropWatcher(id) }
        }
    }

    private func dropWatcher(_ id: UInt64) { watchers.removeValue(forKey: id)?.continuation.resume() }

    /// Wakes the watchers whose condition now holds.
    func notifyWatchers() {
        guard !watchers.isEmpty else { return }
        for (id, watcher) in watchers where watcher.condition(snapshot(watcher.groupId)) {
            watchers.removeValue(forKey: id)
            watcher.continuation.resume()
        }
    }
}

/// A task waiting in `GroupCoordinator.waitFor`.
struct Watcher {
    var groupId: String
    var condition: @Sendable (GroupSnapshot?) -> Bool
    var continuation: CheckedContinuation<Void, Never>
}
