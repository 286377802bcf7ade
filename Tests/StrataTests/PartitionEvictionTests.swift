import Foundation
import Glibc
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Idle partition logs are closed beyond `LakeOptions.partitionMemoryBytes` and opened again on
/// the next lookup (ARCHITECTURE.md §2j): never two live handles for one log, nothing lost.
@Suite struct PartitionEvictionTests {
    static let topic = "many"

    /// Options with a budget of a few handles, the journal off (a `sync` append is durable in its
    /// segment when acknowledged, so the log is idle at once) and no background offload.
    static func options(budget: Int = 4 * Topic.handleBytes, journal: Bool = false, clock: ManualClock = ManualClock())
        -> LakeOptions
    {
        var options = lakeOptions(clock: clock, maxOpenFiles: 64)
        options.partitionMemoryBytes = budget
        options.journal = journal
        options.backgroundOffload = false
        return options
    }

    static func openCount(_ lake: Lake) -> Int { lake.registry.topics.withLock { $0.count } }
    static func evictions(_ lake: Lake) -> Int { lake.registry.topics.withLock { $0.evictions } }
    static func isOpen(_ lake: Lake, _ log: String) -> Bool { lake.registry.topics.withLock { $0.peek(log) != nil } }

    final class Counts: Sendable {
        let counts = Mutex([Int32: Int]())
    }

    static func values(_ records: [Record]) -> [String] { records.compactMap { string($0.value) } }

