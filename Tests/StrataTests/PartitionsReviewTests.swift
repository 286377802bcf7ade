import Foundation
import Glibc
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Review of the `partitions` branch (lazy, evicted partition logs; ARCHITECTURE.md §2j).
@Suite struct PartitionsReviewTests {
    static let topic = "rv"

    /// What `Topic.pendingDirectories` held at each group-commit fsync of each log: the
    /// directory entries that fsync makes durable together with the records it acknowledges.
    final class FsyncSeen: Sendable {
        let pending = Mutex<[String: [[String]]]>([:])
        func last(_ log: String) -> [String]? { pending.withLock { $0[log]?.last } }
    }

    /// Journal off (a `sync` append is acknowledged by the group-commit fdatasync of its segment,
    /// whose hook shows what that fsync makes durable), no background offload.
    static func options(
        budget: Int = 256 << 20, clock: ManualClock = ManualClock(), seen: FsyncSeen
    ) -> LakeOptions {
        var options = lakeOptions(clock: clock, maxOpenFiles: 64)
        options.partitionMemoryBytes = budget
        options.journal = false
        options.backgroundOffload = false
        options.beforeGroupFsync = { topic in
            let pending = topic.pendingDirectories.withLock { $0 }
            seen.pending.withLock { $0[topic.name, default: []].append(pending) }
        }
        return options
    }

    static func isOpen(_ lake: Lake, _ log: String) -> Bool { lake.registry.topics.withLock { $0.peek(log) != nil } }
    static func openCount(_ lake: Lake) -> Int { lake.registry.topics.withLock { $0.count } }

    // MARK: - Directory entries a handle drops unsynced

