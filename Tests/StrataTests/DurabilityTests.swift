import Foundation
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// ARCHITECTURE.md invariant 2: `sync` acknowledges after fdatasync with group commit; `async`
/// acknowledges after the write and flushes on demand, on an interval and on close.
@Suite struct DurabilityTests {
    @Test func syncConcurrentAppendersGetDenseUniqueOffsetsAndShareFsyncs() async throws {
        try await withTempDirectory { dir in
            let tasks = 64, appendsPerTask = 50
            // Hold the first fsync until every task has written once: then one fsync must
            // acknowledge all 64 appends, whatever the scheduler does (no timing involved).
            let firstFsyncHeld = Mutex(false)
            var options = lakeOptions()
            options.beforeGroupFsync = { topic in
                guard
                    !firstFsyncHeld.withLock({ held in
                        defer { held = true }; return held
                    })
                else { return }
                for _ in 0 ..< 20_000 where topic.writtenOffset < Int64(tasks) { usleep(500) }
            }
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("sync", creatingWith: topicConfig(durability: .sync))
            let acknowledged = try await withThrowingTaskGroup(of: [(Int64, String)].self) { group in
                for t in 0 ..< tasks {
                    group.addTask {
                        var mine: [(Int64, String)] = []
                        for i in 0 ..< appendsPerTask {
                            let value = "t\(t)-\(i)"
                            let result = try await topic.append([ProducerRecord(value: bytes(value))])
                            #expect(result.firstOffset == result.lastOffset)
                            // Acknowledged means durable: the high watermark already covers it.
                            #expect(topic.durableOffset > result.lastOffset)
                            mine.append((result.firstOffset, value))
                        }
                        return mine
                    }
                }
                var all: [(Int64, String)] = []
                for try await part in group {
                    // Each task's appends got increasing offsets.
                    #expect(part.map(\.0) == part.map(\.0).sorted())
                    all += part
                }
                return all
            }
            let total = tasks * appendsPerTask
            #expect(acknowledged.map(\.0).sorted() == (0 ..< Int64(total)).map { $0 })
            #expect(topic.highWatermark == Int64(total))
            #expect(topic.fsyncCount >= 1)
            #expect(
                topic.fsyncCount <= total - tasks + 1, "group commit: \(topic.fsyncCount) fsyncs for \(total) appends")
            let byOffset = Dictionary(uniqueKeysWithValues: acknowledged)
            for record in try readAll(topic) { #expect(string(record.value) == byOffset[record.offset]) }
            try await lake.close()
        }
    }

    @Test func asyncRecordsAreVisibleAtOnceAndFlushMakesThemDurable() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: lakeOptions(clock: clock))
            let topic = try lake.topic("async", creatingWith: topicConfig(durability: .async))
            try await topic.append(offsetRecords(from: 0, count: 3))
            // Visible before any fsync.
            #expect(topic.highWatermark == 3)
            #expect(try topic.readLocal(from: 0).records.map { string($0.value) } == ["v0", "v1", "v2"])
            #expect(topic.durableOffset == 0)
            let fsyncsBefore = topic.fsyncCount

            try await topic.flush()
            #expect(topic.durableOffset == 3)
            #expect(topic.fsyncCount == fsyncsBefore + 1)
            // Nothing new: a flush needs no fsync.
            try await topic.flush()
            #expect(topic.fsyncCount == fsyncsBefore + 1)

            try await topic.append(offsetRecords(from: 3, count: 2))
            #expect(topic.durableOffset == 3)
            try await lake.close()
            // close() flushed.
            #expect(topic.durableOffset == 5)
            #expect(topic.fsyncCount == fsyncsBefore + 2)
            let closedAppend = await strataError { try await topic.append(offsetRecords(from: 5, count: 1)) }
            #expect(closedAppend?.code == .closed)

            let reopened = try Lake.open(dir, options: lakeOptions(clock: clock))
            #expect(try readAll(reopened.topic("async")).map { string($0.value) } == (0 ..< 5).map { "v\($0)" })
            try await reopened.close()
        }
    }

    /// The lake's own background loop flushes on the interval; it sleeps on the test's manual
    /// clock, so each step below lets it run exactly once.
    @Test(.timeLimit(.minutes(5))) func asyncTopicFlushesOnItsInterval() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            var options = lakeOptions(clock: clock)
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            var config = topicConfig(durability: .async)
            config.flushIntervalMs = 1000
            let topic = try lake.topic("interval", creatingWith: config)
            try await topic.append(offsetRecords(from: 0, count: 4))
            func durable() -> Int64 { topic.durableOffset }
            /// One period of the loop: wake it, and wait until it is asleep again (tick done).
            func tick() async {
                clock.advance(ms: options.backgroundIntervalMs)
                await clock.waitForSleepers(1)
            }
            await clock.waitForSleepers(1)
            // The first tick that sees unflushed data starts the interval.
            await tick()
            #expect(durable() == 0)
            for _ in 0 ..< 4 { await tick() }
            #expect(durable() == 0, "800 ms into a 1000 ms interval")
            clock.advance(ms: 199)
            #expect(clock.sleeperCount == 1, "the loop sleeps until its next period")
            #expect(durable() == 0)
            clock.advance(ms: 1)
            await clock.waitForSleepers(1)
            #expect(durable() == 4)
            try await lake.close()
        }
    }
}