    @Test func thousandsOfPartitionsAppendedAndReadStayCorrectWithinATinyBudget() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: Self.options())
            let partitions: Int32 = 2000
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: partitions)
            var openMax = 0
            for p in 0 ..< partitions {
                let log = try lake.partition(Self.topic, p)
                try await log.append([ProducerRecord(value: bytes("p\(p)-a")), ProducerRecord(value: bytes("p\(p)-b"))])
                openMax = max(openMax, Self.openCount(lake))
            }
            // The budget holds 4 handles; each open evicts up to 8 idle ones, and the log just
            // used is still referenced by the loop when the next one opens.
            #expect(openMax <= 4 + TopicRegistry.evictionsPerOpenMax, "open handles peaked at \(openMax)")
            #expect(Self.evictions(lake) >= Int(partitions) - 16)
            #expect(lake.files.openCount <= 64)
            for p in 0 ..< partitions {
                let records = try readAll(try lake.partition(Self.topic, p))
                #expect(Self.values(records) == ["p\(p)-a", "p\(p)-b"], "partition \(p)")
            }
            #expect(Self.openCount(lake) <= 4 + TopicRegistry.evictionsPerOpenMax)
            try await lake.close()
        }
    }

    @Test func aHeldHandleIsNeverDuplicated() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: Self.options(budget: 1))
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: 64)
            let held = try lake.partition(Self.topic, 1)
            try await held.append(offsetRecords(from: 0, count: 3))
            for p: Int32 in 2 ..< 64 { try await lake.partition(Self.topic, p).append(offsetRecords(from: 0, count: 1)) }
            #expect(Self.evictions(lake) > 0)
            #expect(Self.isOpen(lake, "\(Self.topic)/1"), "a held handle was evicted")
            let again = try lake.partition(Self.topic, 1)
            #expect(again === held, "a second live handle for one log")
            try await again.append(offsetRecords(from: 3, count: 2))
            try await held.append(offsetRecords(from: 5, count: 2))
            let records = try readAll(try lake.partition(Self.topic, 1))
            #expect(records.map(\.offset) == Array(0 ..< 7))
            #expect(Self.values(records) == (0 ..< 7).map { "v\($0)" })
            try await lake.close()
        }
    }

    @Test func anEvictedLogOpensAgainWhereItEnded() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: Self.options(budget: 1))
            _ = try await lake.createTopic(Self.topic, config: topicConfig(durability: .async), partitions: 8)
            try await lake.partition(Self.topic, 3).append(offsetRecords(from: 0, count: 4))
            // Unflushed and idle: evicted past the budget, its flush owed (FlushDebtTests).
            for p: Int32 in 4 ..< 8 { _ = try lake.partition(Self.topic, p) }
            #expect(!Self.isOpen(lake, "\(Self.topic)/3"), "an idle log stays open past the budget")
            #expect(lake.registry.debts.owes("\(Self.topic)/3"))
            let reopened = try lake.partition(Self.topic, 3)
            #expect(!lake.registry.debts.owes("\(Self.topic)/3"))
            try await reopened.append(offsetRecords(from: 4, count: 2))
            try await reopened.flush()
            #expect(reopened.groupCommit.segmentDurableOffset == 6)
            #expect(Self.values(try readAll(reopened)) == (0 ..< 6).map { "v\($0)" })

            try await lake.close()
        }
    }

    @Test func evictionUnderConcurrentAppendsAndReads() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: Self.options(budget: 2 * Topic.handleBytes))
            let partitions: Int32 = 32, writers = 8, appendsPerWriter = 60
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: partitions)
            let appended = Counts()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0 ..< writers {
                    group.addTask {
                        var random = SystemRandomNumberGenerator()
                        for i in 0 ..< appendsPerWriter {
                            let p = Int32.random(in: 0 ..< partitions, using: &random)
                            let log = try lake.partition(Self.topic, p)
                            try await log.append([ProducerRecord(value: bytes("w\(w)-\(i)"))])
                            appended.counts.withLock { $0[p, default: 0] += 1 }
                        }
                    }
                    group.addTask {
                        for i in 0 ..< appendsPerWriter {
                            let log = try lake.partition(Self.topic, Int32((w * 7 + i) % Int(partitions)))
                            _ = try readAll(log)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(Self.evictions(lake) > 0)
            let counts = appended.counts.withLock { $0 }
            for p in 0 ..< partitions {
                let records = try readAll(try lake.partition(Self.topic, p))
                #expect(records.count == counts[p, default: 0], "partition \(p)")
                #expect(records.allSatisfy { $0.value?.first == UInt8(ascii: "w") })
            }
            try await lake.close()
        }
    }

    @Test(arguments: [false, true])
    func aCrashAfterEvictionLosesNothing(journal: Bool) async throws {
        try await withTempDirectory { dir in
            var options = Self.options(budget: 1, journal: journal)
            options.journalBytes = LakeOptions.journalBytesMin
            var lake: Lake? = try Lake.open(dir, options: options)
            let partitions: Int32 = 300
            _ = try await lake!.createTopic(Self.topic, config: topicConfig(), partitions: partitions)
            for round in 0 ..< 2 {
                for p in 0 ..< partitions {
                    try await lake!.partition(Self.topic, p).append([ProducerRecord(value: bytes("p\(p)-\(round)"))])
                }
            }
            if !journal { #expect(Self.evictions(lake!) > 0) }
            lake = nil  // a crash: nothing flushed or closed
            let reopened = try Lake.open(dir, options: options)
            for p in 0 ..< partitions {
                let records = try readAll(try reopened.partition(Self.topic, p))
                #expect(Self.values(records) == ["p\(p)-0", "p\(p)-1"], "partition \(p)")
            }
            try await reopened.close()
        }
    }

    @Test func aBudgetBelowOneByteIsRefused() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.partitionMemoryBytes = 0
            let error = strataError { _ = try Lake.open(dir, options: options) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("partitionMemoryBytes") == true)
            #expect(!FileManager.default.fileExists(atPath: dir + "/lake.json"))
        }
    }

    @Test func residentBytesGrowWithTheIndex() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            var config = topicConfig()
            config.indexIntervalBytes = 64
            let log = try await lake.createTopic(Self.topic, config: config)
            let empty = log.residentBytes
            #expect(empty >= Topic.handleBytes)
            for i in 0 ..< 50 { try await log.append(offsetRecords(from: Int64(i), count: 1)) }
            #expect(log.residentBytes > empty)
            try await lake.close()
        }
    }

    @Test func backgroundWorkHandsOutWhatIsDueEarliestFirst() {
        let work = BackgroundWork()
        for (name, due) in [("c", 30), ("a", 10), ("d", 40), ("b", 20)] { work.mark(name, dueMs: Int64(due)) }
        work.mark("d", dueMs: 5)  // earlier: moves up
        work.mark("a", dueMs: 50)  // later: ignored, it is due earlier already
        work.replace("c", dueMs: nil)  // forgotten
        #expect(work.takeDue(nowMs: 25, limit: 2) == ["d", "a"])
        #expect(work.takeDue(nowMs: 25) == ["b"])
        #expect(work.takeDue(nowMs: 1000).isEmpty, "a forgotten or taken log came back")
        #expect(work.count == 0)
    }

    /// The tick visits only logs with work: an opened empty partition is looked at once, then
    /// forgotten; a write schedules its log again.
    @Test func theTickVisitsOnlyLogsWithWork() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            _ = try await lake.createTopic(Self.topic, config: topicConfig(durability: .async), partitions: 16)
            for p: Int32 in 0 ..< 16 { _ = try lake.partition(Self.topic, p) }
            #expect(lake.registry.work.count == 16)
            await lake.backgroundTick()
            #expect(lake.registry.work.count == 0, "empty logs stay scheduled")
            try await lake.partition(Self.topic, 5).append(offsetRecords(from: 0, count: 1))
            #expect(lake.registry.work.isScheduled("\(Self.topic)/5"))
            #expect(lake.registry.work.count == 1)
            try await lake.close()
        }
    }

    /// An `async` log with records not yet flushed is due when its flush interval ends, not at
    /// every tick until then (each such visit took one of the tick's `visitsPerTickMax`).
    @Test func anUnflushedAsyncLogIsDueWhenItsFlushIntervalEnds() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: Self.options(budget: 1 << 30, clock: clock))
            var config = topicConfig(durability: .async)
            config.flushIntervalMs = 1_000
            let topic = try lake.topic("slow", creatingWith: config)
            try await topic.append(offsetRecords(from: 0, count: 1))
            await lake.backgroundTick()
            #expect(lake.registry.work.isScheduled(topic.name), "\(topic.name) durable \(topic.groupCommit.durableOffset)")
            clock.advance(ms: 999)
            #expect(lake.registry.work.takeDue(nowMs: clock.nowMs()).isEmpty, "due before its interval ended")
            await lake.backgroundTick()
            #expect(topic.groupCommit.durableOffset == 0)
            clock.advance(ms: 1)
            await lake.backgroundTick()
            #expect(topic.groupCommit.durableOffset == 1)
            try await lake.close()
        }
    }

    /// An evicted log whose active segment ages out is opened again by the tick and rolled.
    @Test func anEvictedLogIsRolledWhenItsSegmentAgesOut() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: Self.options(budget: 1, clock: clock))
            var config = topicConfig()
            config.segmentMs = 60_000
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 4)
            try await lake.partition(Self.topic, 2).append(offsetRecords(from: 0, count: 2))
            for p: Int32 in [0, 1, 3] { _ = try lake.partition(Self.topic, p) }
            await lake.backgroundTick()
            #expect(!Self.isOpen(lake, "\(Self.topic)/2"))
            #expect(lake.registry.work.isScheduled("\(Self.topic)/2"), "the age roll is forgotten")
            clock.advance(ms: 61_000)
            await lake.backgroundTick()
            let segments = try lake.partition(Self.topic, 2).segments()
            #expect(segments.count == 2 && segments[0].sealed, "segments: \(segments)")
            try await lake.close()
        }
    }
}
