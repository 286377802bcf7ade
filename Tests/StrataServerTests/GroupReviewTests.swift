import Strata
import StrataKafka
import StrataTesting
import Testing

@testable import StrataServer

/// Review of issue 14's coordinator (review1): each test pins a defect the review found, now fixed.
@Suite(.timeLimit(.minutes(2)))
struct GroupReviewTests {
    /// A new group's only member leaves during the initial rebalance delay. The group then had
    /// no members and no pending ids, and the sweep skipped it, so the join never completed: it
    /// stayed PreparingRebalance until the next join, DeleteGroups refused it (NON_EMPTY_GROUP)
    /// and standalone commits got UNKNOWN_MEMBER_ID.
    @Test func aGroupWhoseOnlyMemberLeftDuringTheInitialDelayBecomesEmpty() async throws {
        let h = await GroupHarness.start()
        let (a, joinA) = try await h.joinNew(client: "a")
        let left = await h.coordinator.leave(LeaveGroupCall(groupId: "g", members: [(a, nil)]))
        #expect(left.members.map(\.error) == [.none])
        #expect(await joinA.answer.error == .unknownMemberId)
        await h.advance(ms: 3_000)
        await h.advance(ms: 3_000)
        await h.advance(ms: 10_000)
        #expect(await h.coordinator.snapshot("g")?.phase == .empty)
        let committed = await h.commit([("t", 0, 5)])
        #expect(committed.map(\.1) == [.none])
        #expect(await h.coordinator.delete(["g"]).map(\.1) == [.none])
    }

    /// A group that emptied and holds no offsets keeps its slot forever (`isDisposable` wants
    /// generation 0), in memory and in every checkpoint: consumers that use a fresh group id per
    /// run (kafka-console-consumer without --group, kcat -G scripts) fill `groupsMax`, after which
    /// every new group's JoinGroup gets COORDINATOR_NOT_AVAILABLE, which clients retry forever.
    @Test func anEmptiedGroupWithNoOffsetsDoesNotHoldASlotForever() async throws {
        do {
            var options = GroupHarness.options(initialDelayMs: 0)
            options.groupsMax = 1
            let h = await GroupHarness.start(options: options)
            let (a, joinA) = try await h.joinNew("used", client: "a")
            #expect(await joinA.answer.generationId == 1)
            let left = await h.coordinator.leave(LeaveGroupCall(groupId: "used", members: [(a, nil)]))
            #expect(left.members.map(\.error) == [.none])
            await h.advance(ms: 1_000)
            #expect(await h.coordinator.snapshot("used")?.phase == .empty)
            #expect(await h.committed("used").isEmpty)
            // Kept for emptyGroupRetentionMs (30 s), then forgotten in memory and in the store.
            await h.advance(ms: 29_000)
            #expect(await h.coordinator.snapshot("used") != nil)
            await h.advance(ms: 1_000)
            await h.coordinator.waitFor("used") { $0 == nil }
            #expect(await h.persistence.stored["used"] == nil)
            let other = await h.coordinator.join(h.joinCall("next", client: "b"))
            #expect(other.error == .memberIdRequired, "a new group is refused: \(other.error)")
        }
    }

    /// An offset committed while DeleteTopics runs outlives the topic: `topicDeleted` filters
    /// the offsets in memory and writes its tombstone outside the group's write order, so a
    /// commit already on its way to the store lands after both. OffsetFetch then answers the
    /// deleted topic's offset, and a topic re-created under the name starts its consumers there.
    @Test func aCommitInFlightWhenItsTopicIsDeletedDoesNotSurviveTheDelete() async throws {
        do {
            let h = await GroupHarness.start()
            await h.persistence.setHoldCommits(true)
            let commit = Task { await h.commit([("t", 0, 42)], group: "solo") }
            await h.persistence.waitUntil { _, held in held == 1 }
            // The delete waits for the commit ordered before it, which lands first.
            let deleted = Task { await h.coordinator.topicDeleted("t") }
            await h.persistence.releaseCommits()
            await deleted.value
            #expect(await commit.answer.map(\.1) == [.none])
            let left = await h.committed("solo")
            #expect(left.isEmpty, "offsets of deleted topic t: \(left)")
            #expect(await h.persistence.stored["solo"]?.offsets.isEmpty ?? true)
        }
    }

    /// Member ids are `clientId-UUID` (or `instanceId-UUID`): a client.id or group.instance.id
    /// over 32,730 bytes gives an id no Kafka string can hold, so the JoinGroup answer cannot be
    /// encoded and the connection closes, while the pending id stays. librdkafka retries about
    /// once a second; its pending ids never all expire, so every rebalance of the group waits
    /// out the whole rebalance timeout (measured: a second consumer's join took 20.2 s with
    /// max.poll.interval.ms 20000 beside one such confluent-kafka consumer).
    @Test func aMemberIdHandedOutFitsInAKafkaString() async throws {
        do {
            let h = await GroupHarness.start()
            let long = String(repeating: "x", count: 32_767)
            let dynamic = await h.coordinator.join(h.joinCall(client: long))
            #expect(dynamic.memberId.utf8.count <= 32_767, "\(dynamic.memberId.utf8.count) bytes")
            let join = Task { await h.coordinator.join(h.joinCall("s", instance: long, requireKnownId: false)) }
            await h.coordinator.waitFor("s") { $0?.members.count == 1 }
            let id = try #require(await h.coordinator.snapshot("s")?.members.first)
            #expect(id.utf8.count <= 32_767, "\(id.utf8.count) bytes")
            join.cancel()
        }
    }

    /// The other half of the DeleteTopics race: a commit whose turn comes after its topic went
    /// checks the partition again there and stores nothing for it (the rest of it goes through).
    @Test func aCommitWhoseTopicWentBeforeItsTurnStoresNothingForIt() async throws {
        let h = await GroupHarness.start(partitionExists: { $0.topic != "gone" })
        let committed = await h.commit([("gone", 0, 5), ("kept", 1, 6)], group: "solo")
        #expect(committed.map(\.1) == [.unknownTopicOrPartition, .none])
        #expect(await h.committed("solo") == [GroupTopicPartition(topic: "kept", partition: 1): 6])
        #expect(await h.persistence.stored["solo"]?.offsets.keys.map(\.topic) == ["kept"])
    }
}
