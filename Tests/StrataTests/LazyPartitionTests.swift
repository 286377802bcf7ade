import Foundation
import Glibc
import StrataTesting
import Testing

@testable import Strata

/// A partition's first segment and directory cost no fsync when they are made: their directory
/// entries become durable with the first fdatasync that makes a record of theirs durable
/// (ARCHITECTURE.md §2j), and a power loss that loses them loses nothing acknowledged.
@Suite struct LazyPartitionTests {
    static let topic = "lazy"

    static func segmentFiles(_ dir: String, _ log: String) throws -> [String] {
        let directory = LakePaths(root: dir).topicDirectory(log)
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }.sorted()
            .map { directory + "/" + $0 }
    }

    @Test func openingAPartitionLeavesItsDirectoryEntriesToTheFirstDurableRecord() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            _ = try await lake.createTopic(Self.topic, config: topicConfig(durability: .async), partitions: 4)
            let log = try lake.partition(Self.topic, 2)
            let paths = LakePaths(root: dir)
            #expect(
                log.pendingDirectories.withLock { $0 }
                    == [paths.topicDirectory("\(Self.topic)/2"), paths.topicDirectory(Self.topic)])
            try await log.append(offsetRecords(from: 0, count: 3))
            #expect(!log.pendingDirectories.withLock { $0.isEmpty }, "an async append fsynced")
            try await log.flush()
            #expect(log.pendingDirectories.withLock { $0.isEmpty }, "the flush left directory entries unsynced")
            try await lake.close()
        }
    }

    @Test func aRollLeavesTheNewSegmentsEntryToItsFirstFsync() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.journal = false
            let lake = try Lake.open(dir, options: options)
            let log = try await lake.createTopic(Self.topic, config: topicConfig(segmentBytes: 1024))
            try await log.append(offsetRecords(from: 0, count: 1))
            #expect(log.pendingDirectories.withLock { $0.isEmpty })
            try log.sealActiveSegment()
            #expect(log.pendingDirectories.withLock { $0 } == [LakePaths(root: dir).topicDirectory(Self.topic)])
            try await log.append(offsetRecords(from: 1, count: 1))
            #expect(log.pendingDirectories.withLock { $0.isEmpty }, "a sync append's fsync left the entry unsynced")
            try await lake.close()
        }
    }

    /// A power loss can lose a directory entry that was never fsynced: the new segment file of
    /// partition 1 and the whole directory of partition 2. Their records were acknowledged
    /// through the lake journal, and the replay brings every one back.
    @Test func lostNewSegmentsAndPartitionDirectoriesAreReplayedFromTheJournal() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            var config = topicConfig(segmentBytes: 1024)
            config.localRetentionMs = nil
            _ = try await lake!.createTopic(Self.topic, config: config, partitions: 4)
            for p: Int32 in 0 ..< 4 {
                for i in 0 ..< 12 {
                    try await lake!.partition(Self.topic, p).append([
                        ProducerRecord(key: [UInt8](repeating: 1, count: 100), value: bytes("p\(p)-\(i)"))
                    ])
                }
            }
            let rolled = try Self.segmentFiles(dir, "\(Self.topic)/1")
            #expect(rolled.count >= 2, "partition 1 did not roll: \(rolled)")
            lake = nil  // a crash: the journal still holds every acknowledged batch
            // What the power loss lost: the newest segment of partition 1, all of partition 2.
            try FileManager.default.removeItem(atPath: try #require(rolled.last))
            try FileManager.default.removeItem(atPath: LakePaths(root: dir).topicDirectory("\(Self.topic)/2"))
            let reopened = try Lake.open(dir, options: lakeOptions())
            for p: Int32 in 0 ..< 4 {
                let records = try readAll(try reopened.partition(Self.topic, p))
                #expect(records.compactMap { string($0.value) } == (0 ..< 12).map { "p\(p)-\($0)" }, "partition \(p)")
            }
            try await reopened.close()
        }
    }

    /// A clean close makes what the lazy fsyncs deferred durable: the lake reopens with the
    /// journal empty and every record in its segment.
    @Test func closeLeavesNothingPending() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            _ = try await lake.createTopic(Self.topic, config: topicConfig(), partitions: 8)
            var logs: [Topic] = []
            for p: Int32 in 0 ..< 8 {
                let log = try lake.partition(Self.topic, p)
                try await log.append(offsetRecords(from: 0, count: 2))
                logs.append(log)
            }
            try await lake.close()
            for log in logs { #expect(log.pendingDirectories.withLock { $0.isEmpty }, "\(log.name)") }
            #expect(JournalTests.journalFiles(dir).isEmpty)
        }
    }

    /// A new topic's directory is empty: its first open lists nothing (the registry's fresh
    /// mark), and only that one. A later handle must list what the first one wrote, or it would
    /// start a new segment over it.
    @Test func onlyANewTopicsFirstOpenSkipsTheListing() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let config = topicConfig(durability: .async)
            let (id, _) = try lake.allocateProducerId()
            var first: Topic? = try lake.topic("fresh", creatingWith: config)
            #expect(!lake.registry.topics.withLock { $0.isFresh("fresh") }, "the first open left its mark")
            _ = try await first!.appendBatch(encodedBatch(["a", "b"], producerId: id, epoch: 0, sequence: 0))
            try await first!.flush()
            first = nil
            lake.registry.topics.withLock { $0["fresh"] = nil }  // as an eviction drops an idle handle

            let again = try lake.topic("fresh", creatingWith: config)
            #expect(try readAll(again).map { string($0.value) } == ["a", "b"])
            // Producer state came from the listing too: the retry is known.
            let retry = try await again.appendBatch(encodedBatch(["a", "b"], producerId: id, epoch: 0, sequence: 0))
            #expect(retry == BatchAppendResult(firstOffset: 0, lastOffset: 1, duplicate: true))
            try await lake.close()
        }
    }

    /// A create marks the new directory until its first open (the catalog has the topic
    /// between the two); a delete before then takes the mark, so a later create of the name
    /// whose directory the delete left cannot inherit it.
    @Test func aTopicDeletedBeforeItsFirstOpenLeavesNoMark() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            #expect(try lake.createIfAbsent("gone", config: topicConfig(), partitions: 2, strict: false))
            #expect(lake.registry.topics.withLock { $0.isFresh("gone") })
            #expect(!lake.registry.topics.withLock { $0.isFresh("gone/1") }, "partitions above 0 are made at open")
            _ = try await lake.deleteTopic("gone")
            #expect(!lake.registry.topics.withLock { $0.isFresh("gone") })
            try await lake.close()
        }
    }
}
