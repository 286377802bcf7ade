import Foundation
import Glibc
import StrataTesting
import Testing

@testable import Strata

/// ARCHITECTURE.md invariant 13: committed offsets and group membership survive reopen and crash,
/// checkpoints bound the log without changing the state, bad bytes refuse the open
/// (formats/groups.md).
@Suite struct GroupStoreTests {
    static let topicName = GroupStore.topicName

    /// The internal topic as the store's first write creates it (tests that watch it from the start).
    func internalTopic(_ lake: Lake) throws -> Topic {
        try lake.topic(Self.topicName, creatingWith: GroupStore.internalConfig(lake.defaultTopicConfig))
    }

    func offset(_ value: Int64, _ metadata: String = "", at ms: Int64 = 1_700_000_000_000) -> CommittedOffset {
        CommittedOffset(offset: value, leaderEpoch: Int32(value % 7) - 1, metadata: metadata, commitTimestampMs: ms)
    }

    func metadata(generation: Int32, members: Int) -> GroupMetadataRecord {
        GroupMetadataRecord(
            protocolType: "consumer", generation: generation, protocolName: members == 0 ? nil : "range",
            leader: members == 0 ? nil : "m-0", stateTimestampMs: 1_700_000_000_000 + Int64(generation),
            members: (0 ..< members).map { i in
                GroupMemberRecord(
                    memberId: "m-\(i)", groupInstanceId: i % 2 == 0 ? "pod-\(i)" : nil, clientId: "client",
                    clientHost: "/127.0.0.1", rebalanceTimeoutMs: 300_000, sessionTimeoutMs: 45_000,
                    subscription: [0, 1, UInt8(i)], assignment: [UInt8](repeating: UInt8(i), count: i))
            })
    }

    func tp(_ topic: String, _ partition: Int32) -> GroupTopicPartition {
        GroupTopicPartition(topic: topic, partition: partition)
    }

    /// A lake with topics `orders` (4 partitions) and `clicks`, so their offsets are kept.
    func makeLake(_ dir: String, log: LogSink = LogSink(), segmentBytes: Int? = nil) throws -> Lake {
        var options = lakeOptions(log: log)
        options.backgroundOffload = false
        if let segmentBytes { options.defaultTopicConfig.segmentBytes = segmentBytes }
        let lake = try Lake.open(dir, options: options)
        for (name, partitions) in [("orders", Int32(4)), ("clicks", 1)] where !FileIO.exists(dir + "/topics/" + name) {
            _ = try lake.topic(name, creatingWith: nil, partitions: partitions)
        }
        return lake
    }

    func smallCheckpoints(trims: Bool = true) -> GroupStoreOptions {
        var options = GroupStoreOptions()
        options.compactionBytesMin = 2048
        options.checkpointChunkBytes = 300
        options.checkpointBatchBytes = 1100
        options.trimsAfterCheckpoint = trims
        return options
    }

