import Strata
import StrataKafka
import StrataTesting
import Testing

@testable import StrataServer

/// The group coordinator's state machine, driven directly on a manual clock (issue 14).
@Suite(.timeLimit(.minutes(2)))
struct GroupCoordinatorTests {
    @Test func twoMembersJoinOneGenerationAndTheLeaderSeesBothSubscriptions() async throws {
        let h = await GroupHarness.start()
        let (a, joinA) = try await h.joinNew(client: "a", protocols: [("range", [1]), ("roundrobin", [2])])
        let (b, joinB) = try await h.joinNew(client: "b", protocols: [("range", [3]), ("roundrobin", [4])])
        // The first generation waits out the initial delay, extended once because B arrived.
        await h.advance(ms: 2_900)
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        await h.advance(ms: 100)
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance, "B's arrival extends the delay")
        await h.advance(ms: 3_000)
        let (ja, jb) = (await joinA.answer, await joinB.answer)
        #expect(ja.error == .none && jb.error == .none)
        #expect(ja.generationId == 1 && jb.generationId == 1)
        #expect(ja.leader == a && jb.leader == a)
        #expect(ja.protocolName == "range" && jb.protocolName == "range")
        #expect(
            ja.members == [JoinGroupMember(memberId: a, metadata: [1]), JoinGroupMember(memberId: b, metadata: [3])])
        #expect(jb.members.isEmpty, "only the leader gets the members")

        // The follower waits for the leader; the leader's assignment is persisted before either answer.
        let syncB = h.sync(b, generation: 1)
        await h.coordinator.waitFor("g") { $0?.awaitingSync == 1 }
        let syncA = h.sync(a, generation: 1, assignments: [(a, [0xA, 0]), (b, [0xB, 0, 0xFF])])
        let (sa, sb) = (await syncA.answer, await syncB.answer)
        #expect(sa.error == .none && sb.error == .none)
        #expect(sa.assignment == [0xA, 0] && sb.assignment == [0xB, 0, 0xFF])
        #expect(sa.protocolName == "range" && sa.protocolType == "consumer")
        let stored = try #require(await h.persistence.stored["g"]?.metadata)
        #expect(stored.generation == 1 && stored.leader == a && stored.protocolName == "range")
        #expect(stored.members.map(\.memberId) == [a, b])
        #expect(stored.members.map(\.assignment) == [[0xA, 0], [0xB, 0, 0xFF]])
        #expect(stored.members.map(\.subscription) == [[1], [3]])
        #expect(await h.coordinator.snapshot("g")?.phase == .stable)
        #expect(await h.heartbeat(a, generation: 1) == .none)
        let described = try #require(await h.coordinator.describe(["g"]).first)
        #expect(described.state == "Stable" && described.protocolName == "range")
        #expect(described.members.map(\.assignment) == [[0xA, 0], [0xB, 0, 0xFF]])
    }

    @Test func theInitialDelayExtendsWhileMembersArriveButNotBeyondTheRebalanceTimeout() async throws {
        // Delay 3 s, rebalance timeout 8 s: the first generation waits 3 + 3 + 2 s at most.
        let h = await GroupHarness.start()
        var joins: [Task<JoinGroupOutcome, Never>] = []
        // a at 0 s; b at 1 s; at 3 s the delay extends by 3 s (b arrived), c arrives; at 6 s it
        // extends by the 2 s left of the rebalance timeout, d arrives.
        for (client, wait) in [("a", 1_000), ("b", 2_000), ("c", 3_000), ("d", 1_900)] {
            joins.append(try await h.joinNew(client: client).join)
            await h.advance(ms: Int64(wait))
            #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        }
        // 8 s in: d's arrival does not extend the delay past the rebalance timeout.
        await h.advance(ms: 100)
        var generations: [Int32] = []
        for join in joins { generations.append(await join.answer.generationId) }
        #expect(generations == [1, 1, 1, 1])
    }

    @Test func protocolSelectionFollowsMembersVotesAmongCommonProtocols() async throws {
        let h = await GroupHarness.start(options: GroupHarness.options(initialDelayMs: 0))
        let (_, j1) = try await h.joinNew(client: "a", protocols: [("range", []), ("roundrobin", []), ("sticky", [])])
        await h.advance(ms: 100)
        #expect(await j1.answer.protocolName == "range")
        // Rebalance with three members: two prefer roundrobin, sticky is not common to all.
        let first = await h.coordinator.snapshot("g")!.members[0]
        let (_, j2) = try await h.joinNew(client: "b", protocols: [("roundrobin", []), ("range", [])])
        let (_, j3) = try await h.joinNew(client: "c", protocols: [("roundrobin", []), ("range", []), ("sticky", [])])
        let j1b = try await h.waitingJoin(
            "g", first,
            h.joinCall(member: first, client: "a", protocols: [("range", []), ("roundrobin", []), ("sticky", [])]))
        await h.advance(ms: Int64(GroupHarness.rebalanceMs))
        #expect(await j1b.answer.protocolName == "roundrobin")
        let (o2, o3) = (await j2.answer, await j3.answer)
        #expect(o2.protocolName == "roundrobin" && o3.protocolName == "roundrobin")
        // A member with no protocol in common, or of another type, cannot join.
        let odd = await h.coordinator.join(h.joinCall(protocols: [("sticky", [])]))
        #expect(odd.error == .inconsistentGroupProtocol)
        let connect = await h.coordinator.join(h.joinCall(protocols: [("range", [])], type: "connect"))
        #expect(connect.error == .inconsistentGroupProtocol)
        let none = await h.coordinator.join(h.joinCall("other", protocols: []))
        #expect(none.error == .inconsistentGroupProtocol)
    }

    @Test func aThirdMemberRebalancesTheGroupAndMembersThatDoNotRejoinAreRemoved() async throws {
        let h = await GroupHarness.start()
        let (a, b) = try await h.stablePair()
        let (c, joinC) = try await h.joinNew(client: "c")
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        // The members of generation 1 learn of it through heartbeats and sync.
        #expect(await h.heartbeat(a, generation: 1) == .rebalanceInProgress)
        #expect(await h.sync(b, generation: 1).answer.error == .rebalanceInProgress)
        // A rejoins, B does not: the join waits for B until the rebalance timeout.
        let joinA = try await h.rejoin(a)
        await h.advance(ms: Int64(GroupHarness.rebalanceMs) - 100)
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        await h.advance(ms: 100)
        let (ja, jc) = (await joinA.answer, await joinC.answer)
        #expect(ja.generationId == 2 && jc.generationId == 2)
        #expect(ja.leader == a && ja.members.map(\.memberId) == [a, c])
        #expect(await h.coordinator.snapshot("g")?.members == [a, c])
        #expect(await h.heartbeat(b, generation: 1) == .unknownMemberId)

        // When everyone rejoins, the join completes at once (no timeout).
        let (d, joinD) = try await h.joinNew(client: "d")
        let joinA3 = try await h.rejoin(a)
        let joinC3 = try await h.rejoin(c)
        let outcomes = [await joinA3.answer, await joinC3.answer, await joinD.answer]
        #expect(outcomes.map(\.generationId) == [3, 3, 3])
        #expect(outcomes[0].members.map(\.memberId) == [a, c, d])
    }

    @Test func aMemberThatStopsHeartbeatingExpiresAndTheRestRebalance() async throws {
        let h = await GroupHarness.start()
        let (a, b) = try await h.stablePair()
        #expect(await h.commit([("t", 0, 42)], member: a, generation: 1).map(\.1) == [.none])
        await h.advance(ms: 6_000)
        #expect(await h.heartbeat(b, generation: 1) == .none)
        await h.advance(ms: 3_900)
        #expect(await h.coordinator.snapshot("g")?.members == [a, b], "A's session has 100 ms left")
        await h.advance(ms: 100)
        #expect(await h.coordinator.snapshot("g")?.members == [b])
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        #expect(await h.heartbeat(b, generation: 1) == .rebalanceInProgress)
        let joinB = try await h.rejoin(b)
        let jb = await joinB.answer
        #expect(jb.generationId == 2 && jb.leader == b && jb.members.map(\.memberId) == [b])
        #expect(await h.heartbeat(a, generation: 1) == .unknownMemberId)

        // B leaves: the group empties; its membership is persisted empty and the offsets stay.
        let left = await h.coordinator.leave(LeaveGroupCall(groupId: "g", members: [(b, nil)]))
        #expect(left.error == .none && left.members.map(\.error) == [.none])
        #expect(await h.coordinator.snapshot("g")?.phase == .empty)
        #expect(await h.coordinator.snapshot("g")?.generation == 3)
        await h.persistence.waitUntil { stored, _ in stored["g"]?.metadata?.generation == 3 }
        #expect(await h.persistence.stored["g"]?.metadata?.members.isEmpty == true)
        #expect(await h.committed() == [GroupTopicPartition(topic: "t", partition: 0): 42])
        #expect(
            await h.coordinator.list(states: ["empty"]) == [
                ListedGroup(groupId: "g", protocolType: "consumer", state: "Empty")
            ])
    }

    @Test func leaveByIdAndInstanceInABatchWithPerMemberErrors() async throws {
        let h = await GroupHarness.start()
        let (a, b) = try await h.stablePair()
        let left = await h.coordinator.leave(
            LeaveGroupCall(groupId: "g", members: [(a, nil), ("nobody", nil), ("", "no-such-instance"), (b, "i-x")])
        )
        #expect(left.error == .none)
        #expect(left.members.map(\.error) == [.none, .unknownMemberId, .unknownMemberId, .unknownMemberId])
        #expect(await h.coordinator.snapshot("g")?.members == [b])
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        let unknownGroup = await h.coordinator.leave(LeaveGroupCall(groupId: "nope", members: [(a, nil)]))
        #expect(unknownGroup.error == .none && unknownGroup.members.map(\.error) == [.unknownMemberId])
        #expect(await h.coordinator.leave(LeaveGroupCall(groupId: "", members: [(a, nil)])).error == .invalidGroupId)
    }

    @Test func aStaticMemberRejoinsWithoutARebalanceAndItsOldIdIsFenced() async throws {
        let h = await GroupHarness.start(options: GroupHarness.options(initialDelayMs: 0))
        // Static members get their ids at once (no MEMBER_ID_REQUIRED round).
        let joinX = Task { await h.coordinator.join(h.joinCall(client: "x", instance: "i-x")) }
        let jx = await joinX.answer
        #expect(jx.error == .none && jx.memberId.hasPrefix("i-x-") && jx.generationId == 1)
        let x = jx.memberId
        let joinY = Task { await h.coordinator.join(h.joinCall(client: "y", instance: "i-y")) }
        await h.coordinator.waitFor("g") { $0?.members.count == 2 }
        let joinX2 = try await h.rejoin(x, instance: "i-x")
        let (jx2, jy) = (await joinX2.answer, await joinY.answer)
        #expect(jx2.generationId == 2 && jy.generationId == 2 && jx2.leader == x)
        let y = jy.memberId
        let syncY = h.sync(y, generation: 2, instance: "i-y")
        await h.coordinator.waitFor("g") { $0?.awaitingSync == 1 }
        #expect(
            await h.sync(x, generation: 2, instance: "i-x", assignments: [(x, [1]), (y, [2])]).answer.error == .none)
        #expect(await syncY.answer.assignment == [2])

        // A replacement that cannot be persisted is undone: the old id stays the member.
        await h.persistence.failWrites(StrataError(.io, "disk gone"))
        let failed = await h.coordinator.join(h.joinCall(client: "x", instance: "i-x"))
        #expect(failed.error == .coordinatorNotAvailable)
        #expect(await h.heartbeat(x, generation: 2, instance: "i-x") == .none)
        #expect(await h.coordinator.snapshot("g")?.members == [x, y])
        await h.persistence.failWrites(nil)

        // The leader restarts: same instance, no member id. It gets a new id and the current
        // generation back, answered as a follower (the old leader id), with no rebalance.
        let restarted = await h.coordinator.join(h.joinCall(client: "x", instance: "i-x"))
        #expect(restarted.error == .none)
        #expect(restarted.memberId != x && restarted.memberId.hasPrefix("i-x-"))
        #expect(restarted.generationId == 2 && restarted.leader == x && restarted.members.isEmpty)
        let x2 = restarted.memberId
        #expect(await h.coordinator.snapshot("g")?.phase == .stable)
        #expect(await h.coordinator.snapshot("g")?.leader == x2)
        #expect(await h.persistence.stored["g"]?.metadata?.members.map(\.memberId) == [x2, y])
        let resync = await h.sync(x2, generation: 2, instance: "i-x").answer
        #expect(resync.error == .none && resync.assignment == [1])
        // The old id is fenced wherever it shows up with its instance id.
        #expect(await h.heartbeat(x, generation: 2, instance: "i-x") == .fencedInstanceId)
        #expect(await h.sync(x, generation: 2, instance: "i-x").answer.error == .fencedInstanceId)
        #expect(
            await h.commit([("t", 0, 1)], member: x, generation: 2, instance: "i-x").map(\.1) == [.fencedInstanceId])
        #expect(await h.coordinator.join(h.joinCall(member: x, instance: "i-x")).error == .fencedInstanceId)
        #expect(await h.heartbeat(x, generation: 2) == .unknownMemberId)
        #expect(await h.heartbeat(x2, generation: 2, instance: "i-x") == .none)

        // Leaving by instance id removes it, and the rest rebalance.
        let left = await h.coordinator.leave(LeaveGroupCall(groupId: "g", members: [("", "i-y")]))
        #expect(left.members.map(\.error) == [.none])
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        #expect(await h.coordinator.snapshot("g")?.members == [x2])
    }

    @Test func staleGenerationsAndUnknownMembersAreRefusedByEveryApi() async throws {
        let h = await GroupHarness.start()
        let (a, _) = try await h.stablePair()
        #expect(await h.heartbeat(a, generation: 0) == .illegalGeneration)
        #expect(await h.heartbeat(a, generation: 2) == .illegalGeneration)
        #expect(await h.heartbeat("ghost", generation: 1) == .unknownMemberId)
        #expect(await h.heartbeat("ghost", generation: 1, group: "nope") == .unknownMemberId)
        #expect(await h.sync(a, generation: 7).answer.error == .illegalGeneration)
        #expect(await h.sync("ghost", generation: 1).answer.error == .unknownMemberId)
        let wrongName = SyncGroupCall(
            groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil, protocolType: "consumer",
            protocolName: "roundrobin", assignments: [])
        #expect(await h.coordinator.sync(wrongName).error == .inconsistentGroupProtocol)
        #expect(await h.commit([("t", 0, 1)], member: a, generation: 0).map(\.1) == [.illegalGeneration])
        #expect(await h.commit([("t", 0, 1)], member: "ghost", generation: 1).map(\.1) == [.unknownMemberId])
        // Outside any generation, only a group without members takes commits.
        #expect(await h.commit([("t", 0, 1)]).map(\.1) == [.unknownMemberId])
        #expect(await h.commit([("t", 0, 1)], group: "fresh").map(\.1) == [.none])
        // Without a generation, an Empty group takes a commit whatever member id it names (Kafka's rule).
        #expect(await h.commit([("t", 0, 2)], group: "fresh", member: "admin").map(\.1) == [.none])
        #expect(await h.committed("fresh") == [.init(topic: "t", partition: 0): 2])
        #expect(
            await h.commit([("t", 0, 1)], group: "fresh2", member: "m", generation: 3).map(\.1) == [.illegalGeneration])
        #expect(await h.coordinator.join(h.joinCall(member: "ghost")).error == .unknownMemberId)
        #expect(await h.coordinator.join(h.joinCall("nope", member: "ghost")).error == .unknownMemberId)
        #expect(await h.coordinator.join(h.joinCall(session: 500)).error == .invalidSessionTimeout)
        #expect(await h.coordinator.join(h.joinCall(session: 61_000)).error == .invalidSessionTimeout)
        #expect(await h.coordinator.join(h.joinCall("")).error == .invalidGroupId)
        #expect(await h.committed() == [:], "nothing was committed for g")
    }

    @Test func commitsArePersistedBeforeTheyAreVisibleAndAFailedWriteChangesNothing() async throws {
        let h = await GroupHarness.start()
        #expect(await h.commit([("t", 0, 10), ("t", 1, 20)], metadata: "m").map(\.1) == [.none, .none])
        let fetched = await h.coordinator.fetchOffsets(
            OffsetFetchCall(
                groupId: "g", partitions: [.init(topic: "t", partition: 0), .init(topic: "u", partition: 0)],
                requireStable: true))
        #expect(fetched.error == .none)
        #expect(fetched.partitions.map(\.1?.offset) == [10, nil])
        #expect(fetched.partitions.first?.1?.metadata == "m" && fetched.partitions.first?.1?.leaderEpoch == 3)
        #expect(fetched.partitions.first?.1?.commitTimestampMs == h.clock.nowMs())

        // A commit waits for its write: until then the old offset is what a fetch sees.
        await h.persistence.setHoldCommits(true)
        let pending = Task { await h.commit([("t", 0, 11)]) }
        await h.persistence.waitUntil { _, held in held == 1 }
        #expect(await h.committed()[.init(topic: "t", partition: 0)] == 10)
        await h.persistence.releaseCommits()
        #expect(await pending.answer.map(\.1) == [.none])
        #expect(await h.committed()[.init(topic: "t", partition: 0)] == 11)

        // A failed write: every partition gets the mapped error and nothing changes.
        await h.persistence.failWrites(StrataError(.io, "disk gone"))
        #expect(await h.commit([("t", 0, 99), ("t", 1, 99)]).map(\.1) == [.kafkaStorageError, .kafkaStorageError])
        await h.persistence.failWrites(StrataError(.closed, "closing"))
        #expect(await h.commit([("t", 0, 99)]).map(\.1) == [.coordinatorNotAvailable])
        #expect(await h.committed() == [.init(topic: "t", partition: 0): 11, .init(topic: "t", partition: 1): 20])
        #expect(await h.persistence.stored["g"]?.offsets[.init(topic: "t", partition: 0)]?.offset == 11)
        await h.persistence.failWrites(nil)

        // Metadata over the bound is refused per partition; the rest commit.
        let big = String(repeating: "x", count: 4_097)
        let mixed = await h.coordinator.commitOffsets(
            OffsetCommitCall(
                groupId: "g", generationId: -1, memberId: "", groupInstanceId: nil,
                offsets: [
                    (.init(topic: "t", partition: 0), CommittedOffset(offset: 12, metadata: big, commitTimestampMs: 0)),
                    (.init(topic: "t", partition: 1), CommittedOffset(offset: 21, commitTimestampMs: 0)),
                ]))
        #expect(mixed.map(\.1) == [.offsetMetadataTooLarge, .none])
        #expect(await h.committed() == [.init(topic: "t", partition: 0): 11, .init(topic: "t", partition: 1): 21])

        // A deleted topic's offsets go, in memory and in the store.
        _ = await h.commit([("u", 0, 5)])
        await h.coordinator.topicDeleted("t")
        #expect(await h.committed() == [.init(topic: "u", partition: 0): 5])
        #expect(await h.persistence.stored["g"]?.offsets.keys.map(\.topic) == ["u"])
    }

    @Test func aFailedAssignmentWriteAnswersCoordinatorNotAvailableAndRebalances() async throws {
        let h = await GroupHarness.start()
        let (a, joinA) = try await h.joinNew(client: "a")
        let (b, joinB) = try await h.joinNew(client: "b")
        await h.advance(ms: 3_000)
        await h.advance(ms: 3_000)
        _ = (await joinA.answer, await joinB.answer)
        await h.persistence.failWrites(StrataError(.io, "disk gone"))
        let syncB = h.sync(b, generation: 1)
        await h.coordinator.waitFor("g") { $0?.awaitingSync == 1 }
        let syncA = h.sync(a, generation: 1, assignments: [(a, [1]), (b, [2])])
        #expect(await syncA.answer.error == .coordinatorNotAvailable)
        #expect(await syncB.answer.error == .coordinatorNotAvailable)
        #expect(await h.coordinator.snapshot("g")?.phase == .preparingRebalance)
        #expect(await h.persistence.stored["g"]?.metadata == nil)
    }

    @Test func aRestartedCoordinatorResumesTheStoredGenerationAndItsOffsets() async throws {
        let first = await GroupHarness.start()
        let (a, b) = try await first.stablePair()
        #expect(await first.commit([("t", 3, 7)], member: b, generation: 1).map(\.1) == [.none])
        await first.coordinator.shutdown()
        #expect(await first.heartbeat(a, generation: 1) == .notCoordinator)

        let clock = ManualClock(startMs: first.clock.nowMs() + 60_000)
        let coordinator = GroupCoordinator(
            persistence: first.persistence, clock: clock, options: GroupHarness.options(), log: { _ in })
        // While loading: heartbeats are answered blindly and syncs send the member to rejoin (Kafka's
        // answers), the rest COORDINATOR_LOAD_IN_PROGRESS.
        #expect(await coordinator.heartbeat(HeartbeatCall(groupId: "g", generationId: 1, memberId: a)) == .none)
        let loadingSync = SyncGroupCall(
            groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil, protocolType: nil, protocolName: nil,
            assignments: [])
        #expect(await coordinator.sync(loadingSync).error == .rebalanceInProgress)
        #expect(await coordinator.join(first.joinCall(member: a)).error == .coordinatorLoadInProgress)
        #expect(await coordinator.delete(["g"]).map(\.1) == [.coordinatorLoadInProgress])
        #expect(await coordinator.describe(["g"]).map(\.error) == [.coordinatorLoadInProgress])
        #expect(
            await coordinator.fetchOffsets(OffsetFetchCall(groupId: "g", partitions: nil, requireStable: false)).error
                == .coordinatorLoadInProgress)
        await coordinator.start()
        let h = GroupHarness(clock: clock, persistence: first.persistence, coordinator: coordinator)
        let described = try #require(await coordinator.describe(["g"]).first)
        #expect(described.state == "Stable" && described.protocolName == "range")
        #expect(described.members.map(\.memberId) == [a, b])
        #expect(described.members.map(\.assignment) == [Array("A".utf8), Array("B".utf8)])
        #expect(await h.committed() == [.init(topic: "t", partition: 3): 7])
        // Sessions start at the restart: B keeps heartbeating, A never comes back and expires.
        #expect(await h.heartbeat(b, generation: 1) == .none)
        #expect(await h.sync(b, generation: 1).answer.assignment == Array("B".utf8))
        await h.advance(ms: 6_000)
        #expect(await h.heartbeat(b, generation: 1) == .none)
        await h.advance(ms: 4_000)
        #expect(await coordinator.snapshot("g")?.members == [b])
        #expect(await h.heartbeat(b, generation: 1) == .rebalanceInProgress)
    }

    @Test func fiveHundredMembersJoinOneGroupAndEachGetsItsOwnAssignment() async throws {
        var options = GroupHarness.options(initialDelayMs: 3_000)
        options.groupMembersMax = 500
        let h = await GroupHarness.start(options: options)
        let count = 500
        // The rebalance timeout equals the initial delay: no extension, one generation.
        let outcomes = Task {
            await withTaskGroup(of: JoinGroupOutcome.self) { tasks in
                for i in 0 ..< count {
                    tasks.addTask {
                        await h.coordinator.join(
                            h.joinCall(
                                client: "c\(i)", protocols: [("range", Array("member \(i)".utf8))], rebalance: 3_000,
                                requireKnownId: false))
                    }
                }
                var all: [JoinGroupOutcome] = []
                for await outcome in tasks { all.append(outcome) }
                return all
            }
        }
        await h.coordinator.waitFor("g") { $0?.awaitingJoin == count }
        #expect(
            await h.coordinator.join(h.joinCall(client: "late", requireKnownId: false)).error == .groupMaxSizeReached)
        await h.advance(ms: 3_000)
        let joined = await outcomes.answer
        #expect(joined.count == count && joined.allSatisfy { $0.error == .none && $0.generationId == 1 })
        let leader = try #require(joined.first { !$0.members.isEmpty })
        #expect(leader.members.count == count)
        #expect(Set(leader.members.map(\.memberId)) == Set(joined.map(\.memberId)))
        for m in leader.members {
            let client = m.memberId.prefix { $0 != "-" }
            #expect(m.metadata == Array("member \(client.dropFirst())".utf8))
        }
        // The leader assigns each member its own bytes; all 500 sync at once.
        func assignment(_ id: String) -> [UInt8] { Array("assigned to \(id)".utf8) + [0, 0xFF] }
        let synced = await withTaskGroup(of: (String, SyncGroupOutcome).self) { tasks in
            for member in joined {
                let call = SyncGroupCall(
                    groupId: "g", generationId: 1, memberId: member.memberId, groupInstanceId: nil,
                    protocolType: "consumer", protocolName: "range",
                    assignments: member.memberId == leader.memberId
                        ? joined.map { (memberId: $0.memberId, assignment: assignment($0.memberId)) } : [])
                tasks.addTask { (member.memberId, await h.coordinator.sync(call)) }
            }
            var all: [(String, SyncGroupOutcome)] = []
            for await result in tasks { all.append(result) }
            return all
        }
        #expect(synced.count == count)
        for (id, outcome) in synced {
            #expect(outcome.error == .none)
            #expect(outcome.assignment == assignment(id))
        }
        #expect(await h.persistence.stored["g"]?.metadata?.members.count == count)
    }

    @Test func aCancelledJoinIsAnsweredAndTheMemberCountsUntilItsSessionEnds() async throws {
        let h = await GroupHarness.start()
        let (a, joinA) = try await h.joinNew(client: "a")
        joinA.cancel()
        let cancelled = await joinA.answer
        #expect(cancelled.error != .none)
        // Still a member: the first generation includes it.
        let (b, joinB) = try await h.joinNew(client: "b")
        await h.advance(ms: 3_000)
        await h.advance(ms: 3_000)
        let jb = await joinB.answer
        #expect(jb.generationId == 1 && jb.leader == a)
        #expect(await h.coordinator.snapshot("g")?.members == [a, b])
        // A never syncs nor heartbeats: its session ends and B is left to rebalance alone.
        await h.advance(ms: 5_000)
        #expect(await h.heartbeat(b, generation: 1) == .none)
        await h.advance(ms: 4_900)
        #expect(await h.coordinator.snapshot("g")?.members == [a, b])
        await h.advance(ms: 100)
        #expect(await h.coordinator.snapshot("g")?.members == [b])
    }

    @Test func aCancelledSyncIsAnsweredAndTheMemberStaysInTheGeneration() async throws {
        let h = await GroupHarness.start()
        let (a, joinA) = try await h.joinNew(client: "a")
        let (b, joinB) = try await h.joinNew(client: "b")
        await h.advance(ms: 3_000)
        await h.advance(ms: 3_000)
        _ = (await joinA.answer, await joinB.answer)
        let syncB = h.sync(b, generation: 1)
        await h.coordinator.waitFor("g") { $0?.awaitingSync == 1 }
        syncB.cancel()
        #expect(await syncB.answer.error != .none)
        #expect(await h.coordinator.snapshot("g")?.awaitingSync == 0)
        // B is still a member: the leader's assignment makes the group Stable, B syncs again.
        #expect(await h.sync(a, generation: 1, assignments: [(a, [1]), (b, [2])]).answer.error == .none)
        #expect(await h.sync(b, generation: 1).answer.assignment == [2])
    }

    @Test func pendingIdsExpireAndCountTowardTheMemberBound() async throws {
        let h = await GroupHarness.start(options: GroupHarness.options(membersMax: 2))
        let first = await h.coordinator.join(h.joinCall(client: "a"))
        let second = await h.coordinator.join(h.joinCall(client: "b"))
        #expect(first.error == .memberIdRequired && second.error == .memberIdRequired)
        #expect(await h.coordinator.join(h.joinCall(client: "c")).error == .groupMaxSizeReached)
        #expect(await h.coordinator.snapshot("g")?.pending == 2)
        await h.advance(ms: Int64(GroupHarness.sessionMs))
        // Never used: gone, and the group with them (it holds nothing).
        #expect(await h.coordinator.snapshot("g") == nil)
        #expect(await h.coordinator.join(h.joinCall(member: first.memberId)).error == .unknownMemberId)
    }

    @Test func describeListAndDeleteGroups() async throws {
        let h = await GroupHarness.start()
        let (a, _) = try await h.stablePair()
        _ = await h.commit([("t", 0, 1)], group: "solo")
        let unknown = try #require(await h.coordinator.describe(["missing"]).first)
        #expect(unknown.error == .none && unknown.state == "Dead" && unknown.members.isEmpty)
        #expect(await h.coordinator.list(states: []).map(\.groupId) == ["g", "solo"])
        #expect(await h.coordinator.list(states: ["Stable"]).map(\.groupId) == ["g"])
        #expect(await h.coordinator.list(states: ["Empty"]).map(\.groupId) == ["solo"])
        let results = await h.coordinator.delete(["g", "missing", "solo"])
        #expect(results.map(\.1) == [.nonEmptyGroup, .groupIdNotFound, .none])
        #expect(await h.persistence.stored["solo"] == nil)
        #expect(await h.committed("solo") == [:])
        #expect(await h.coordinator.describe(["solo"]).first?.state == "Dead")
        // A failed delete leaves the group as it was.
        _ = await h.commit([("t", 0, 1)], group: "solo2")
        await h.persistence.failWrites(StrataError(.closed, "closing"))
        #expect(await h.coordinator.delete(["solo2"]).map(\.1) == [.coordinatorNotAvailable])
        #expect(await h.coordinator.describe(["solo2"]).first?.state == "Empty")
        #expect(await h.committed("solo2") == [.init(topic: "t", partition: 0): 1])
        #expect(await h.heartbeat(a, generation: 1) == .none)
    }

    @Test func shutdownAnswersWaitingJoinsWithNotCoordinator() async throws {
        let h = await GroupHarness.start()
        let (_, join) = try await h.joinNew(client: "a")
        await h.coordinator.shutdown()
        #expect(await join.answer.error == .notCoordinator)
        #expect(await h.coordinator.join(h.joinCall(client: "b")).error == .notCoordinator)
        #expect(await h.coordinator.availability() == .notCoordinator)
        #expect(await h.coordinator.list(states: []).isEmpty)
    }

    @Test func shutdownLetsACommitInFlightFinish() async throws {
        let h = await GroupHarness.start()
        #expect(await h.coordinator.availability() == .none)
        await h.persistence.setHoldCommits(true)
        let commit = Task { await h.commit([("t", 0, 5)]) }
        await h.persistence.waitUntil { _, held in held == 1 }
        let stopped = Task { await h.coordinator.shutdown() }
        try await eventually("the sweep stopped") { h.clock.sleeperCount == 0 }
        await h.persistence.releaseCommits()
        await stopped.answer
        #expect(await commit.answer.map(\.1) == [.none])
        #expect(await h.persistence.stored["g"]?.offsets[.init(topic: "t", partition: 0)]?.offset == 5)
    }
}
