import Foundation
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Concurrent appenders and long-polling readers (issue 3 "must show").
@Suite struct ConcurrencyTests {
    /// Readers long-poll on the test's manual clock, so only appends wake them: a lost wake-up
    /// hangs the reader, and the time limit turns that into a failure.
    @Test(.timeLimit(.minutes(5)), arguments: [Durability.sync, .async])
    func readersSeeEveryRecordOnceInOrderWhileAppendsRun(durability: Durability) async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            // Small segments so rolls happen under the readers.
            let topic = try lake.topic(
                "live", creatingWith: topicConfig(segmentBytes: 8 * 1024, durability: durability))
            let appenders = 4, appendsEach = 150
            var random = SeededRandom(seed: 77)
            let sizes = (0 ..< appenders).map { _ in (0 ..< appendsEach).map { _ in 1 + Int(random.next() % 5) } }
            let total = sizes.joined().reduce(0, +)
            let expected = Set(
                (0 ..< appenders).flatMap { a in
                    sizes[a].enumerated().flatMap { i, n in (0 ..< n).map { "a\(a)-\(i)-\($0)" } }
                })

            try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0 ..< 3 {
                    group.addTask {
                        var cursor = try await Cursor(topic: topic, start: .earliest)
                        var seen: [String] = []
                        var idleSince = Date()
                        while seen.count < total {
                            let records = try await cursor.next(maxBytes: 2048, waitMs: 200)
                            for record in records {
                                // In order, no gaps, no repeats.
                                #expect(record.offset == Int64(seen.count))
                                seen.append(string(record.value) ?? "nil")
                            }
                            if !records.isEmpty { idleSince = Date() }
                            if Date().timeIntervalSince(idleSince) > 20 {
                                Issue.record("reader stalled at \(seen.count) of \(total)")
                                break
                            }
                        }
                        return seen
                    }
                }
                for a in 0 ..< appenders {
                    group.addTask {
                        for (i, n) in sizes[a].enumerated() {
                            try await topic.append((0 ..< n).map { ProducerRecord(value: bytes("a\(a)-\(i)-\($0)")) })
                        }
                        return []
                    }
                }
                for try await seen in group where !seen.isEmpty {
                    #expect(seen.count == total)
                    #expect(Set(seen) == expected)
                    // Each appender's records appear in its own order.
                    for a in 0 ..< appenders {
                        let mine = seen.filter { $0.hasPrefix("a\(a)-") }
                        #expect(mine == sizes[a].enumerated().flatMap { i, n in (0 ..< n).map { "a\(a)-\(i)-\($0)" } })
                    }
                }
            }
            #expect(topic.highWatermark == Int64(total))
            #expect(topic.segments().count > 1)
            try await lake.close()
        }
    }

    /// Driven by a manual clock: the poll times out exactly when the clock passes its timeout,
    /// and an append wakes it (and stops its timer) whatever the timeout.
    @Test(.timeLimit(.minutes(5))) func longPollTimesOutEmptyAndWakesOnAppend() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: lakeOptions(clock: clock))
            let topic = try lake.topic("poll", creatingWith: nil)
            // The lake's background loop sleeps on the clock too: once it does, counts are exact.
            await clock.waitForSleepers(1)
            let cursor = try await Cursor(topic: topic, start: .latest)

            async let timedOut: [Record] = {
                var c = cursor; return try await c.next(waitMs: 50)
            }()
            await clock.waitForSleepers(2)
            #expect(clock.sleeperDeadlinesMs.contains(clock.nowMs() + 50))
            clock.advance(ms: 49)
            #expect(clock.sleeperCount == 2, "the poll must not time out before its 50 ms")
            clock.advance(ms: 1)
            #expect(try await timedOut.isEmpty)

            async let woken: [Record] = {
                var c = cursor; return try await c.next(waitMs: 30_000)
            }()
            await clock.waitForSleepers(2)
            try await topic.append(offsetRecords(from: 0, count: 2))
            // The append released the poll and cancelled its timer before it returned.
            #expect(clock.sleeperCount == 1)
            let records = try await woken
            #expect(records.map { string($0.value) } == ["v0", "v1"])
            try await lake.close()
        }
    }
}
