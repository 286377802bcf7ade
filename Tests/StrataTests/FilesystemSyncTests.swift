import Foundation
import StrataTesting
import Testing

@testable import Strata

/// Many logs with records not yet durable in their segments made durable by one syncfs
/// (Lake/FilesystemSync.swift): `Lake.close` and the background tick's `async` flushes.
@Suite struct FilesystemSyncTests {
    /// 100 dirty logs, async and sync (journaled): one syncfs makes them all durable, the
    /// journal closes empty, and a reopen reads every record of every log.
    @Test func aCloseOfManyDirtyLogsSyncsTheFilesystemOnce() async throws {
        try await withTempDirectory { dir in
            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            for i in 0 ..< 100 {
                let topic = try lake.topic("u-\(i)", creatingWith: topicConfig(durability: i % 4 == 0 ? .sync : .async))
                try await topic.append(offsetRecords(from: 0, count: 3))
                #expect(topic.groupCommit.segmentDurableOffset < topic.writtenOffset, "u-\(i) is dirty at close")
            }
            try await lake.close()
            #expect(log.contains("one syncfs of \(dir) made 100 logs durable"))
            let journal = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/journal")) ?? []
            #expect(journal.filter { $0.hasSuffix(".wal") }.isEmpty, "the journal closed empty: \(journal)")
            let reopened = try Lake.open(dir, options: lakeOptions())
            for i in 0 ..< 100 {
                let topic = try reopened.topic("u-\(i)")
                #expect(topic.highWatermark == 3)
                let read = try await topic.read(from: 0, maxBytes: 1 << 20)
                #expect(read.records.map(\.value) == offsetRecords(from: 0, count: 3).map(\.value))
            }
            try await reopened.close()
        }
    }

    /// A few dirty logs: each fdatasyncs its own segment, no syncfs.
    @Test func aCloseOfFewDirtyLogsFlushesEachItself() async throws {
        try await withTempDirectory { dir in
            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            var topics: [Topic] = []
            for i in 0 ..< 8 {
                let topic = try lake.topic("f-\(i)", creatingWith: topicConfig(durability: .async))
                try await topic.append(offsetRecords(from: 0, count: 2))
                topics.append(topic)
            }
            let before = topics.map(\.groupCommit.fsyncCount)
            try await lake.close()
            #expect(!log.contains("syncfs"))
            #expect(zip(topics, before).allSatisfy { $0.groupCommit.fsyncCount > $1 }, "each log fdatasynced itself")
        }
    }

    /// The background tick with 100 `async` logs due for their flush: one syncfs, every log
    /// durable; with 8, each flushes itself.
    @Test(arguments: [100, 8]) func theTickFlushesManyAsyncLogsWithOneSyncfs(logs: Int) async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            var options = lakeOptions(clock: clock)
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            var config = topicConfig(durability: .async)
            config.flushIntervalMs = 1
            var topics: [Topic] = []
            for i in 0 ..< logs {
                let topic = try lake.topic("a-\(i)", creatingWith: config)
                try await topic.append(offsetRecords(from: 0, count: 2))
                topics.append(topic)
            }
            await lake.backgroundTick()  // starts each log's flush interval
            clock.advance(ms: 1)
            await lake.backgroundTick()
            #expect(topics.allSatisfy { $0.durableOffset == 2 }, "every log flushed")
            #expect(lake.registry.filesystemSyncs.load(ordering: .relaxed) == (logs > 64 ? 1 : 0))
            try await lake.close()
        }
    }
}
