import Dispatch
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

    /// Opens read the files outside the registry lock (`Lake.load`): callers racing to open one
    /// evicted log still get one handle, and every log opened meanwhile stays whole.
    @Test func racingOpensOfOneEvictedLogShareOneHandle() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: Self.options(budget: 1))
            let partitions: Int32 = 16
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: partitions)
            for p in 0 ..< partitions { try await lake.partition(Self.topic, p).append(offsetRecords(from: 0, count: 2)) }
            for round in 0 ..< 200 {
                // Partitions 8..<16 race to reopen, 0..<8 are opened around them.
                let p = Int32(8 + round % 8)
                #expect(!Self.isOpen(lake, "\(Self.topic)/\(p)"), "round \(round): not evicted")
                let handles = try await withThrowingTaskGroup(of: Topic.self) { group in
                    for _ in 0 ..< 8 { group.addTask { try lake.partition(Self.topic, p) } }
                    // Opens of other logs at the same time, evicting and reopening around it.
                    for other: Int32 in 0 ..< 8 { group.addTask { try lake.partition(Self.topic, other) } }
                    return try await group.reduce(into: [Topic]()) { $0.append($1) }
                }
                let mine = handles.filter { $0.name == "\(Self.topic)/\(p)" }
                #expect(mine.count == 8)
                #expect(mine.allSatisfy { $0 === mine[0] }, "round \(round): two live handles for one log")
                #expect(mine[0].highWatermark == 2)
            }
            try await lake.close()
        }
    }

    /// A delete waits for the opens under way: each either inserted its handle before the delete
    /// listed the open logs (and was retired) or found the topic deleting and was dropped, so
    /// nothing of the topic is left open or on disk.
    @Test func opensRacingADeleteLeaveNothingBehind() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: Self.options(budget: 1))
            let partitions: Int32 = 32
            for attempt in 0 ..< 3 {
                let name = "doomed\(attempt)"
                _ = try await lake.createTopic(name, config: topicConfig(), partitions: partitions)
                for p in 0 ..< partitions { try await lake.partition(name, p).append(offsetRecords(from: 0, count: 1)) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Openers keep reopening (the budget evicts at once) until the delete refuses them all.
                    for opener in 0 ..< 4 {
                        group.addTask {
                            var refused = false
                            while !refused {
                                refused = true
                                for p in stride(from: Int32(opener), to: partitions, by: 4) {
                                    do throws(StrataError) {
                                        _ = try lake.partition(name, p)
                                        refused = false
                                    } catch {
                                        #expect(error.code == .notFound, "partition \(p): \(error)")
                                    }
                                }
                                await Task.yield()
                            }
                        }
                    }
                    group.addTask { _ = try await lake.deleteTopic(name) }
                    try await group.waitForAll()
                }
                #expect(lake.registry.topics.withLock { open in open.values.filter { $0.topicName == name }.isEmpty })
                #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + name), "attempt \(attempt)")
            }
            try await lake.close()
        }
    }

    /// An open held after its first look (the topic existed) while the topic is deleted: the
    /// delete waits for it (`TopicRegistry.waitForOpens`), so the open's files (a partition's
    /// directory made again, its segment) are made before the delete removes the topic's, and
    /// the open then finds the topic deleting and drops its handle. Without the wait the delete
    /// finished first and the open left a directory of a deleted topic behind.
    @Test func aDeleteWaitsForAnOpenUnderWay() async throws {
        try await withTempDirectory { dir in
            do {
                let lake = try Lake.open(dir, options: Self.options())
                _ = try await lake.createTopic("doomed", config: topicConfig(), partitions: 8)
                try await lake.partition("doomed", 5).append(offsetRecords(from: 0, count: 2))
                try await lake.close()
            }
            let gate = Gate(log: "doomed/5")
            let lake = try Lake.open(dir, options: gate.options(Self.options()))
            gate.open(lake, "doomed", 5)
            await Self.blockingWait(gate.entered)
            let deleted = Atomic<Bool>(false)
            let delete = Task {
                _ = try await lake.deleteTopic("doomed")
                deleted.store(true, ordering: .sequentiallyConsistent)
            }
            // Long enough for a delete that does not wait to finish (milliseconds); one that
            // waits is released below either way.
            for _ in 0 ..< 100 where !deleted.load(ordering: .sequentiallyConsistent) {
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            let finishedFirst = deleted.load(ordering: .sequentiallyConsistent)
            #expect(!finishedFirst, "the delete finished while an open was under way")
            gate.release.signal()
            try await delete.value
            while gate.opened.withLock({ $0 == nil }) { try await Task.sleep(nanoseconds: 1_000_000) }
            guard case .failure(let error) = gate.opened.withLock({ $0! }) else {
                Issue.record("the open of a topic being deleted returned a handle")
                return
            }
            #expect(error.code == .notFound)
            #expect(!Self.isOpen(lake, "doomed/5"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/doomed"), "files of the deleted topic are left")
            try await lake.close()
        }
    }

    /// The same with a close: `Lake.close` waits for the open held after its first look, which
    /// then finds the lake closed and drops its handle; nothing it opened outlives the close.
    @Test func aCloseWaitsForAnOpenUnderWay() async throws {
        try await withTempDirectory { dir in
            do {
                let lake = try Lake.open(dir, options: Self.options())
                _ = try await lake.createTopic("kept", config: topicConfig(), partitions: 8)
                try await lake.partition("kept", 5).append(offsetRecords(from: 0, count: 2))
                try await lake.close()
            }
            let gate = Gate(log: "kept/5")
            let lake = try Lake.open(dir, options: gate.options(Self.options()))
            gate.open(lake, "kept", 5)
            await Self.blockingWait(gate.entered)
            let closed = Atomic<Bool>(false)
            let close = Task {
                try await lake.close()
                closed.store(true, ordering: .sequentiallyConsistent)
            }
            for _ in 0 ..< 100 where !closed.load(ordering: .sequentiallyConsistent) {
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            let finishedFirst = closed.load(ordering: .sequentiallyConsistent)
            #expect(!finishedFirst, "the close finished while an open was under way")
            gate.release.signal()
            try await close.value
            while gate.opened.withLock({ $0 == nil }) { try await Task.sleep(nanoseconds: 1_000_000) }
            guard case .failure(let error) = gate.opened.withLock({ $0! }) else {
                Issue.record("an open racing the close returned a handle")
                return
            }
            #expect(error.code == .closed, "\(error)")
            #expect(Self.openCount(lake) == 0)
            #expect(lake.files.openCount == 0, "a descriptor outlived the close")
            let reopened = try Lake.open(dir, options: Self.options())
            #expect(Self.values(try readAll(try reopened.partition("kept", 5))) == ["v0", "v1"])
            try await reopened.close()
        }
    }

    /// Holds the first open of log `log` in `LakeOptions.beforeLogFilesRead` until `release`.
    final class Gate: Sendable {
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let armed = Atomic<Bool>(true)
        let log: String

        init(log: String) { self.log = log }

        func options(_ base: LakeOptions) -> LakeOptions {
            var options = base
            options.beforeLogFilesRead = { [self] name in
                guard name == log, armed.exchange(false, ordering: .sequentiallyConsistent) else { return }
                entered.signal()
                release.wait()
            }
            return options
        }

        /// What `open` got, once it returned.
        let opened = Mutex<Result<Topic, StrataError>?>(nil)

        /// Opens `topic`'s `partition` on a thread of its own (the gate blocks it); the result
        /// appears in `opened`.
        func open(_ lake: Lake, _ topic: String, _ partition: Int32) {
            Thread { [self] in
                do throws(StrataError) {
                    let handle = try lake.partition(topic, partition)
                    opened.withLock { $0 = .success(handle) }
                } catch {
                    opened.withLock { $0 = .failure(error) }
                }
            }.start()
        }
    }

    /// Waits for `semaphore` on a Dispatch thread, never a cooperative one.
    static func blockingWait(_ semaphore: DispatchSemaphore) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                semaphore.wait()
                continuation.resume()
            }
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
