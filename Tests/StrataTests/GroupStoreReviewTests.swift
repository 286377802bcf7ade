import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Review of issue 14 (the durable group state): defects the review found, each pinned by a test
/// (all fixed).
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

extension GroupStoreReviewTests {
    /// `GroupStore.read` beside a writer: it reads `log-start-offset`, then re-lists the segments,
    /// then replays. A writer's trim between the first two steps (it writes the new log start,
    /// then deletes segments) leaves the reader with the old log start and the new segment list,
    /// so the replay starts at the first kept segment's base offset, below the checkpoint the
    /// trim kept, possibly inside an older checkpoint: `corrupt` ("chunk … follows no begin"),
    /// which `read` does not retry (it retries only `offsetOutOfRange` and `notFound`). This
    /// test runs `read`'s three steps with a trim between the first two.
    /// Segments of 40,000 bytes, so a kept segment can begin inside an older multi-batch checkpoint.
    @Test func aReaderInterleavedWithATrimNeverReportsCorruption() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            options.defaultTopicConfig.segmentBytes = 40000
            var storeOptions = GroupStoreOptions()
            storeOptions.compactionBytesMin = 1500
            storeOptions.checkpointChunkBytes = 256
            storeOptions.checkpointBatchBytes = 1024 + 1024
            let lake = try Lake.open(dir, options: options)
            _ = try lake.topic("t", creatingWith: nil, partitions: 8)
            let store = try await GroupStore.open(lake, options: storeOptions)
            try await store.commitOffsets("g", [tp("t", 0): offset(0)])
            let reader = try Lake.openReadOnly(dir)
            let topic = try reader.topic(GroupStore.topicName)
            let writer = try lake.topic(GroupStore.topicName)
            var failures: [String] = []
            var i: Int64 = 1
            var below = 0
            for _ in 0 ..< 100 {
                try topic.loadLogStart()  // step 1 of `read`
                let start = try await writer.logStartOffset()
                while try await writer.logStartOffset() == start {  // the writer trims
                    let group = "g\(i % 12)"
                    try await store.commitOffsets(group, [tp("t", Int32(i % 7)): offset(i), tp("t", 7): offset(i)])
                    await store.waitForTrim()
                    i += 1
                }
                try topic.refresh()  // step 2
                if try await topic.logStartOffset() < writer.logStartOffset() { below += 1 }
                do {
                    _ = try await GroupStore.replay(topic)  // step 3
                } catch {
                    failures.append(String("\(error)".prefix(200)))
                }
            }
            let summary = "\(failures.count) of 100 reads failed (\(below) started below the kept checkpoint)"
            #expect(failures.isEmpty, "\(summary), first: \(failures.first ?? "")")
            try await reader.close()
            await store.close()
            try await lake.close()
        }
    }
}
