import Foundation
import Glibc
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// The lake journal (formats/journal.md, issue 16): one fdatasync acknowledges `sync` appends to
/// many partitions, and recovery replays what the segments lost.
@Suite struct JournalTests {
    /// Journal files in the lake, oldest first.
    static func journalFiles(_ dir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/journal")) ?? []
        return names.filter { LakePaths.journalSequence(fileName: $0) != nil }.sorted().map { dir + "/journal/" + $0 }
    }

    /// Cuts every segment of `logs` back to its header: what a power loss does to bytes that
    /// were written but never fdatasync'ed (the journal's appends never fsync the segment).
    static func dropUnsyncedSegmentTails(_ dir: String, logs: [String]) throws {
        for log in logs {
            let directory = LakePaths(root: dir).topicDirectory(log)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".seg") {
                #expect(truncate(directory + "/" + name, off_t(SegmentHeader.size)) == 0)
            }
        }
    }

    /// Cuts the lake's journal before the first entry of `log` at or after `baseOffset`, as if
    /// the crash came before the journal fsync that would have made it durable: tests that tear
    /// a segment's last batch use it so the journal does not write the batch back.
    static func forgetJournalEntries(_ dir: String, log: String, from baseOffset: Int64) throws {
        for path in journalFiles(dir) {
            let image = try FileIO.readWholeFile(path)
            let scan = image.withUnsafeBytes { JournalFormat.scan($0) }
            guard let entry = scan.entries.first(where: { $0.logName == log && $0.header.baseOffset >= baseOffset })
            else { continue }
            #expect(truncate(path, off_t(entry.position)) == 0)
            return
        }
        Issue.record("no journal entry of \(log) from \(baseOffset)")
    }

    @Test func sixtyFourPartitionsShareJournalFsyncs() async throws {
        try await withTempDirectory { dir in
            let partitions = 64, appendsPerPartition = 20
            let logs = Mutex<[Topic]>([])
            let firstHeld = Mutex(false)
            var options = lakeOptions()
            // Hold the first journal fsync until every partition has written once: that one
            // fsync must then acknowledge 64 appends on 64 partitions, whatever the scheduler.
            options.beforeGroupFsync = { _ in
                guard
                    !firstHeld.withLock({ held in
                        defer { held = true }; return held
                    })
                else { return }
                for _ in 0 ..< 20_000 {
                    let written = logs.withLock { $0.filter { $0.writtenOffset > 0 }.count }
                    if written == partitions { break }
                    usleep(500)
                }
            }
            let lake = try Lake.open(dir, options: options)
            _ = try lake.topic("p", creatingWith: topicConfig(), partitions: Int32(partitions))
            let topics = try (0 ..< partitions).map { try lake.partition("p", Int32($0)) }
            logs.withLock { $0 = topics }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for topic in topics {
                    group.addTask {
                        for i in 0 ..< appendsPerPartition {
                            let result = try await topic.append([ProducerRecord(value: bytes("\(topic.name)-\(i)"))])
                            #expect(result.firstOffset == Int64(i))
                            // Acknowledged means durable: the partition's durable end covers it.
                            #expect(topic.durableOffset > result.lastOffset)
                            #expect(topic.highWatermark > result.lastOffset)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let journal = try #require(lake.journal)
            let appends = partitions * appendsPerPartition
            #expect(journal.fsyncCount >= 1)
            // The held fsync covered one append of each partition.
            #expect(
                journal.fsyncCount <= appends - partitions + 1,
                "\(journal.fsyncCount) journal fsyncs for \(appends) appends")
            for topic in topics {
                #expect(topic.highWatermark == Int64(appendsPerPartition))
                // No append fdatasync'ed the partition's own segment.
                #expect(topic.groupCommit.segmentDurableOffset == 0)
                #expect(try readAll(topic).map { string($0.value) } == (0 ..< 20).map { "\(topic.name)-\($0)" })
            }
            try await lake.close()
            #expect(Self.journalFiles(dir).isEmpty)
        }
    }

    @Test func aCrashThatLosesUnsyncedSegmentBytesLosesNoAcknowledgedRecord() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            var lake: Lake? = try Lake.open(dir, options: lakeOptions(log: sink))
            _ = try lake?.topic("c", creatingWith: topicConfig(), partitions: 4)
            var names: [String] = []
            for p in 0 ..< 4 {
                let topic = try #require(try lake?.partition("c", Int32(p)))
                names.append(topic.name)
                for i in 0 ..< 5 { try await topic.append([ProducerRecord(value: bytes("\(p)-\(i)"))]) }
                #expect(topic.groupCommit.segmentDurableOffset == 0)
            }
            #expect(Self.journalFiles(dir).count == 1)
            lake = nil  // dropped without close: a crash
            try Self.dropUnsyncedSegmentTails(dir, logs: names)

            let reopened = try Lake.open(dir, options: lakeOptions(log: sink))
            for p in 0 ..< 4 {
                let topic = try reopened.partition("c", Int32(p))
                #expect(try readAll(topic).map { string($0.value) } == (0 ..< 5).map { "\(p)-\($0)" })
            }
            #expect(sink.contains("journal recovery: 1 journal files, 20 batches written to 4 logs"))
            // Replayed, fdatasync'ed into the segments, then deleted.
            #expect(Self.journalFiles(dir).isEmpty)
            try await reopened.close()
        }
    }

    @Test func aCrashWithIntactSegmentsReplaysNothingAndChecksEveryBatch() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            var lake: Lake? = try Lake.open(dir, options: lakeOptions(log: sink))
            let topic = try #require(try lake?.topic("k", creatingWith: topicConfig()))
            for i in 0 ..< 3 { try await topic.append([ProducerRecord(value: bytes("v\(i)"))]) }
            lake = nil
            let reopened = try Lake.open(dir, options: lakeOptions(log: sink))
            #expect(try readAll(reopened.topic("k")).map { string($0.value) } == ["v0", "v1", "v2"])
            #expect(sink.contains("journal recovery: 1 journal files, 0 batches written to 0 logs"))
            try await reopened.close()
        }
    }

    @Test func aLogHoldingADifferentBatchThanItsJournalEntryRefusesTheOpen() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let topic = try #require(try lake?.topic("d", creatingWith: topicConfig()))
            try await topic.append([ProducerRecord(value: bytes("journaled"))])
            let segment = topic.segments()[0].path
            lake = nil
            // The segment holds another batch at offset 0 than the journal entry does.
            #expect(truncate(segment, off_t(SegmentHeader.size)) == 0)
            let other = BatchCodec.encode(
                baseOffset: 0, records: [Record(timestamp: 1, key: nil, value: bytes("different"))])
            let fd = open(segment, O_WRONLY)
            #expect(pwrite(fd, other, other.count, off_t(SegmentHeader.size)) == other.count)
            close(fd)
            let before = fileTree(dir)
            let error = strataError { _ = try Lake.open(dir, options: lakeOptions()) }
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains("the log holds a different batch there") == true)
            #expect(error?.file == Self.journalFiles(dir).first)
            #expect(error?.position == JournalFormat.fileHeaderSize)
            #expect(fileTree(dir) == before)
        }
    }

    /// A torn segment tail is cut and kept as always; the acknowledged batch it held comes back
    /// from the journal.
    @Test func aTornSegmentTailOfAnAcknowledgedBatchIsRefilledFromTheJournal() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            var lake: Lake? = try Lake.open(dir, options: lakeOptions(log: sink))
            let topic = try #require(try lake?.topic("s", creatingWith: topicConfig()))
            for i in 0 ..< 4 { try await topic.append(offsetRecords(from: Int64(i * 2), count: 2)) }
            let path = topic.segments()[0].path
            lake = nil
            let size = try #require(FileIO.fileSize(atPath: path))
            let last = try #require(try scanSegment(path).1.batches.last)
            #expect(truncate(path, off_t(last.position + 10)) == 0)

            let reopened = try Lake.open(dir, options: lakeOptions(log: sink))
            #expect(try readAll(reopened.topic("s")).map { string($0.value) } == (0 ..< 8).map { "v\($0)" })
            #expect(sink.contains("truncating torn tail topic=s file=\(path) position=\(last.position)"))
            #expect(FileManager.default.fileExists(atPath: dir + "/topics/s/quarantine"))
            #expect(FileIO.fileSize(atPath: path) == size)
            try await reopened.close()
        }
    }

    @Test func aTornJournalTailIsQuarantinedAndLogged() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            var lake: Lake? = try Lake.open(dir, options: lakeOptions(log: sink))
            let topic = try #require(try lake?.topic("t", creatingWith: topicConfig()))
            for i in 0 ..< 3 { try await topic.append([ProducerRecord(value: bytes("v\(i)"))]) }
            lake = nil
            let journal = try #require(Self.journalFiles(dir).first)
            // Half an entry at the end: a write the crash cut.
            let entry = JournalFormat.encodeEntry(
                logName: "t",
                batch: BatchCodec.encode(baseOffset: 3, records: [Record(timestamp: 1, key: nil, value: bytes("v3"))]))
            let torn = Array(entry.prefix(entry.count / 2))
            let size = try #require(FileIO.fileSize(atPath: journal))
            let fd = open(journal, O_WRONLY)
            #expect(pwrite(fd, torn, torn.count, off_t(size)) == torn.count)
            close(fd)
            try Self.dropUnsyncedSegmentTails(dir, logs: ["t"])

            let reopened = try Lake.open(dir, options: lakeOptions(log: sink))
            #expect(try readAll(reopened.topic("t")).map { string($0.value) } == ["v0", "v1", "v2"])
            let kept = dir + "/quarantine/journal-0.torn-\(size)"
            #expect(try Data(contentsOf: URL(fileURLWithPath: kept)) == Data(torn))
            #expect(sink.contains("journal recovery: torn tail file=\(journal) position=\(size)"))
            #expect(Self.journalFiles(dir).isEmpty)
            try await reopened.close()
        }
    }

    @Test func damageFollowedByValidEntriesRefusesTheOpenNamingThePosition() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let topic = try #require(try lake?.topic("x", creatingWith: topicConfig()))
            for i in 0 ..< 3 { try await topic.append([ProducerRecord(value: bytes("v\(i)"))]) }
            lake = nil
            let journal = try #require(Self.journalFiles(dir).first)
            var image = try FileIO.readWholeFile(journal)
            let scan = image.withUnsafeBytes { JournalFormat.scan($0) }
            let second = scan.entries[1]
            image[second.batchStart + BatchHeader.size + 2] ^= 0xFF  // a record byte of entry 2
            try Data(image).write(to: URL(fileURLWithPath: journal))
            let before = fileTree(dir)

            let error = strataError { _ = try Lake.open(dir, options: lakeOptions()) }
            #expect(error?.code == .corrupt)
            #expect(error?.file == journal)
            #expect(error?.position == second.position)
            #expect(error?.message.contains("a valid entry follows at byte \(scan.entries[2].position)") == true)
            // Nothing was replayed, cut, quarantined or deleted.
            #expect(fileTree(dir) == before)
        }
    }

    @Test func aJournalFsyncFailureFailsItsWaitersAndStopsThePartitions() async throws {
        try await withTempDirectory { dir in
            let failing = Mutex(false)
            var options = lakeOptions()
            options.beforeGroupFsync = { topic throws(StrataError) in
                if failing.withLock({ $0 }) { throw StrataError(.io, "injected fsync failure", topic: topic.name) }
            }
            let lake = try Lake.open(dir, options: options)
            _ = try lake.topic("f", creatingWith: topicConfig(), partitions: 2)
            let (p0, p1) = (try lake.partition("f", 0), try lake.partition("f", 1))
            try await p0.append([ProducerRecord(value: bytes("durable"))])
            failing.withLock { $0 = true }
            let failed = await strataError { try await p1.append([ProducerRecord(value: bytes("lost?"))]) }
            #expect(failed?.code == .io)
            #expect(failed?.message.contains("journal fsync failed") == true)
            #expect(p1.highWatermark == 0)
            // Both partitions had entries in the journal: both stop, until the lake is reopened.
            for topic in [p0, p1] {
                let refused = await strataError { try await topic.append([ProducerRecord(value: bytes("no"))]) }
                #expect(refused?.code == .closed)
            }
            // Another partition joining later is refused too: the journal's state is unknown.
            let other = try lake.topic("g", creatingWith: topicConfig())
            let refused = await strataError { try await other.append([ProducerRecord(value: bytes("no"))]) }
            #expect(refused?.code == .closed)
            _ = await strataError { try await lake.close() }

            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try readAll(reopened.partition("f", 0)).map { string($0.value) } == ["durable"])
            try await reopened.partition("f", 0).append([ProducerRecord(value: bytes("again"))])
            try await reopened.close()
        }
    }

    @Test func rolledJournalFilesAreDeletedOnceTheirSegmentsAreSynced() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.journalBytes = LakeOptions.journalBytesMin
            let lake = try Lake.open(dir, options: options)
            let idle = try lake.topic("idle", creatingWith: topicConfig())
            let busy = try lake.topic("busy", creatingWith: topicConfig())
            // The idle partition writes once and never rolls its segment.
            try await idle.append([ProducerRecord(value: bytes("once"))])
            let value = [UInt8](repeating: 7, count: 4096)
            for _ in 0 ..< 48 { try await busy.append([ProducerRecord(value: value)]) }
            let journal = try #require(lake.journal)
            // Three 64 KiB files at least were rolled; the checkpoint deletes every rolled one.
            for _ in 0 ..< 1_000_000 where journal.rolledFileCount > 0 {
                journal.checkpoint()
                await Task.yield()
            }
            #expect(journal.rolledFileCount == 0)
            #expect(Self.journalFiles(dir).count == 1)
            // To let the first file go, the checkpoint fdatasync'ed the idle partition's segment.
            #expect(idle.groupCommit.segmentDurableOffset == 1)
            #expect(busy.groupCommit.segmentDurableOffset >= 30)
            try await lake.close()
            #expect(Self.journalFiles(dir).isEmpty)
        }
    }

    @Test func aCleanCloseLeavesNoJournalAndTheReopenReplaysNothing() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: sink))
            let topic = try lake.topic("c", creatingWith: topicConfig())
            try await topic.append(offsetRecords(from: 0, count: 3))
            #expect(Self.journalFiles(dir).count == 1)
            try await lake.close()
            #expect(Self.journalFiles(dir).isEmpty)
            let reopened = try Lake.open(dir, options: lakeOptions(log: sink))
            #expect(try readAll(reopened.topic("c")).count == 3)
            #expect(!sink.contains("journal recovery"))
            try await reopened.close()
        }
    }

    @Test func idempotentRetriesAfterACrashGetTheirOriginalOffsets() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let topic = try #require(try lake?.topic("i", creatingWith: topicConfig()))
            let (id, epoch) = try #require(try lake?.allocateProducerId())
            let first = encodedBatch(["a", "b"], producerId: id, epoch: epoch, sequence: 0)
            let second = encodedBatch(["c"], producerId: id, epoch: epoch, sequence: 2)
            let stored = try await topic.appendBatch(first)
            try await topic.appendBatch(second)
            lake = nil
            try Self.dropUnsyncedSegmentTails(dir, logs: ["i"])

            let reopened = try Lake.open(dir, options: lakeOptions())
            let retried = try await reopened.topic("i").appendBatch(first)
            #expect(
                retried
                    == BatchAppendResult(
                        firstOffset: stored.firstOffset, lastOffset: stored.lastOffset, duplicate: true))
            let retriedSecond = try await reopened.topic("i").appendBatch(second)
            #expect(retriedSecond == BatchAppendResult(firstOffset: 2, lastOffset: 2, duplicate: true))
            #expect(try readAll(reopened.topic("i")).map { string($0.value) } == ["a", "b", "c"])
            try await reopened.close()
        }
    }

    @Test func aDeletedTopicsEntriesAreDroppedWithALogLine() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            var lake: Lake? = try Lake.open(dir, options: lakeOptions(log: sink))
            let gone = try #require(try lake?.topic("gone", creatingWith: topicConfig()))
            let kept = try #require(try lake?.topic("kept", creatingWith: topicConfig()))
            try await gone.append([ProducerRecord(value: bytes("g"))])
            try await kept.append([ProducerRecord(value: bytes("k"))])
            _ = try await lake?.deleteTopic("gone")
            lake = nil

            let reopened = try Lake.open(dir, options: lakeOptions(log: sink))
            #expect(sink.contains("journal recovery: dropped 1 entries of log gone: its topic was deleted"))
            #expect(try reopened.topicNames() == ["kept"])
            #expect(try readAll(reopened.topic("kept")).map { string($0.value) } == ["k"])
            try await reopened.close()
        }
    }

    @Test func aTopicCreatedAgainAfterItsDeletionNeverGetsTheOldEntries() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let old = try #require(try lake?.topic("r", creatingWith: topicConfig()))
            try await old.append([ProducerRecord(value: bytes("old"))])
            _ = try await lake?.deleteTopic("r")
            let new = try #require(try lake?.topic("r", creatingWith: topicConfig()))
            try await new.append([ProducerRecord(value: bytes("new-0"))])
            try await new.append([ProducerRecord(value: bytes("new-1"))])
            lake = nil
            try Self.dropUnsyncedSegmentTails(dir, logs: ["r"])

            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try readAll(reopened.topic("r")).map { string($0.value) } == ["new-0", "new-1"])
            try await reopened.close()
        }
    }

    @Test func aReadOnlyLakeLeavesTheJournalAndVerifyReportsItPending() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let topic = try #require(try lake?.topic("ro", creatingWith: topicConfig()))
            try await topic.append([ProducerRecord(value: bytes("v"))])
            lake = nil
            let files = Self.journalFiles(dir)
            let before = fileTree(dir + "/journal")
            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            let report = try await reader.verify()
            #expect(report.problems.map(\.kind) == [.pendingJournal])
            #expect(report.problems.first?.location == files.first)
            #expect(report.isClean)
            #expect(fileTree(dir + "/journal") == before)
            try await reader.close()
        }
    }

    @Test func verifyReportsACorruptJournalEntry() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let topic = try #require(try lake?.topic("v", creatingWith: topicConfig()))
            for i in 0 ..< 2 { try await topic.append([ProducerRecord(value: bytes("v\(i)"))]) }
            lake = nil
            let journal = try #require(Self.journalFiles(dir).first)
            var image = try FileIO.readWholeFile(journal)
            image[JournalFormat.fileHeaderSize + 4] ^= 1  // the first entry's CRC
            try Data(image).write(to: URL(fileURLWithPath: journal))
            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            let report = try await reader.verify()
            #expect(report.errors.map(\.kind) == [.corruptJournal])
            #expect(report.errors.first?.position == JournalFormat.fileHeaderSize)
            try await reader.close()
        }
    }

    @Test func withTheJournalOffEachSyncLogFsyncsItsOwnSegment() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.journal = false
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("off", creatingWith: topicConfig())
            try await topic.append([ProducerRecord(value: bytes("v"))])
            #expect(lake.journal == nil)
            #expect(topic.groupCommit.segmentDurableOffset == 1)
            #expect(Self.journalFiles(dir).isEmpty)
            try await lake.close()
        }
    }

    @Test func journalBytesBelowItsMinimumIsRefused() {
        var options = LakeOptions()
        options.journalBytes = 1024
        let error = strataError { try options.validate() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("journalBytes") == true)
    }
}
