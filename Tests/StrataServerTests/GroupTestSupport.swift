import Foundation
import Strata
import StrataKafka
import StrataTesting
import Testing

@testable import StrataServer

/// An in-memory `GroupPersistence` that can fail its writes or hold commits until released,
/// recording every write so tests see what reached "the disk" and in which order.
actor MemoryGroupPersistence: GroupPersistence {
    var stored: [String: StoredGroup] = [:]
    /// Writes in the order they arrived ("metadata g 3", "commit g", "delete g", "drop t").
    var writes: [String] = []
    /// Each write throws this while set (and changes nothing).
    var failure: StrataError?
    /// Commits wait for `releaseCommits()` while set.
    var holdCommits = false
    private var held: [CheckedContinuation<Void, Never>] = []

    init(_ stored: [String: StoredGroup] = [:]) { self.stored = stored }

    func failWrites(_ error: StrataError?) { failure = error }
    func setHoldCommits(_ hold: Bool) { holdCommits = hold }
    var heldCommits: Int { held.count }
    func releaseCommits() {
        holdCommits = false
        for c in held { c.resume() }
        held.removeAll()
    }

    private var watchers:
        [(condition: @Sendable ([String: StoredGroup], Int) -> Bool, c: CheckedContinuation<Void, Never>)] = []

    /// Returns once `condition(stored, heldCommits)` holds (checked after every write or hold).
    func waitUntil(_ condition: @escaping @Sendable ([String: StoredGroup], Int) -> Bool) async {
        guard !condition(stored, held.count) else { return }
        await withCheckedContinuation { watchers.append((condition, $0)) }
    }

    private func changed() {
        let ready = watchers.filter { $0.condition(stored, held.count) }
        watchers.removeAll { $0.condition(stored, held.count) }
        for w in ready { w.c.resume() }
    }

    func groups() async -> [String: StoredGroup] { stored }

    func commitOffsets(_ group: String, _ offsets: [GroupTopicPartition: CommittedOffset]) async throws(StrataError) {
        if holdCommits {
            await withCheckedContinuation {
                held.append($0)
                changed()
            }
        }
        if let failure { throw failure }
        writes.append("commit \(group)")
        stored[group, default: StoredGroup()].offsets.merge(offsets) { _, new in new }
        changed()
    }

    func storeMetadata(_ group: String, _ metadata: GroupMetadataRecord) async throws(StrataError) {
        if let failure { throw failure }
        writes.append("metadata \(group) \(metadata.generation) \(metadata.members.count)")
        stored[group, default: StoredGroup()].metadata = metadata
        changed()
    }

    func deleteGroup(_ group: String) async throws(StrataError) {
        if let failure { throw failure }
        writes.append("delete \(group)")
        stored.removeValue(forKey: group)
        changed()
    }

    func dropTopic(_ topic: String) async throws(StrataError) {
        if let failure { throw failure }
        writes.append("drop \(topic)")
        for (name, var group) in stored {
            group.offsets = group.offsets.filter { $0.key.topic != topic }
            stored[name] = group
        }
    }
}

/// A coordinator on a manual clock, and the calls tests make to it.
struct GroupHarness {
    let clock: ManualClock
    let persistence: MemoryGroupPersistence
    let coordinator: GroupCoordinator

    static let sessionMs: Int32 = 10_000
    static let rebalanceMs: Int32 = 8_000

    static func options(initialDelayMs: Int64 = 3_000, membersMax: Int = 1_000) -> GroupCoordinatorOptions {
        var o = GroupCoordinatorOptions()
        o.sessionTimeoutMsMin = 1_000
        o.sessionTimeoutMsMax = 60_000
        o.initialRebalanceDelayMs = initialDelayMs
        o.groupMembersMax = membersMax
        o.sweepIntervalMs = 100
        return o
    }

    /// A started coordinator (its sweep asleep on the clock).
    static func start(
        persistence: MemoryGroupPersistence = MemoryGroupPersistence(), clock: ManualClock = ManualClock(),
        options: GroupCoordinatorOptions = options(),
        partitionExists: (@Sendable (GroupTopicPartition) -> Bool)? = nil
    ) async -> GroupHarness {
        let coordinator = GroupCoordinator(
            persistence: persistence, clock: clock, options: options, partitionExists: partitionExists,
            log: { _ in })
        await coordinator.start()
        await clock.waitForSleepers(1)
        return GroupHarness(clock: clock, persistence: persistence, coordinator: coordinator)
    }

    /// Moves the clock and returns once the sweep has handled it and sleeps again.
    func advance(ms: Int64) async {
        await clock.waitForSleepers(1)
        clock.advance(ms: ms)
        await clock.waitForSleepers(1)
    }

    func joinCall(
        _ group: String = "g", member: String = "", client: String = "client", instance: String? = nil,
        protocols: [(String, [UInt8])] = [("range", Array("sub".utf8))], type: String = "consumer",
        session: Int32 = sessionMs, rebalance: Int32 = rebalanceMs, requireKnownId: Bool = true
    ) -> JoinGroupCall {
        JoinGroupCall(
            groupId: group, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberId: member,
            groupInstanceId: instance, protocolType: type, protocols: protocols.map { (name: $0.0, metadata: $0.1) },
            clientId: client, clientHost: "/127.0.0.1", requireKnownMemberId: requireKnownId, reason: nil)
    }

