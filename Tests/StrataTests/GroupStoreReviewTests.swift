import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Review of issue 14 (the durable group state): behaviours that are wrong on main, each pinned
/// by a test that fails until it is fixed.
@Suite struct GroupStoreReviewTests {
    func tp(_ topic: String, _ partition: Int32) -> GroupTopicPartition {
        GroupTopicPartition(topic: topic, partition: partition)
    }

    func offset(_ value: Int64) -> CommittedOffset {
        CommittedOffset(offset: value, leaderEpoch: -1, metadata: "", commitTimestampMs: 1_700_000_000_000)
    }

    /// A topic deleted without `strata serve` (`strata topics delete`, i.e. `Lake.deleteTopic`)
    /// and created again under the same name before the next open: the open keeps the old
    /// topic's committed offsets (it only checks that a topic of that name exists), so a group
    /// resumes the new, unrelated log at the old offset and silently skips its first records.
    /// Kafka drops a deleted topic's offsets; DeleteTopics through serve does too (a tombstone).
    @Test func offsetsOfATopicDeletedAndRecreatedOfflineAreNotAppliedToTheNewTopic() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            do {
                let lake = try Lake.open(dir, options: options)
                _ = try lake.topic("t", creatingWith: nil)
                let store = try await GroupStore.open(lake)
                try await store.commitOffsets("app", [tp("t", 0): offset(8)])
                await store.close()
                try await lake.close()
            }
            do {  // `strata topics delete t`, then `strata topics create t`
                let lake = try Lake.open(dir, options: options)
                _ = try await lake.deleteTopic("t")
                _ = try lake.topic("t", creatingWith: nil)
                try await lake.close()
            }
            let lake = try Lake.open(dir, options: options)
            let store = try await GroupStore.open(lake)
            let groups = await store.groups()
            #expect(
                groups["app"]?.offsets[tp("t", 0)] == nil,
                "the deleted topic's offset \(String(describing: groups["app"]?.offsets)) applies to the new topic t")
            await store.close()
            try await lake.close()
        }
    }
}

extension GroupStoreReviewTests {
    /// `__consumer_offsets` keeps its whole log locally (no local retention, formats/groups.md),
    /// so its replay needs nothing from the cold store. But once a checkpoint has trimmed the
    /// log, its log start is not 0 and `Topic.logStartOffset()` asks the cold store's manifest:
    /// during a cold-store outage `GroupStore.open` fails, and with it `strata serve`'s start
    /// (a hot read of any other topic works: issue 12 item 4).
    @Test func theStoreOpensDuringAColdStoreOutageWhenItsLogIsLocal() async throws {
        try await withTempDirectory { dir in
            let faulty = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: .none, seed: 1)
            var options = lakeOptions()
            options.backgroundOffload = false
            options.coldStore = faulty
            options.blobRetry = RetryPolicy(attemptsMax: 2, baseDelayMs: 1, delayMaxMs: 1)
            var storeOptions = GroupStoreOptions()
            storeOptions.compactionBytesMin = 2048
            var model: [GroupTopicPartition: CommittedOffset] = [:]
            do {
                let lake = try Lake.open(dir, options: options)
                _ = try lake.topic("t", creatingWith: nil, partitions: 4)
                let store = try await GroupStore.open(lake, options: storeOptions)
                for i in 0 ..< 200 {
                    let offsets = [tp("t", Int32(i % 4)): offset(Int64(i))]
                    try await store.commitOffsets("app", offsets)
                    model.merge(offsets) { $1 }
                }
                await store.waitForTrim()
                #expect(try await lake.topic(GroupStore.topicName).logStartOffset() > 0, "the log was trimmed")
                await store.close()
                try await lake.close()
            }
            faulty.setPlan(FaultPlan(unavailableFraction: 1))
            let lake = try Lake.open(dir, options: options)
            _ = try await lake.topic("t").read(from: 0)  // a hot read works during the outage
            do {
                let store = try await GroupStore.open(lake, options: storeOptions)
                #expect(await store.groups()["app"]?.offsets == model)
                await store.close()
            } catch {
                Issue.record("GroupStore.open failed during a cold-store outage: \(error)")
            }
            try await lake.close()
        }
    }
}