    @Test func commitsAndMembershipSurviveAReopen() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            let store = try await GroupStore.open(lake)
            #expect(await store.groups().isEmpty)
            try await store.commitOffsets("app", [tp("orders", 0): offset(10, "m"), tp("orders", 3): offset(4)])
            try await store.storeMetadata("app", metadata(generation: 1, members: 2))
            try await store.commitOffsets("app", [tp("orders", 0): offset(12, "é")])
            try await store.storeMetadata("app", metadata(generation: 2, members: 3))
            try await store.commitOffsets("solo", [tp("clicks", 0): offset(99)])
            try await store.storeMetadata("emptied", metadata(generation: 5, members: 0))
            let before = await store.groups()
            #expect(before["app"]?.offsets == [tp("orders", 0): offset(12, "é"), tp("orders", 3): offset(4)])
            #expect(before["app"]?.metadata == metadata(generation: 2, members: 3))
            #expect(before["solo"] == StoredGroup(metadata: nil, offsets: [tp("clicks", 0): offset(99)]))
            #expect(before["emptied"] == StoredGroup(metadata: metadata(generation: 5, members: 0)))
            await store.close()
            await #expect(throws: StrataError.self) {
                try await store.commitOffsets("app", [tp("orders", 1): offset(1)])
            }
            try await lake.close()

            let again = try makeLake(dir)
            let reopened = try await GroupStore.open(again)
            #expect(await reopened.groups() == before)
            await reopened.close()
            try await again.close()
        }
    }

    @Test func eachWriteIsOneBatchAndEmptyOrUnknownWritesWriteNothing() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            let store = try await GroupStore.open(lake)
            #expect(try !lake.topicNames().contains(Self.topicName), "a store that never wrote has no topic")
            let topic = try internalTopic(lake)
            try await store.commitOffsets("app", [tp("orders", 0): offset(1), tp("orders", 1): offset(2)])
            #expect(topic.segments().last?.lastOffset == 1 && topic.highWatermark == 2)
            let batches = try scanSegment(try #require(topic.segments().last).path).1.batches
            #expect(batches.count == 1 && batches[0].header.recordCount == 2)
            try await store.commitOffsets("app", [:])
            try await store.deleteGroup("nobody")
            try await store.dropTopic("clicks")
            #expect(topic.highWatermark == 2)
            try await store.deleteGroup("app")
            let afterDelete = await store.groups()
            #expect(topic.highWatermark == 3 && afterDelete.isEmpty)
            await store.close()
            try await lake.close()
        }
    }

    @Test func aCrashKeepsEveryReturnedWriteAndATornLastBatchIsCutWhole() async throws {
        try await withTempDirectory { dir in
            var expected: [String: StoredGroup] = [:]
            var lastBatch: (position: Int, length: Int, path: String)? = nil
            do {
                let lake = try makeLake(dir)
                let store = try await GroupStore.open(lake)
                for i in 0 ..< 20 {
                    try await store.commitOffsets("g\(i % 3)", [tp("orders", Int32(i % 4)): offset(Int64(i))])
                }
                try await store.storeMetadata("g1", metadata(generation: 3, members: 2))
                expected = await store.groups()
                // One more commit of three partitions, whose batch the crash tears.
                try await store.commitOffsets(
                    "g2", [tp("orders", 0): offset(500), tp("orders", 1): offset(501), tp("clicks", 0): offset(502)])
                let path = try #require(try lake.topic(Self.topicName).segments().last).path
                let last = try #require(try scanSegment(path).1.batches.last)
                lastBatch = (last.position, last.header.batchLength, path)
                // Dropped without close: a crashed process.
            }
            let torn = try #require(lastBatch)
            try truncateFile(torn.path, to: torn.position + torn.length / 2)
            // The journal lost it too (its fsync never came), or it would write the batch back.
            let tornBase = try #require(try scanSegment(torn.path).1.batches.last?.header.nextOffset)
            try JournalTests.forgetJournalEntries(dir, log: Self.topicName, from: tornBase)
            let log = LogSink()
            let lake = try makeLake(dir, log: log)
            let store = try await GroupStore.open(lake)
            #expect(await store.groups() == expected, "the torn commit is gone whole: none of its three offsets")
            #expect(log.contains("torn tail"), "\(log.messages)")
            // Writes go on after the cut and survive another crash.
            try await store.commitOffsets("g2", [tp("clicks", 0): offset(7)])
            expected["g2", default: StoredGroup()].offsets[tp("clicks", 0)] = offset(7)
            await store.close()
            try await lake.close()
            let again = try makeLake(dir)
            #expect(await (try await GroupStore.open(again)).groups() == expected)
            try await again.close()
        }
    }

    /// Many commits with a small compaction bound: checkpoints are written, the log start moves,
    /// the log stays bounded, and the state equals a model of every write, before and after reopen.
    @Test func checkpointsAndTrimsKeepTheStateAndBoundTheLog() async throws {
        try await withTempDirectory { dir in
            var model: [String: StoredGroup] = [:]
            let lake = try makeLake(dir, segmentBytes: 4096)
            let store = try await GroupStore.open(lake, options: smallCheckpoints())
            let topic = try internalTopic(lake)
            var rng = SeededRandom(seed: 21)
            var starts: Set<Int64> = []
            for i in 0 ..< 600 {
                let group = "group-\(Int.random(in: 0 ..< 6, using: &rng))"
                switch Int.random(in: 0 ..< 20, using: &rng) {
                case 0:
                    let record = metadata(generation: Int32(i), members: Int.random(in: 0 ..< 4, using: &rng))
                    try await store.storeMetadata(group, record)
                    model[group, default: StoredGroup()].metadata = record
                case 1 where i % 7 == 0:
                    try await store.deleteGroup(group)
                    model[group] = nil
                default:
                    var offsets: [GroupTopicPartition: CommittedOffset] = [:]
                    for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                        offsets[tp("orders", Int32.random(in: 0 ..< 4, using: &rng))] = offset(Int64(i), "i=\(i)")
                    }
                    try await store.commitOffsets(group, offsets)
                    model[group, default: StoredGroup()].offsets.merge(offsets) { $1 }
                }
                await store.waitForTrim()
                starts.insert(try await topic.logStartOffset())
            }
            #expect(await store.groups() == model)
            let start = try await topic.logStartOffset()
            #expect(starts.count > 3, "the log was trimmed several times: \(starts.sorted())")
            #expect(start == store.checkpointOffset)
            // Bounded: at most the bound's worth of records (a few hundred) since the checkpoint.
            #expect(topic.highWatermark - start < 200, "\(start)..<\(topic.highWatermark)")
            #expect(topic.segments().count < 8, "\(topic.segments().count) local segments")
            await store.close()
            try await lake.close()

            let again = try makeLake(dir, segmentBytes: 4096)
            let reopened = try await GroupStore.open(again, options: smallCheckpoints())
            #expect(await reopened.groups() == model)
            await reopened.close()
            try await again.close()
        }
    }

    @Test func aCrashBetweenCheckpointAndTrimReplaysTheSameStateAndTheOpenTrims() async throws {
        try await withTempDirectory { dir in
            var model: [String: StoredGroup] = [:]
            var checkpoint: Int64? = nil
            do {
                let lake = try makeLake(dir)
                let store = try await GroupStore.open(lake, options: smallCheckpoints(trims: false))
                var i = 0
                while store.checkpointOffset == nil || i < 80 {
                    let offsets = [tp("orders", Int32(i % 4)): offset(Int64(i), String(repeating: "x", count: i % 50))]
                    try await store.commitOffsets("g\(i % 5)", offsets)
                    model["g\(i % 5)", default: StoredGroup()].offsets.merge(offsets) { $1 }
                    i += 1
                }
                checkpoint = store.checkpointOffset
                #expect(try await lake.topic(Self.topicName).logStartOffset() == 0)
            }
            let begin = try #require(checkpoint)
            let lake = try makeLake(dir)
            let store = try await GroupStore.open(lake, options: smallCheckpoints())
            #expect(await store.groups() == model)
            await store.waitForTrim()
            let start = try await lake.topic(Self.topicName).logStartOffset()
            #expect(start >= begin && start == store.checkpointOffset, "\(start) vs \(begin)")
            await store.close()
            try await lake.close()
        }
    }

    /// A crash tears the batch in the middle of a checkpoint that spans several batches: the
    /// replay abandons the incomplete checkpoint and keeps the state before it; later writes and
    /// later checkpoints work.
    @Test func aTornTailInTheMiddleOfACheckpointReplaysTheStateBeforeIt() async throws {
        try await withTempDirectory { dir in
            var model: [String: StoredGroup] = [:]
            var cut: (path: String, size: Int)? = nil
            do {
                let lake = try makeLake(dir)
                let store = try await GroupStore.open(lake, options: smallCheckpoints(trims: false))
                var i = 0
                while store.checkpointOffset == nil {
                    let offsets = [tp("orders", Int32(i % 4)): offset(Int64(i), String(repeating: "y", count: 40))]
                    try await store.commitOffsets("group-\(i % 9)", offsets)
                    model["group-\(i % 9)", default: StoredGroup()].offsets.merge(offsets) { $1 }
                    i += 1
                }
                let begin = try #require(store.checkpointOffset)
                let path = try #require(try lake.topic(Self.topicName).segments().last).path
                let checkpointBatches = try scanSegment(path).1.batches.filter { $0.header.baseOffset >= begin }
                #expect(checkpointBatches.count >= 3, "the checkpoint spans batches: \(checkpointBatches.count)")
                let second = checkpointBatches[1]
                cut = (path, second.position + second.header.batchLength / 2)
            }
            let (path, size) = try #require(cut)
            try truncateFile(path, to: size)
            // The journal lost the torn batch and what followed (or it would write them back).
            let tornBase = try #require(try scanSegment(path).1.batches.last?.header.nextOffset)
            try JournalTests.forgetJournalEntries(dir, log: Self.topicName, from: tornBase)
            let log = LogSink()
            let lake = try makeLake(dir, log: log)
            // A bound too high for a checkpoint at open: the next record after the abandoned
            // checkpoint is a commit.
            var noCheckpoint = smallCheckpoints()
            noCheckpoint.compactionBytesMin = 1 << 20
            let store = try await GroupStore.open(lake, options: noCheckpoint)
            #expect(await store.groups() == model)
            #expect(log.contains("was interrupted"), "\(log.messages)")
            #expect(store.checkpointOffset == nil)
            for i in 0 ..< 80 {
                let offsets = [tp("clicks", 0): offset(Int64(1000 + i))]
                try await store.commitOffsets("late", offsets)
                model["late", default: StoredGroup()].offsets.merge(offsets) { $1 }
            }
            await store.close()
            try await lake.close()
            // Replayed again: abandoned checkpoint, then commits; this open writes a complete one.
            let again = try makeLake(dir)
            let reopened = try await GroupStore.open(again, options: smallCheckpoints())
            #expect(await reopened.groups() == model)
            #expect(reopened.checkpointOffset != nil)
            await reopened.close()
            try await again.close()
            let third = try makeLake(dir)
            #expect(await (try await GroupStore.open(third)).groups() == model)
            try await third.close()
        }
    }

    @Test func offsetsOfDeletedTopicsAreDroppedAtOpenAndByDropTopic() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            _ = try lake.topic("temp", creatingWith: nil)
            _ = try lake.topic("temp2", creatingWith: nil)
            let store = try await GroupStore.open(lake)
            try await store.commitOffsets("a", [tp("orders", 1): offset(5), tp("temp", 0): offset(6)])
            try await store.commitOffsets("b", [tp("temp", 0): offset(7)])
            try await store.commitOffsets("c", [tp("temp2", 0): offset(8)])
            try await store.storeMetadata("c", metadata(generation: 1, members: 1))
            // Deleting a topic drops its offsets through the open store at once.
            _ = try await lake.deleteTopic("temp")
            #expect(await store.groups()["a"]?.offsets == [tp("orders", 1): offset(5)])
            #expect(await store.groups()["b"] == nil, "a group left with nothing is gone")
            await store.close()
            try await lake.close()
            // A topic gone without a delete (a lake from before deletes dropped offsets): the
            // next open drops them.
            let catalog = try Catalog.openWriter(LakePaths(root: dir), log: { _ in })
            try catalog.beginDelete("temp2")
            try catalog.finishDelete("temp2")
            try catalog.close()
            try FileManager.default.removeItem(atPath: dir + "/topics/temp2")

            let log = LogSink()
            let again = try makeLake(dir, log: log)
            let reopened = try await GroupStore.open(again)
            let groups = await reopened.groups()
            #expect(groups["a"]?.offsets == [tp("orders", 1): offset(5)])
            #expect(groups["b"] == nil)
            #expect(groups["c"] == StoredGroup(metadata: metadata(generation: 1, members: 1)))
            #expect(log.contains("dropped 1 committed offsets of deleted topics temp2"), "\(log.messages)")
            try await reopened.dropTopic("orders")
            #expect(await reopened.groups()["a"] == nil)
            await reopened.close()
            try await again.close()

            let third = try makeLake(dir)
            let final = try await GroupStore.open(third)
            #expect(await final.groups() == ["c": StoredGroup(metadata: metadata(generation: 1, members: 1))])
            await final.close()
            try await third.close()
        }
    }

    @Test func aReadOnlyReadBesideTheWriterSeesItsWritesAndChangesNothing() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            let store = try await GroupStore.open(lake, options: smallCheckpoints())
            let reader = try Lake.openReadOnly(dir)
            for i in 0 ..< 40 {
                try await store.commitOffsets("g\(i % 3)", [tp("orders", Int32(i % 4)): offset(Int64(i))])
            }
            try await store.storeMetadata("g0", metadata(generation: 4, members: 3))
            await store.waitForTrim()
            let tree = fileTree(dir)
            #expect(try await GroupStore.read(reader) == (await store.groups()))
            #expect(fileTree(dir) == tree)
            try await store.commitOffsets("g9", [tp("clicks", 0): offset(3)])
            #expect(try await GroupStore.read(reader)["g9"]?.offsets == [tp("clicks", 0): offset(3)])
            await #expect(throws: StrataError.self) { _ = try await GroupStore.open(reader) }
            try await reader.close()
            await store.close()
            try await lake.close()
        }
    }

    @Test func aLakeWithoutTheTopicHasNoGroupsAndReadingCreatesNothing() async throws {
        try await withTempDirectory { dir in
            try await makeLake(dir).close()
            let tree = fileTree(dir)
            let reader = try Lake.openReadOnly(dir)
            #expect(try await GroupStore.read(reader).isEmpty)
            #expect(fileTree(dir) == tree)
            try await reader.close()
        }
    }

    @Test func aRecordThatIsNotAGroupRecordRefusesTheOpenNamingItsOffset() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            let store = try await GroupStore.open(lake)
            try await store.commitOffsets("g", [tp("orders", 0): offset(1)])
            await store.close()
            let topic = try lake.topic(Self.topicName)
            try await topic.append([ProducerRecord(value: bytes("not a group record"))])
            try await lake.close()

            let again = try makeLake(dir)
            let end = try again.topic(Self.topicName).highWatermark
            let error = await strataError { _ = try await GroupStore.open(again) }
            #expect(error?.code == .corrupt)
            #expect(
                error?.message.contains("record at offset 1 of __consumer_offsets") == true,
                "\(String(describing: error))")
            #expect(error?.message.contains("key") == true)
            #expect(try again.topic(Self.topicName).highWatermark == end, "nothing was written")
            let reader = try Lake.openReadOnly(dir)
            #expect((await strataError { _ = try await GroupStore.read(reader) })?.code == .corrupt)
            try await reader.close()
            try await again.close()
        }
    }

    @Test func aChunkWithoutItsBeginRefusesTheOpen() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            _ = try lake.topic(Self.topicName, creatingWith: GroupStore.internalConfig(TopicConfig()))
            let chunk = try GroupRecordCodec.encode(.checkpoint(id: 4, .chunk(index: 0, bytes: [1, 2])))
            try await lake.topic(Self.topicName).append([ProducerRecord(key: chunk.key, value: chunk.value)])
            let error = await strataError { _ = try await GroupStore.open(lake) }
            #expect(
                error?.code == .corrupt && error?.message.contains("offset 0") == true, "\(String(describing: error))")
            try await lake.close()
        }
    }

    @Test func badValuesAreInvalidArgumentsAndWriteNothing() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            let store = try await GroupStore.open(lake)
            let topic = try internalTopic(lake)
            let long = String(repeating: "g", count: 40_000)
            let cases: [(String, () async throws -> Void)] = [
                ("key.topic", { try await store.commitOffsets("g", [self.tp("a/b", 0): self.offset(1)]) }),
                ("key.partition", { try await store.commitOffsets("g", [self.tp("orders", -1): self.offset(1)]) }),
                ("key.group", { try await store.storeMetadata(long, self.metadata(generation: 1, members: 1)) }),
                (
                    "value.metadata",
                    { try await store.commitOffsets("g", [self.tp("orders", 0): self.offset(1, long)]) }
                ),
            ]
            for (field, body) in cases {
                let error = await strataError(body)
                #expect(
                    error?.code == .invalidArgument && error?.message.contains(field) == true,
                    "\(field): \(String(describing: error))")
            }
            let unchanged = await store.groups()
            #expect(topic.highWatermark == 0 && unchanged.isEmpty)
            try await store.commitOffsets("g", [tp("orders", 0): offset(1)])
            #expect(topic.highWatermark == 1)
            await store.close()
            try await lake.close()
        }
    }

    @Test func theTopicHasNoRetentionAndOneWithTotalRetentionIsRefused() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            options.defaultTopicConfig.retentionMs = 60_000
            options.defaultTopicConfig.localRetentionBytes = 1024
            let lake = try Lake.open(dir, options: options)
            let store = try await GroupStore.open(lake)
            #expect(try !lake.topicNames().contains(Self.topicName), "no write, no topic")
            try await store.commitOffsets("g", [tp("orders", 0): offset(1)])
            let config = try lake.topic(Self.topicName).config
            #expect(config.retentionMs == nil && config.retentionBytes == nil)
            #expect(config.localRetentionMs == nil && config.localRetentionBytes == nil)
            #expect(config.recordBytesMax == config.batchBytesMax && config.segmentBytes <= 16 << 20)
            await store.close()
            _ = try await lake.alterTopicConfig(Self.topicName, set: [(key: "retentionMs", value: "1000")])
            let error = await strataError { _ = try await GroupStore.open(lake) }
            #expect(error?.code == .invalidArgument && error?.message.contains("retentionMs") == true)
            try await lake.close()
        }
    }

    /// With small batch and record limits a state many times a batch still checkpoints (in
    /// chunks and batches that fit), and a record over the limit is refused whole.
    @Test func checkpointsFitSmallRecordAndBatchLimitsAndAnOversizedWriteIsRefused() async throws {
        try await withTempDirectory { dir in
            let log = LogSink()
            var options = lakeOptions(log: log)
            options.backgroundOffload = false
            options.defaultTopicConfig.batchBytesMax = 8192
            options.defaultTopicConfig.recordBytesMax = 1024
            options.defaultTopicConfig.durability = .async  // 1,500 writes: no fsync each
            let lake = try Lake.open(dir, options: options)
            _ = try lake.topic("orders", creatingWith: nil, partitions: 4)
            let store = try await GroupStore.open(lake, options: smallCheckpoints())
            let topic = try internalTopic(lake)
            var model: [String: StoredGroup] = [:]
            for i in 0 ..< 1500 {
                let offsets = [tp("orders", Int32(i % 4)): offset(Int64(i), String(repeating: "z", count: 20))]
                try await store.commitOffsets("group-\(i % 150)", offsets)
                model["group-\(i % 150)", default: StoredGroup()].offsets.merge(offsets) { $1 }
            }
            let begin = try #require(store.checkpointOffset, "\(log.messages)")
            let path = try #require(topic.segments().last).path
            let batches = try scanSegment(path).1.batches.filter { $0.header.baseOffset >= begin }
            #expect(batches.count > 2 && batches.allSatisfy { $0.header.batchLength <= 8192 })
            var big = metadata(generation: 1, members: 1)
            big.members[0].assignment = [UInt8](repeating: 7, count: 10_000)
            let end = topic.highWatermark
            let error = await strataError { try await store.storeMetadata("group-1", big) }
            #expect(error?.code == .tooLarge && topic.highWatermark == end)
            #expect(await store.groups() == model)
            await store.close()
            try await lake.close()
            let again = try Lake.open(dir, options: options)
            #expect(await (try await GroupStore.open(again)).groups() == model)
            try await again.close()
        }
    }

    /// The replay reads both tiers: with its local segments offloaded and evicted, the log is
    /// read from the cold store, and a trim moves the log start there too.
    @Test func theReplayReadsRecordsThatOnlyTheColdTierHolds() async throws {
        try await withTempDirectory { dir in
            var model: [String: StoredGroup] = [:]
            let lake = try makeLake(dir, segmentBytes: 4096)
            let store = try await GroupStore.open(lake)
            for i in 0 ..< 120 {
                let offsets = [tp("orders", Int32(i % 4)): offset(Int64(i), "cold")]
                try await store.commitOffsets("g\(i % 4)", offsets)
                model["g\(i % 4)", default: StoredGroup()].offsets.merge(offsets) { $1 }
            }
            await store.close()
            _ = try await lake.offload(topic: Self.topicName, evict: true)
            let topic = try lake.topic(Self.topicName)
            #expect(topic.localStartOffset > 0, "the oldest records are in the cold tier only")
            try await lake.close()

            let again = try makeLake(dir, segmentBytes: 4096)
            #expect(await (try await GroupStore.open(again)).groups() == model)
            let reader = try Lake.openReadOnly(dir)
            #expect(try await GroupStore.read(reader) == model)
            try await reader.close()
            try await again.close()
        }
    }

    @Test func concurrentWritersAreSerialisedAndAllKept() async throws {
        try await withTempDirectory { dir in
            let lake = try makeLake(dir)
            let store = try await GroupStore.open(lake, options: smallCheckpoints())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0 ..< 8 {
                    group.addTask {
                        for i in 0 ..< 25 {
                            try await store.commitOffsets(
                                "w\(worker)", [self.tp("orders", Int32(i % 4)): self.offset(Int64(i))])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let groups = await store.groups()
            #expect(groups.count == 8)
            for worker in 0 ..< 8 {
                #expect(
                    groups["w\(worker)"]?.offsets == [
                        tp("orders", 0): offset(24), tp("orders", 1): offset(21), tp("orders", 2): offset(22),
                        tp("orders", 3): offset(23),
                    ])
            }
            await store.close()
            try await lake.close()
            let again = try makeLake(dir)
            #expect(await (try await GroupStore.open(again)).groups() == groups)
            try await again.close()
        }
    }
}