    /// A new dynamic member's first JoinGroup (MEMBER_ID_REQUIRED), then its waiting rejoin.
    func joinNew(
        _ group: String = "g", client: String, protocols: [(String, [UInt8])] = [("range", Array("sub".utf8))]
    ) async throws -> (id: String, join: Task<JoinGroupOutcome, Never>) {
        let first = await coordinator.join(joinCall(group, client: client, protocols: protocols))
        #expect(first.error == .memberIdRequired)
        #expect(first.memberId.hasPrefix("\(client)-"))
        let id = first.memberId
        let call = joinCall(group, member: id, client: client, protocols: protocols)
        return (id, try await waitingJoin(group, id, call))
    }

    /// A rejoin of a known member, waiting.
    func rejoin(
        _ id: String, instance: String? = nil, group: String = "g"
    ) async throws -> Task<JoinGroupOutcome, Never> {
        try await waitingJoin(group, id, joinCall(group, member: id, instance: instance))
    }

    /// Starts a JoinGroup and returns once the coordinator has it (it waits, or was answered).
    func waitingJoin(_ group: String, _ id: String, _ call: JoinGroupCall) async throws -> Task<JoinGroupOutcome, Never>
    {
        let before = await coordinator.snapshot(group)?.generation ?? 0
        let join = Task { await coordinator.join(call) }
        // It waits, or it completed the rebalance (a new generation).
        await coordinator.waitFor(group) { s in
            guard let s else { return false }
            return s.joining.contains(id) || s.generation != before
        }
        return join
    }

    func sync(
        _ id: String, generation: Int32, instance: String? = nil, assignments: [(String, [UInt8])] = [],
        group: String = "g"
    ) -> Task<SyncGroupOutcome, Never> {
        let call = SyncGroupCall(
            groupId: group, generationId: generation, memberId: id, groupInstanceId: instance, protocolType: "consumer",
            protocolName: nil, assignments: assignments.map { (memberId: $0.0, assignment: $0.1) })
        return Task { await coordinator.sync(call) }
    }

    func heartbeat(
        _ id: String, generation: Int32, instance: String? = nil, group: String = "g"
    ) async
        -> KafkaErrorCode
    {
        await coordinator.heartbeat(
            HeartbeatCall(groupId: group, generationId: generation, memberId: id, groupInstanceId: instance))
    }

    func commit(
        _ offsets: [(String, Int32, Int64)], group: String = "g", member id: String = "", generation: Int32 = -1,
        instance: String? = nil, metadata: String = ""
    ) async -> [(GroupTopicPartition, KafkaErrorCode)] {
        await coordinator.commitOffsets(
            OffsetCommitCall(
                groupId: group, generationId: generation, memberId: id, groupInstanceId: instance,
                offsets: offsets.map {
                    (
                        GroupTopicPartition(topic: $0.0, partition: $0.1),
                        CommittedOffset(offset: $0.2, leaderEpoch: 3, metadata: metadata, commitTimestampMs: 0)
                    )
                }))
    }

    func committed(_ group: String = "g") async -> [GroupTopicPartition: Int64] {
        let outcome = await coordinator.fetchOffsets(
            OffsetFetchCall(groupId: group, partitions: nil, requireStable: false))
        var result: [GroupTopicPartition: Int64] = [:]
        for (tp, offset, _) in outcome.partitions { result[tp] = offset?.offset }
        return result
    }

    /// Two dynamic members in a Stable generation 1: A leads, each got its own assignment.
    func stablePair(_ group: String = "g") async throws -> (a: String, b: String) {
        let (a, joinA) = try await joinNew(group, client: "a")
        let (b, joinB) = try await joinNew(group, client: "b")
        // The initial delay (3 s) is extended once (B arrived during it), then completes.
        await advance(ms: 3_000)
        await advance(ms: 3_000)
        let (ja, jb) = (await joinA.answer, await joinB.answer)
        #expect(ja.error == .none && jb.error == .none)
        #expect(ja.generationId == 1 && jb.generationId == 1)
        let syncB = sync(b, generation: 1, group: group)
        await coordinator.waitFor(group) { $0?.awaitingSync == 1 }
        let syncA = sync(a, generation: 1, assignments: [(a, Array("A".utf8)), (b, Array("B".utf8))], group: group)
        #expect(await syncA.answer.assignment == Array("A".utf8))
        #expect(await syncB.answer.assignment == Array("B".utf8))
        #expect(await coordinator.snapshot(group)?.phase == .stable)
        return (a, b)
    }
}

extension Task where Failure == Never {
    /// The task's value; a test cancelled by its time limit cancels the task too, so a join the
    /// coordinator never answers fails the test instead of hanging it.
    var answer: Success {
        get async {
            await withTaskCancellationHandler {
                await value
            } onCancel: {
                cancel()
            }
        }
    }
}

/// Waits (yielding, never sleeping) until `condition` holds; fails after 30 s of wall time so a
/// broken coordinator fails the test instead of hanging it.
func eventually(
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async -> Bool
) async throws {
    let start = ContinuousClock.now
    while !(await condition()) {
        if ContinuousClock.now - start > .seconds(30) {
            Issue.record("never happened: \(what)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        await Task.yield()
    }
}