    /// `Registry.load` makes a partition's directory (and `Topic.open` its first segment) with no
    /// fsync, leaving both entries in the handle's `pendingDirectories`. A lookup that writes
    /// nothing (a Kafka Metadata/ListOffsets/Fetch of an unused partition, a read) and an eviction
    /// drop that list unsynced: the next handle finds the directory and segment on disk, so its
    /// list is empty, and its first acknowledged record is fdatasynced into a file whose
    /// directory entry, and whose partition directory's entry, were never made durable. A power
    /// loss then loses the partition with its acknowledged records (with the journal on, the same
    /// happens once the checkpoint fsyncs that segment and deletes the journal file).
    @Test func anEvictedNeverWrittenPartitionsDirectoryEntriesAreNeverSynced() async throws {
        try await withTempDirectory { dir in
            let seen = FsyncSeen()
            let lake = try Lake.open(dir, options: Self.options(budget: 1, seen: seen))
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: 4)
            _ = try lake.partition(Self.topic, 2)  // looked up, nothing written
            for p: Int32 in [0, 1, 3] { _ = try lake.partition(Self.topic, p) }
            #expect(!Self.isOpen(lake, "\(Self.topic)/2"), "the scenario needs partition 2 evicted")
            try await lake.partition(Self.topic, 2).append(offsetRecords(from: 0, count: 1))  // acknowledged
            let paths = LakePaths(root: dir)
            let pending = try #require(seen.last("\(Self.topic)/2"), "no fsync acknowledged the append")
            #expect(
                pending.contains(paths.topicDirectory("\(Self.topic)/2")),
                "the first segment's directory entry was never fsynced: \(pending)")
            #expect(
                pending.contains(paths.topicDirectory(Self.topic)),
                "the partition directory's entry was never fsynced: \(pending)")
            try await lake.close()
        }
    }

    /// The tick reopens an evicted log whose segment aged out, rolls it (the new segment's entry
    /// is left pending) and evicts it again in the same tick, dropping that entry unsynced. The
    /// next append goes into the new segment with nothing pending: acknowledged, its file's
    /// directory entry never fsynced.
    @Test func anAgeRollOfAnEvictedLogLeavesTheNewSegmentsEntryUnsynced() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let seen = FsyncSeen()
            let lake = try Lake.open(dir, options: Self.options(budget: 1, clock: clock, seen: seen))
            var config = topicConfig()
            config.segmentMs = 60_000
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 4)
            try await lake.partition(Self.topic, 2).append(offsetRecords(from: 0, count: 2))
            for p: Int32 in [0, 1, 3] { _ = try lake.partition(Self.topic, p) }
            await lake.backgroundTick()
            #expect(!Self.isOpen(lake, "\(Self.topic)/2"))
            clock.advance(ms: 61_000)
            await lake.backgroundTick()  // reopened, rolled by age, evicted again
            let directory = LakePaths(root: dir).topicDirectory("\(Self.topic)/2")
            let segments = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }
            #expect(segments.count == 2, "the age roll did not happen: \(segments)")
            #expect(!Self.isOpen(lake, "\(Self.topic)/2"), "the scenario needs the rolled log evicted")
            try await lake.partition(Self.topic, 2).append(offsetRecords(from: 2, count: 1))  // into the new segment
            let pending = try #require(seen.last("\(Self.topic)/2"))
            #expect(pending.contains(directory), "the rolled segment's directory entry was never fsynced: \(pending)")
            try await lake.close()
        }
    }

    /// A clean close flushes every log, but a log with nothing to flush (opened, never written)
    /// keeps its pending entries unsynced; the next session's first record into that segment
    /// syncs nothing either. Either close syncs them or the next open must treat them as pending.
    @Test func aCleanCloseDropsTheEntriesOfAnOpenedNeverWrittenPartition() async throws {
        try await withTempDirectory { dir in
            let seen = FsyncSeen()
            let lake = try Lake.open(dir, options: Self.options(seen: seen))
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: 4)
            let held = try lake.partition(Self.topic, 1)
            try await lake.close()
            let syncedAtClose = held.pendingDirectories.withLock { $0.isEmpty }
            let reopened = try Lake.open(dir, options: Self.options(seen: seen))
            try await reopened.partition(Self.topic, 1).append(offsetRecords(from: 0, count: 1))
            let pending = try #require(seen.last("\(Self.topic)/1"))
            let paths = LakePaths(root: dir)
            let syncedAtFirstRecord =
                pending.contains(paths.topicDirectory("\(Self.topic)/1")) && pending.contains(paths.topicDirectory(Self.topic))
            #expect(
                syncedAtClose || syncedAtFirstRecord,
                "never synced: left at close \(held.pendingDirectories.withLock { $0 }), at the first record \(pending)")
            try await reopened.close()
        }
    }

    // MARK: - The budget

    /// The registry's total (`OpenLogs.residentBytes`) is each handle's estimate when it was
    /// added; it is refreshed only for a candidate `evict` examines, and `evict` examines nothing
    /// while the stale total is within the budget. Logs that grow after they open (index entries,
    /// producers) are never counted: here 8 logs outgrow a 32 KiB budget several times over and
    /// the tick closes none.
    @Test func logsThatGrowAfterOpeningAreNeverEvicted() async throws {
        try await withTempDirectory { dir in
            let budget = 32 << 10
            let lake = try Lake.open(dir, options: Self.options(budget: budget, seen: FsyncSeen()))
            var config = topicConfig(durability: .async)
            config.indexIntervalBytes = 64
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 8)
            for p: Int32 in 0 ..< 8 {
                let log = try lake.partition(Self.topic, p)
                for i in 0 ..< 400 { try await log.append(offsetRecords(from: Int64(i), count: 1)) }
                try await log.flush()
            }
            await lake.backgroundTick()  // flushes nothing more; evicts beyond the budget
            let resident = lake.registry.topics.withLock { $0.values.reduce(0) { $0 + $1.residentBytes } }
            let counted = lake.registry.topics.withLock { $0.residentBytes }
            #expect(
                resident <= budget,
                "idle open logs hold \(resident) bytes (the registry counts \(counted)), budget \(budget)")
            try await lake.close()
        }
    }

    /// The tick's refresh of the estimates is bounded: with more open logs than its limit, one
    /// call estimates `limit` of them afresh (so the total is still short of what they hold),
    /// the next resumes where it stopped, and after open/limit calls (rounded up) every log's
    /// growth is counted, also after uses reordered them in between.
    @Test func theRefreshOfEstimatesGoesRoundTheOpenLogsABoundedNumberACall() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: Self.options(seen: FsyncSeen()))
            var config = topicConfig(durability: .async)
            config.indexIntervalBytes = 64
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 10)
            var logs: [Topic] = []
            for p: Int32 in 0 ..< 10 { logs.append(try lake.partition(Self.topic, p)) }
            func counted() -> Int { lake.registry.topics.withLock { $0.residentBytes } }
            func held() -> Int { lake.registry.topics.withLock { $0.values.reduce(0) { $0 + $1.residentBytes } } }
            let before = counted()
            #expect(before == held(), "every log was estimated when it opened")
            for log in logs {
                for i in 0 ..< 200 { try await log.append(offsetRecords(from: Int64(i), count: 1)) }
            }
            #expect(held() > before, "the logs grew: \(held()) vs \(before)")
            lake.registry.topics.withLock { $0.refreshResidentBytes(limit: 4) }
            let partial = counted()
            #expect(partial > before && partial < held(), "one call estimates 4 of 10: \(before) < \(partial) < \(held())")
            _ = try lake.partition(Self.topic, 0)  // a use between calls moves a log to the back
            lake.registry.topics.withLock { $0.refreshResidentBytes(limit: 4) }
            lake.registry.topics.withLock { $0.refreshResidentBytes(limit: 4) }
            #expect(counted() == held(), "three calls of 4 estimate all 10 afresh")
            logs.removeAll()
            try await lake.close()
        }
    }

    /// With the lake journal on (the default) a `sync` log's records are durable in the journal
    /// and its segment is fdatasync'ed only by a checkpoint, when a journal file rolls at
    /// `journalBytes` (64 MiB: ~600k entries of ~100 bytes). The journal holds its files' logs
    /// weakly and the tick makes the least recently used ones' segments durable when the open
    /// logs exceed the budget, so idle sync logs are evicted like any other, checkpoint or not;
    /// and they read back, after a reopen too.
    @Test
    func theJournalPinsEverySyncLogItCovers() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions(maxOpenFiles: 64)
            options.partitionMemoryBytes = 4 * Topic.handleBytes
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            let partitions: Int32 = 300
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: partitions)
            for p in 0 ..< partitions {
                try await lake.partition(Self.topic, p).append([ProducerRecord(value: bytes("p\(p)"))])
            }
            #expect(lake.journal?.rolledFileCount == 0, "one journal file: no checkpoint ran")
            await lake.backgroundTick()
            let open = Self.openCount(lake)
            #expect(open <= 4 + TopicRegistry.evictionsPerOpenMax, "\(open) idle sync logs stay open past the budget")
            #expect(lake.journal?.liveFileCount == 1, "the journal file is kept: no checkpoint deleted it")
            for p in stride(from: 0, to: partitions, by: 37) {
                #expect(try await lake.partition(Self.topic, p).read(from: 0).records.map(\.value) == [bytes("p\(p)")])
            }
            try await lake.close()
            let reopened = try Lake.open(dir, options: options)
            for p in 0 ..< partitions {
                #expect(try await reopened.partition(Self.topic, p).read(from: 0).records.map(\.value) == [bytes("p\(p)")])
            }
            try await reopened.close()
        }
    }

    /// The per-log side of the eviction pre-sync: with fewer idle journal-covered logs over the
    /// budget than `FilesystemSync.logsMin`, the tick fdatasyncs each one's segment itself (no
    /// syncfs) before it evicts the log, and every record reads back, after a reopen too.
    @Test func fewIdleSyncLogsOverTheBudgetFsyncTheirOwnSegmentsBeforeEviction() async throws {
        try await withTempDirectory { dir in
            var (registry, options) = EngineMetricsTests.metered(lakeOptions(maxOpenFiles: 64))
            options.partitionMemoryBytes = 4 * Topic.handleBytes
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            let partitions: Int32 = 40
            #expect(Int(partitions) <= FilesystemSync.logsMin)
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: partitions)
            for p in 0 ..< partitions {
                try await lake.partition(Self.topic, p).append([ProducerRecord(value: bytes("p\(p)"))])
            }
            let segmentFsyncs = #"strata_fsyncs_total{kind="segment"}"#
            let before = EngineMetricsTests.value(registry, segmentFsyncs) ?? 0
            await lake.backgroundTick()
            let open = Self.openCount(lake)
            #expect(open <= 4 + TopicRegistry.evictionsPerOpenMax, "\(open) idle sync logs stay open past the budget")
            #expect(lake.registry.filesystemSyncs.load(ordering: .relaxed) == 0, "too few logs for a syncfs")
            let synced = (EngineMetricsTests.value(registry, segmentFsyncs) ?? 0) - before
            #expect(synced >= Double(Int(partitions) - open), "\(synced) segment fsyncs for \(Int(partitions) - open) evicted logs")
            #expect(lake.journal?.liveFileCount == 1, "no checkpoint ran: the syncs were the eviction's")
            try await lake.close()
            let reopened = try Lake.open(dir, options: options)
            for p in 0 ..< partitions {
                #expect(try await reopened.partition(Self.topic, p).read(from: 0).records.map(\.value) == [bytes("p\(p)")])
            }
            try await reopened.close()
        }
    }

    /// `nextBackgroundWorkMs` calls total retention (`retentionMs`/`retentionBytes`) due *now*
    /// for every log with cold data: such a log is visited by every tick (an `applyRetention`
    /// each) and is never evictable, so with Kafka's usual `retention.ms` set every offloaded
    /// partition stays open forever and the tick does O(offloaded partitions) work.
    @Test func totalRetentionKeepsEveryOffloadedLogOpenAndDue() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            var options = ColdFixture.options(store: store, clock: ManualClock(), background: true)
            options.partitionMemoryBytes = 4 * Topic.handleBytes
            options.tables = false
            let lake = try Lake.open(dir, options: options)
            var config = TableFixture.config()
            config.retentionMs = 7 * 86_400_000
            let partitions: Int32 = 24
            _ = try await lake.createTopic(Self.topic, config: config, partitions: partitions)
            for p in 0 ..< partitions {
                try await lake.partition(Self.topic, p).append(offsetRecords(from: 0, count: 5))
            }
            _ = try await lake.offload(topic: Self.topic, seal: true)
            for _ in 0 ..< 3 { await lake.backgroundTick() }
            let open = Self.openCount(lake)
            let due = lake.registry.work.takeDue(nowMs: lake.options.clock.nowMs()).count
            #expect(open <= 4 + TopicRegistry.evictionsPerOpenMax, "\(open) idle offloaded logs stay open")
            #expect(due < Int(partitions), "\(due) idle logs are due on every tick")
            try await lake.close()
        }
    }

    // MARK: - Table passes

    /// `startPassForChangedTopics` returns the running pass when one still runs and records
    /// nothing ("its topics are looked at again on the next tick"), but the next tick visits only
    /// logs with background work due: a log whose offload committed and that has nothing more
    /// due before its age roll (`segmentMs`, 1 h by default) is not visited again, so its table
    /// misses the committed records until then (forever for a log that never rolls again).
    @Test func aTopicChangedWhileAPassRunsGetsNoTablePass() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            var options = TableFixture.options(store: store, clock: ManualClock())
            options.backgroundOffload = true
            let lake = try Lake.open(dir, options: options)
            let topic = try await lake.createTopic(TableFixture.topicName, config: TableFixture.config())
            try await TableFixture.produce(topic, 0 ..< 1000, partition: 0)
            #expect(topic.segments().filter(\.sealed).count >= 2, "nothing sealed to offload")
            try await topic.flush()  // nothing unflushed: the log's next work is its age roll
            // A pass another tick started still runs (as `startBackgroundPass` leaves it).
            let running = Task<Void, Never> {}
            lake.tables.backgroundPass.withLock { $0 = (running, false) }
            await lake.backgroundTick()  // offloads and commits the sealed segments
            let committed = try #require(topic.manifestWriter.committedOffset)
            #expect(committed > 0)
            lake.tables.backgroundPass.withLock { $0?.finished = true }  // that pass ended
            for _ in 0 ..< 3 { await lake.backgroundTick() }
            let rows = try await TableFixture.read(store)?.rows[0]?.count ?? 0
            #expect(rows == Int(committed), "the table holds \(rows) of the \(committed) committed records")
            try await lake.close()
        }
    }
}
