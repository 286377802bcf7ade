import Foundation
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
