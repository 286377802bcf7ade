import Foundation
import Glibc
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Review of the lake journal (issue 16): defects found, each as a failing test.
@Suite struct JournalReviewTests {
    /// A power loss may lose any unfsynced page of a segment, not only its tail: with the journal
    /// the whole active segment since the last checkpoint is unfsynced. Here page 1 of the
    /// segment (bytes 4096..<8192) is lost while later pages reached the disk. Every batch was
    /// acknowledged and the journal holds all of them.
    @Test func aLostMiddlePageOfAcknowledgedBatchesIsRefilledFromTheJournal() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            var lake: Lake? = try Lake.open(dir, options: lakeOptions(log: sink))
            let topic = try #require(try lake?.topic("h", creatingWith: topicConfig()))
            let value = [UInt8](repeating: 0x61, count: 3000)
            for _ in 0 ..< 6 { try await topic.append([ProducerRecord(value: value)]) }
            #expect(topic.groupCommit.segmentDurableOffset == 0)
            let path = topic.segments()[0].path
            lake = nil  // crash
            let fd = open(path, O_WRONLY)
            let zeros = [UInt8](repeating: 0, count: 4096)
            #expect(pwrite(fd, zeros, 4096, 4096) == 4096)
            close(fd)

            let reopened: Lake
            do { reopened = try Lake.open(dir, options: lakeOptions(log: sink)) } catch {
                Issue.record("open refused: \(error)")
                return
            }
            let t = try reopened.topic("h")
            var values = 0
            do { values = try readAll(t).count } catch { Issue.record("read after recovery: \(error)") }
            #expect(values == 6, "acknowledged records readable after recovery")
            do { try await t.append([ProducerRecord(value: value)]) } catch {
                Issue.record("append after recovery: \(error)")
            }
            // The bytes cut from the lost page on are kept, not dropped.
            let quarantine = LakePaths(root: dir).quarantineDirectory("h")
            let kept = (try? FileManager.default.contentsOfDirectory(atPath: quarantine)) ?? []
            #expect(kept.contains { $0.contains(".seg.lost-") })
            #expect(sink.messages.contains { $0.contains("refilled from the journal") })
            try? await reopened.close()
        }
    }

    /// `repairQuarantine` on a live `sync` log cuts it back while the active journal file still
    /// holds its entries at and past the cut; the next crash replays them against the new log.
    @Test func aCrashAfterRepairOfAJournaledLogOpensTheLake() async throws {
        try await withTempDirectory { dir in
            let sink = LogSink()
            var lake: Lake? = try Lake.open(dir, options: lakeOptions(log: sink))
            let topic = try #require(try lake?.topic("r", creatingWith: topicConfig(segmentBytes: 8 * 1024)))
            let value = [UInt8](repeating: 0x62, count: 3000)
            for _ in 0 ..< 6 { try await topic.append([ProducerRecord(value: value)]) }
            let segments = topic.segments()
            #expect(segments.count >= 2)
            // Bit rot in the first (sealed, fsynced) segment: one byte of its first batch's value.
            let fd = open(segments[0].path, O_RDWR)
            #expect(pwrite(fd, [0xFF], 1, off_t(SegmentHeader.size + 200)) == 1)
            close(fd)
            let report = try await topic.repairQuarantine()
            print("repair: \(report)")
            let after = try await topic.append([ProducerRecord(value: bytes("after-repair"))])
            print("append after repair at \(after.firstOffset)")
            lake = nil  // crash

            do {
                let reopened = try Lake.open(dir, options: lakeOptions(log: sink))
                let values = try readAll(reopened.topic("r")).map { string($0.value) }
                #expect(values.last == "after-repair")
                #expect(values.count == Int(after.firstOffset) + 1)
                try await reopened.close()
            } catch {
                Issue.record("reopen after repair + crash: \(error)")
            }
        }
    }

    /// One partition whose segment fsync fails (here its segment path turned into a directory,
    /// so the checkpoint's open fails with EISDIR) stops; the checkpoint then `break`s at the
    /// first file it covers, so every later rolled file -- holding only healthy partitions'
    /// entries -- is kept too: journal disk grows with the other partitions' traffic.
    @Test func oneStoppedPartitionDoesNotPinEveryLaterJournalFile() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions(maxOpenFiles: 1)
            options.journalBytes = LakeOptions.journalBytesMin
            let lake = try Lake.open(dir, options: options)
            let stuck = try lake.topic("stuck", creatingWith: topicConfig())
            let busy = try lake.topic("busy", creatingWith: topicConfig())
            try await stuck.append([ProducerRecord(value: bytes("once"))])
            let path = stuck.segments()[0].path
            let value = [UInt8](repeating: 7, count: 4096)
            try await busy.append([ProducerRecord(value: value)])  // evicts stuck's fd (capacity 1)
            #expect(rename(path, path + ".aside") == 0)
            #expect(mkdir(path, 0o755) == 0)
            for _ in 0 ..< 200 { try await busy.append([ProducerRecord(value: value)]) }
            let journal = try #require(lake.journal)
            for _ in 0 ..< 200 {
                journal.checkpoint()
                await Task.yield()
            }
            print("rolled journal files kept: \(journal.rolledFileCount), live \(journal.liveFileCount)")
            // Only the file holding stuck's entry needs keeping.
            #expect(
                journal.rolledFileCount <= 1, "\(journal.rolledFileCount) rolled files kept for one stopped partition")
            rmdir(path)
            _ = rename(path + ".aside", path)
            try? await lake.close()
        }
    }

    /// Repair refuses a topic with appends waiting for their fsync (`groupCommit.idle`); with
    /// the journal those appends wait in `Journal`, never in the log's GroupCommit, so the guard
    /// always passes: repair cuts the log under a waiting append, which is then acknowledged
    /// and pushes the high watermark past the log's end.
    @Test func repairRefusesALogWithAnAppendWaitingForTheJournal() async throws {
        try await withTempDirectory { dir in
            let hold = Mutex(false)
            var options = lakeOptions()
            options.beforeGroupFsync = { _ in
                while hold.withLock({ $0 }) { usleep(1000) }
            }
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("w", creatingWith: topicConfig(segmentBytes: 8 * 1024))
            let value = [UInt8](repeating: 0x63, count: 3000)
            for _ in 0 ..< 6 { try await topic.append([ProducerRecord(value: value)]) }
            let fd = open(topic.segments()[0].path, O_RDWR)
            #expect(pwrite(fd, [0xFF], 1, off_t(SegmentHeader.size + 200)) == 1)
            close(fd)
            hold.withLock { $0 = true }
            let before = topic.writtenOffset
            let waiting = Task { try await topic.append([ProducerRecord(value: bytes("waiting"))]) }
            // Waits off the cooperative pool's threads (the append needs one), however loaded.
            for _ in 0 ..< 120_000 where topic.writtenOffset == before { try await Task.sleep(for: .milliseconds(1)) }
            try #require(topic.writtenOffset > before, "the waiting append never wrote its batch")
            var refused = false
            do { _ = try await topic.repairQuarantine() } catch {
                refused = (error as? StrataError)?.code == .busy; print("repair: \(error)")
            }
            hold.withLock { $0 = false }
            let acked = try? await waiting.value
            #expect(refused, "repair ran under a waiting append")
            print("acked=\(String(describing: acked)) written=\(topic.writtenOffset) hw=\(topic.highWatermark)")
            #expect(topic.highWatermark <= topic.writtenOffset)
            try? await lake.close()
        }
    }

    /// Alter-config retires the handle; entries of both handles are in the journal. A crash that
    /// loses the unsynced segment bytes loses none of them (sync -> async -> sync, then crash).
    @Test func alterConfigHandlesAndACrashLoseNoAcknowledgedRecord() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            var t = try #require(try lake?.topic("a", creatingWith: topicConfig()))
            try await t.append([ProducerRecord(value: bytes("s0"))])
            _ = try await lake?.alterTopicConfig("a", set: [("segmentMs", "1000000")])
            t = try #require(try lake?.topic("a"))
            try await t.append([ProducerRecord(value: bytes("s1"))])
            _ = try await lake?.alterTopicConfig("a", set: [("durability", "async")])
            t = try #require(try lake?.topic("a"))
            try await t.append([ProducerRecord(value: bytes("a2"))])
            try await t.flush()
            _ = try await lake?.alterTopicConfig("a", set: [("durability", "sync")])
            t = try #require(try lake?.topic("a"))
            try await t.append([ProducerRecord(value: bytes("s3"))])
            lake = nil
            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try readAll(reopened.topic("a")).map { string($0.value) } == ["s0", "s1", "a2", "s3"])
            try await reopened.close()
        }
    }
}
