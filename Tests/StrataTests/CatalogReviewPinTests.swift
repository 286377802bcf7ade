import Foundation
import Glibc
import StrataFormat
import StrataTesting
import Testing

@testable import Strata

/// Review of the catalog (branch `catalog`): behaviour checked by the review that holds on the
/// branch and is worth pinning (the barrier, compaction under creates/deletes and a reader, a
/// torn tail, migration of every old file).
@Suite struct CatalogReviewPinTests {
    /// A create on first use is not fsynced by itself; the first `sync` append fsyncs it (the
    /// metadata barrier) before the record's own fsync, with or without the journal.
    @Test(arguments: [true, false])
    func aSyncAppendToATopicCreatedOnFirstUseMakesTheCatalogDurable(journal: Bool) async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.journal = journal
            let lake = try Lake.open(dir, options: options)
            let before = lake.catalog.syncCount.load(ordering: .relaxed)
            let topic = try lake.topic("first-use", creatingWith: topicConfig())
            #expect(lake.catalog.syncCount.load(ordering: .relaxed) == before)
            try await topic.append([ProducerRecord(value: bytes("x"))])
            #expect(lake.catalog.syncCount.load(ordering: .relaxed) == before + 1)
            try await topic.append([ProducerRecord(value: bytes("y"))])
            #expect(lake.catalog.syncCount.load(ordering: .relaxed) == before + 1, "nothing pending: no fsync")
            try await lake.close()
        }
    }

    /// The file cut inside its last record (a power loss after the last fdatasync): the topic
    /// with acknowledged records is there, the cut record's bytes are kept in quarantine.
    @Test func aCatalogCutInsideItsLastRecordKeepsEveryTopicWithRecords() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let acked = try #require(try lake?.topic("acked", creatingWith: topicConfig()))
            try await acked.append([ProducerRecord(value: bytes("kept"))])
            _ = try lake?.topic("never-used", creatingWith: topicConfig())
            lake = nil  // crash
            let file = try #require(
                try FileManager.default.contentsOfDirectory(atPath: dir + "/catalog").filter { $0.hasSuffix(".log") }
                    .sorted().last.map { dir + "/catalog/" + $0 })
            let size = try #require(FileIO.fileSize(atPath: file))
            #expect(truncate(file, off_t(size - 7)) == 0)
            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try reopened.topicNames() == ["acked"])
            #expect(try readAll(reopened.topic("acked")).map { string($0.value) } == ["kept"])
            let kept = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/quarantine")) ?? []
            #expect(kept.contains { $0.hasPrefix("catalog-") && $0.contains(".torn-") })
            try await reopened.close()
        }
    }

    /// Compactions racing creates on first use, deletes and a read-only reader: the reader and
    /// a reopen see exactly the live topics.
    @Test func compactionsRacingCreatesDeletesAndAReaderLoseNothing() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            let count = 240
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0 ..< 3 {
                    group.addTask {
                        for i in stride(from: w, to: count, by: 3) {
                            _ = try lake.topic("c-\(i)", creatingWith: topicConfig())
                        }
                    }
                }
                group.addTask { for _ in 0 ..< 20 { try lake.catalog.compactNow() } }
                group.addTask { for _ in 0 ..< 40 { _ = try reader.topicNames() } }
                try await group.waitForAll()
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for i in 0 ..< 20 { _ = try await lake.deleteTopic("c-\(i)") } }
                group.addTask { for _ in 0 ..< 10 { try lake.catalog.compactNow() } }
                group.addTask { for _ in 0 ..< 20 { _ = try reader.topicNames() } }
                try await group.waitForAll()
            }
            let live = Set((20 ..< count).map { "c-\($0)" })
            #expect(Set(try reader.topicNames()) == live)
            try await lake.close()
            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(Set(try reopened.topicNames()) == live)
            try await reopened.close()
        }
    }

    /// A lake of the old layout: a topic with a `partitions` file and a `log-start-offset`, and a
    /// topic whose delete stopped (`DELETING`). The writer's open imports both and removes the
    /// old files; the half-done delete stays half-done and running it again finishes it.
    @Test func migrationImportsCountsLogStartsAndAHalfDoneDelete() async throws {
        try await withTempDirectory { dir in
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let multi = try lake.topic("multi", creatingWith: topicConfig(), partitions: 3)
                try await multi.append(offsetRecords(from: 0, count: 5))
                _ = try lake.topic("half", creatingWith: topicConfig())
                try await lake.close()
            }
            let json = Data(try encodeJSON(topicConfig()))
            try FileManager.default.removeItem(atPath: dir + "/catalog")
            #expect(FileManager.default.createFile(atPath: dir + "/topics/multi/topic.json", contents: json))
            #expect(FileManager.default.createFile(atPath: dir + "/topics/multi/partitions", contents: Data("3\n".utf8)))
            #expect(
                FileManager.default.createFile(atPath: dir + "/topics/multi/log-start-offset", contents: Data("2\n".utf8)))
            #expect(FileManager.default.createFile(atPath: dir + "/topics/half/DELETING", contents: json))

            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            #expect(try reader.topicNames() == ["multi"], "a reader reads a lake not yet migrated")
            #expect(try reader.partitionCount("multi") == 3)

            let lake = try Lake.open(dir, options: lakeOptions())
            #expect(try lake.topicNames() == ["multi"])
            #expect(try lake.partitionCount("multi") == 3)
            #expect(try await lake.topic("multi").logStartOffset() == 2)
            for old in ["multi/topic.json", "multi/partitions", "multi/log-start-offset", "half/DELETING"] {
                #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + old), "\(old) removed")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/catalog/MIGRATING"))
            let refused = await strataError { _ = try await lake.createTopic("half", config: topicConfig()) }
            #expect(refused?.code == .invalidArgument)
            _ = try await lake.deleteTopic("half")
            _ = try await lake.createTopic("half", config: topicConfig())
            #expect(try lake.topicNames() == ["half", "multi"])
            try await lake.close()
        }
    }

    /// Migration interrupted at each step, simulated on disk: (1) the new catalog file written
    /// without its end-of-snapshot record (a crash inside `writeSnapshotFile`): the old files are
    /// all there and are imported again; (2) the catalog durable and `MIGRATING` still there with
    /// an old file left (a crash inside the removal): the catalog wins and the file goes.
    @Test func anInterruptedMigrationFinishesOnTheNextOpen() async throws {
        try await withTempDirectory { dir in
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let t = try lake.topic("multi", creatingWith: topicConfig(), partitions: 3)
                try await t.append(offsetRecords(from: 0, count: 3))
                try await lake.close()
            }
            let json = Data(try encodeJSON(topicConfig()))
            try FileManager.default.removeItem(atPath: dir + "/catalog")
            #expect(FileManager.default.createFile(atPath: dir + "/topics/multi/topic.json", contents: json))
            #expect(FileManager.default.createFile(atPath: dir + "/topics/multi/partitions", contents: Data("3\n".utf8)))
            // (1) a catalog file cut before its end-of-snapshot record, and the marker.
            try FileManager.default.createDirectory(atPath: dir + "/catalog", withIntermediateDirectories: false)
            #expect(FileManager.default.createFile(atPath: dir + "/catalog/MIGRATING", contents: Data("migrating\n".utf8)))
            let header = CatalogFormat.encodeFileHeader(sequence: 0)
            let config = CatalogFormat.encode(.config(id: 1, json: Array(json)))
            #expect(
                FileManager.default.createFile(
                    atPath: dir + "/catalog/00000000000000000000.log", contents: Data(header + config.prefix(config.count - 3))))
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                #expect(try lake.topicNames() == ["multi"])
                #expect(try lake.partitionCount("multi") == 3)
                try await lake.close()
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/multi/topic.json"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/catalog/MIGRATING"))
            // (2) the removal stopped: the marker and a stale old file (saying 1 partition) left.
            #expect(FileManager.default.createFile(atPath: dir + "/catalog/MIGRATING", contents: Data("migrating\n".utf8)))
            #expect(FileManager.default.createFile(atPath: dir + "/topics/multi/partitions", contents: Data("1\n".utf8)))
            let lake = try Lake.open(dir, options: lakeOptions())
            #expect(try lake.partitionCount("multi") == 3)
            #expect(try readAll(lake.topic("multi")).count == 3)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/multi/partitions"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/catalog/MIGRATING"))
            try await lake.close()
        }
    }
}
