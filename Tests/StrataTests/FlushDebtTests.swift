import Foundation
import Glibc
import Prometheus
import StrataTesting
import Testing

@testable import Strata

/// An `async` log with records not yet flushed is evicted like an idle one; its flush stays
/// behind as a debt (Lake/FlushDebts.swift, ARCHITECTURE.md §2j) that the tick pays when the
/// flush interval ends, a reopened handle takes back, `close` pays, and a delete drops.
@Suite struct FlushDebtTests {
    static let interval: Int64 = 1_000

    static func config() -> TopicConfig {
        var config = topicConfig(durability: .async)
        config.flushIntervalMs = interval
        return config
    }

    /// A budget below one handle: every idle log is evicted by the next open or tick.
    static func options(clock: ManualClock, log: LogSink = LogSink()) -> LakeOptions {
        var options = PartitionEvictionTests.options(budget: 1, clock: clock)
        options.log = log.log
        return options
    }

    static func segmentFsyncs(_ registry: PrometheusCollectorRegistry) -> Double {
        EngineMetricsTests.value(registry, #"strata_fsyncs_total{kind="segment"}"#) ?? 0
    }

    /// Appends `count` records to a new `async` topic `name`, then evicts it with the tick.
    static func writeAndEvict(_ lake: Lake, _ name: String, count: Int = 3) async throws {
        do {
            let topic = try lake.topic(name, creatingWith: config())
            try await topic.append(offsetRecords(from: 0, count: count))
            #expect(topic.groupCommit.segmentDurableOffset == 0)
        }
        await lake.backgroundTick()
        #expect(!PartitionEvictionTests.isOpen(lake, name), "\(name) is still open")
        #expect(lake.registry.debts.owes(name), "\(name) left no debt")
    }

    @Test func anEvictedUnflushedLogsFlushIsPaidWhenItsIntervalEnds() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let (registry, options) = EngineMetricsTests.metered(Self.options(clock: clock))
            let lake = try Lake.open(dir, options: options)
            try await Self.writeAndEvict(lake, "owed")
            #expect(Self.segmentFsyncs(registry) == 0)
            clock.advance(ms: Self.interval - 1)
            await lake.backgroundTick()
            #expect(lake.registry.debts.owes("owed"), "paid before the interval ended")
            #expect(Self.segmentFsyncs(registry) == 0)
            clock.advance(ms: 1)
            await lake.backgroundTick()
            #expect(!lake.registry.debts.owes("owed"))
            #expect(Self.segmentFsyncs(registry) == 1, "the debt's fdatasync")
            // Paid without a handle: nothing was opened to pay it.
            #expect(!PartitionEvictionTests.isOpen(lake, "owed"))
            let reopened = try lake.topic("owed")
            #expect(try readAll(reopened).map(\.value) == offsetRecords(from: 0, count: 3).map(\.value))
            try await lake.close()
        }
    }

    /// A handle opened before the debt is paid takes it on: its own flush makes the earlier
    /// handle's records durable, when they were due.
    @Test func aReopenedHandleTakesTheDebtOn() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let lake = try Lake.open(dir, options: Self.options(clock: clock))
            let start = clock.nowMs()
            try await Self.writeAndEvict(lake, "taken")
            clock.advance(ms: 10)
            let topic = try lake.topic("taken")
            #expect(!lake.registry.debts.owes("taken"), "the debt stayed behind the new handle")
            #expect(topic.groupCommit.segmentDurableOffset == 0, "the new handle takes the records as durable")
            #expect(topic.writtenOffset == 3)
            #expect(topic.groupCommit.flushDueMs(nowMs: clock.nowMs(), intervalMs: Self.interval) == start + Self.interval)
            try await topic.append(offsetRecords(from: 3, count: 1))
            clock.advance(ms: Self.interval)
            await lake.backgroundTick()
            #expect(topic.groupCommit.segmentDurableOffset == 4)
            try await lake.close()
        }
    }

    /// `close` pays every debt: one syncfs for many, an fdatasync each for few.
    @Test(arguments: [100, 8]) func closePaysEveryDebt(logs: Int) async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let sink = LogSink()
            let (registry, options) = EngineMetricsTests.metered(Self.options(clock: clock, log: sink))
            let lake = try Lake.open(dir, options: options)
            for i in 0 ..< logs {
                let topic = try lake.topic("c-\(i)", creatingWith: Self.config())
                try await topic.append(offsetRecords(from: 0, count: 2))
            }
            await lake.backgroundTick()
            #expect(lake.registry.debts.count == logs, "open: \(PartitionEvictionTests.openCount(lake))")
            try await lake.close()
            #expect(lake.registry.debts.count == 0)
            if logs > FilesystemSync.logsMin {
                #expect(sink.contains("one syncfs of \(dir) made \(logs) logs durable"))
                #expect(Self.segmentFsyncs(registry) == 0)
            } else {
                #expect(!sink.contains("syncfs"))
                #expect(Self.segmentFsyncs(registry) == Double(logs))
            }
            let reopened = try Lake.open(dir, options: lakeOptions())
            for i in 0 ..< logs { #expect(try reopened.topic("c-\(i)").highWatermark == 2) }
            try await reopened.close()
        }
    }

    /// A payment that fails is not forgotten: the log's next handle is stopped with it (its
    /// appends fail), and `close` reports the failure of a log that was not opened again.
    @Test func aFailedPaymentStopsTheNextHandleAndFailsTheClose() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let sink = LogSink()
            let lake = try Lake.open(dir, options: Self.options(clock: clock, log: sink))
            try await Self.writeAndEvict(lake, "lost")
            try await Self.writeAndEvict(lake, "never")
            // Each segment's name resolves to a symlink loop: open(2) fails with ELOOP.
            var segments: [String] = []
            for name in ["lost", "never"] {
                let segment = try #require(
                    try FileManager.default.contentsOfDirectory(atPath: "\(dir)/topics/\(name)").first {
                        $0.hasSuffix(".seg")
                    })
                let path = "\(dir)/topics/\(name)/\(segment)"
                #expect(rename(path, path + ".aside") == 0)
                #expect(symlink(path, path) == 0)
                segments.append(path)
            }
            clock.advance(ms: Self.interval)
            await lake.backgroundTick()
            #expect(sink.contains("flush of evicted log lost failed"))
            #expect(lake.registry.debts.owes("lost") && lake.registry.debts.owes("never"), "a failed debt was dropped")
            for path in segments {
                #expect(unlink(path) == 0)
                #expect(rename(path + ".aside", path) == 0)
            }
            let topic = try lake.topic("lost")
            let error = await strataError { try await topic.append(offsetRecords(from: 3, count: 1)) }
            // Refused as after any failed fsync of the log, naming the failure and its file.
            #expect(error?.code == .closed, "\(String(describing: error))")
            #expect(error?.message.contains("stopped after an I/O failure") == true)
            #expect(String(describing: error).contains("open failed: Too many levels of symbolic links"))
            #expect(String(describing: error).contains("topics/lost/"))
            let closing = await strataError { try await lake.close() }
            #expect(closing?.code == .io)
            #expect(sink.contains("close: evicted log never lost its flush earlier"))
        }
    }

    /// A deleted topic's evicted logs owe nothing: the tick finds no debt of theirs to pay.
    @Test func aDeleteDropsItsLogsDebts() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            let sink = LogSink()
            let lake = try Lake.open(dir, options: Self.options(clock: clock, log: sink))
            try await Self.writeAndEvict(lake, "gone")
            _ = try await lake.deleteTopic("gone")
            #expect(!lake.registry.debts.owes("gone"))
            clock.advance(ms: Self.interval)
            await lake.backgroundTick()
            #expect(!sink.contains("flush of evicted log"))
            try await lake.close()
        }
    }
}
