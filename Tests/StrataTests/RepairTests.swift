import Foundation
import Testing

@testable import Strata

/// Issue 12 items 1 and 5: `Topic.repairQuarantine` / `strata repair --quarantine` move damaged
/// bytes into quarantine/ (kept byte for byte), the topic takes appends again after the last kept
/// record, and offload, stopped at the damage, goes on.
@Suite struct RepairTests {
    static let topicName = CorruptTailTests.topicName

    @Test func repairMovesTheDamagedBytesAsideAndAppendsContinueAfterTheLastKeptRecord() async throws {
        try await withTempDirectory { dir in
            let (path, batches) = try await CorruptTailTests.fiveBatches(dir)
            try CorruptTailTests.flip(path, at: batches[2].position + 100)
            let damaged = try FileIO.readWholeFile(path)
            let cut = batches[2].position

            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic(Self.topicName)
            let report = try await topic.repairQuarantine()
            let kept = dir + "/topics/t/quarantine/00000000000000000000.seg.damaged-\(cut)"
            let expected = QuarantinedFile(source: path, position: cut, bytes: damaged.count - cut, kept: kept)
            #expect(report.moved == [expected])
            #expect(report.nextOffset == 2000)
            #expect(report.damage?.contains("2000") == true)
            // Every moved byte is kept: the segment plus the quarantine file are the damaged file.
            #expect(try FileIO.readWholeFile(path) + FileIO.readWholeFile(kept) == damaged)
            #expect(topic.corruption == nil)
            let appended = try await topic.append(offsetRecords(from: 2000, count: 5))
            #expect(appended == AppendResult(firstOffset: 2000, lastOffset: 2004))
            #expect(try readAll(topic).map { string($0.value) } == (0 ..< 2005).map { "v\($0)" })
            // Nothing left to repair.
            let second = try await topic.repairQuarantine()
            #expect(second.damage == nil && second.moved.isEmpty)
            try await lake.close()

            let log = LogSink()
            let again = try Lake.open(dir, options: lakeOptions(log: log))
            #expect(try again.topic(Self.topicName).highWatermark == 2005)
            #expect(log.messages.isEmpty, "\(log.messages)")
            #expect(try await again.verify().isClean)
            try await again.close()
        }
    }

    /// A damaged sealed segment: offload stops at it (reported, visible on the topic) while other
    /// topics go on; repair moves the damaged part and every later segment aside and unblocks it.
    @Test func offloadStopsAtACorruptSegmentGoesOnElsewhereAndRepairUnblocksIt() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            let bad = try lake.topic("bad", creatingWith: topicConfig(segmentBytes: 4096))
            let good = try lake.topic("good", creatingWith: topicConfig(segmentBytes: 4096))
            for b in 0 ..< 200 {
                try await bad.append(offsetRecords(from: Int64(b * 5), count: 5))
                try await good.append(offsetRecords(from: Int64(b * 5), count: 5))
            }
            let segments = bad.segments()
            try #require(segments.count >= 4)
            try await lake.close()
            let victim = segments[1]
            let (_, scan) = try scanSegment(victim.path)
            let batch = scan.batches[2]
            try CorruptTailTests.flip(victim.path, at: batch.position + 70)

            let log = LogSink()
            var reopenOptions = lakeOptions(log: log)
            reopenOptions.backgroundOffload = false
            let reopened = try Lake.open(dir, options: reopenOptions)
            let report = try await reopened.offload()
            #expect(report.blocked.count == 1)
            #expect(report.blocked.first?.contains(victim.path) == true, "\(report.blocked)")
            let badTopic = try reopened.topic("bad")
            #expect(badTopic.offloadBlocked?.file == victim.path)
            #expect(log.contains("offload blocked topic=bad"))
            // The segment before the damage reached the cold tier; every sealed "good" one did.
            #expect(try await badTopic.latestManifest()?.nextOffset == segments[1].baseOffset)
            let goodTopic = try reopened.topic("good")
            #expect(try await goodTopic.latestManifest()?.nextOffset == 1000)

            let repair = try await badTopic.repairQuarantine()
            #expect(repair.nextOffset == batch.header.baseOffset)
            #expect(repair.moved.first?.source == victim.path && repair.moved.first?.position == batch.position)
            for later in segments.dropFirst(2) {
                #expect(
                    repair.moved.contains {
                        $0.source == later.path && $0.position == 0 && $0.bytes == later.bytes
                    })
                #expect(!FileIO.exists(later.path))
                let name = URL(fileURLWithPath: later.path).lastPathComponent
                #expect(FileIO.exists(dir + "/topics/bad/quarantine/" + name))
            }
            #expect(badTopic.offloadBlocked == nil && badTopic.corruption == nil)
            #expect(badTopic.highWatermark == batch.header.baseOffset)
            try await badTopic.append(offsetRecords(from: batch.header.baseOffset, count: 5))
            let after = try await reopened.offload(topic: "bad")
            #expect(after.blocked.isEmpty && after.segmentsOffloaded >= 1)
            #expect(try await badTopic.latestManifest()?.nextOffset == batch.header.baseOffset + 5)
            try await reopened.close()
        }
    }

    /// A sealed segment found damaged at open (its index is gone) from its first batch on holds
    /// no valid batch at all: offload reports it blocked, never mistakes the hole for another
    /// writer's log, and repair unblocks it.
    @Test func aSealedSegmentDamagedFromItsFirstBatchBlocksOffloadAndIsNotAFence() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic(Self.topicName, creatingWith: topicConfig(segmentBytes: 4096))
            for b in 0 ..< 100 { try await topic.append(offsetRecords(from: Int64(b * 5), count: 5)) }
            let victim = topic.segments()[1]
            try await lake.close()
            try CorruptTailTests.flip(victim.path, at: SegmentHeader.size + 70)
            try FileIO.remove(String(victim.path.dropLast(4)) + ".idx")

            let reopened = try Lake.open(dir, options: options)
            let damaged = try reopened.topic(Self.topicName)
            #expect(damaged.corruption?.file == victim.path)
            let report = try await reopened.offload()
            #expect(report.blocked.count == 1 && report.blocked.first?.contains(victim.path) == true, "\(report)")
            #expect(try await damaged.latestManifest()?.nextOffset == victim.baseOffset)
            // Its valid prefix is empty, so "committed up to its end" holds; eviction still keeps it.
            _ = try await reopened.offload(evict: true)
            #expect(FileIO.exists(victim.path))
            #expect(damaged.segments().first?.baseOffset == victim.baseOffset)
            _ = try await damaged.repairQuarantine()
            try await damaged.append(offsetRecords(from: victim.baseOffset, count: 5))
            let after = try await reopened.offload()
            #expect(after.blocked.isEmpty, "\(after)")
            #expect(try await damaged.latestManifest()?.nextOffset == victim.baseOffset + 5)
            try await reopened.close()
        }
    }

    /// Damage in a segment the cold tier already holds: cutting the hot log would make the
    /// tiers disagree, so repair refuses and changes nothing.
    @Test func repairRefusesWhenTheColdTierHoldsOffsetsPastTheDamage() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic(Self.topicName, creatingWith: topicConfig(segmentBytes: 4096))
            for b in 0 ..< 100 { try await topic.append(offsetRecords(from: Int64(b * 5), count: 5)) }
            _ = try await lake.offload(topic: Self.topicName)
            let victim = topic.segments()[0]
            let (_, scan) = try scanSegment(victim.path)
            try CorruptTailTests.flip(victim.path, at: scan.batches[1].position + 70)
            // Repair checkpoints the lake journal's entries of the log first (its segments are
            // fsynced and the journal file rolled and deleted): no data changes, so not compared.
            func data() -> [String: Int] { fileTree(dir).filter { !$0.key.hasPrefix("journal") } }
            let before = data()
            let error = await strataError { _ = try await topic.repairQuarantine() }
            #expect(error?.code == .invalidArgument && error?.file == victim.path, "\(String(describing: error))")
            #expect(data() == before)
            try await lake.close()
        }
    }

    // MARK: - Through the CLI

    static func strata(_ arguments: [String], stdin: String = "") throws -> CLIRun.Outcome {
        try CLIRun.strata(arguments, stdin: stdin)
    }

    @Test
    func cliRepairOfADirectoryThatIsNoLakeCreatesNothing() async throws {
        try await withTempDirectory { dir in
            let result = try Self.strata(["repair", "--lake", dir, "t", "--quarantine"])
            #expect(result.status == 2, "\(result)")
            #expect(result.stderr.contains("no lake at \(dir)"), "\(result)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        }
    }

    @Test
    func cliConsumeVerifyProduceAndRepairOfACorruptActiveSegment() async throws {
        try await withTempDirectory { dir in
            let (path, batches) = try await CorruptTailTests.fiveBatches(dir)
            try CorruptTailTests.flip(path, at: batches[2].position + 100)

            let five = try Self.strata(["consume", "--lake", dir, "t", "--count", "5"])
            #expect(five.status == 0 && five.stdout == (0 ..< 5).map { "v\($0)\n" }.joined(), "\(five)")
            let all = try Self.strata(["consume", "--lake", dir, "t"])
            #expect(all.status == 1, "\(all.stderr)")
            #expect(all.stdout == (0 ..< 2000).map { "v\($0)\n" }.joined())
            #expect(all.stderr.contains("corrupt") && all.stderr.contains(path))
            #expect(all.stderr.contains("position=\(batches[2].position)"))
            #expect(all.stderr.contains("strata repair"))

            let verify = try Self.strata(["inspect", "verify", "--lake", dir])
            #expect(verify.status == 1, "\(verify)")
            let line = "\(path) \(batches[2].position) corruptBatch"
            #expect((verify.stdout + verify.stderr).contains(line), "\(verify)")

            let produce = try Self.strata(["produce", "--lake", dir, "t"], stdin: "new\n")
            #expect(produce.status == 1, "\(produce)")
            #expect(produce.stderr.contains("appends are refused") && produce.stderr.contains("strata repair"))

            let noFlag = try Self.strata(["repair", "--lake", dir, "t"])
            #expect(noFlag.status != 0 && noFlag.stderr.contains("--quarantine"), "\(noFlag)")
            #expect(FileIO.fileSize(atPath: path) == batches[4].position + batches[4].header.batchLength)

            let repair = try Self.strata(["repair", "--lake", dir, "t", "--quarantine"])
            #expect(repair.status == 0, "\(repair)")
            let kept = dir + "/topics/t/quarantine/00000000000000000000.seg.damaged-\(batches[2].position)"
            #expect(repair.stdout.contains("moved \(path) bytes \(batches[2].position)..<"), "\(repair.stdout)")
            #expect(repair.stdout.contains(kept), "\(repair.stdout)")
            #expect(repair.stdout.contains("appends continue at offset 2000"))
            #expect(FileIO.exists(kept))

            let after = try Self.strata(["produce", "--lake", dir, "t"], stdin: "new\n")
            #expect(after.status == 0, "\(after)")
            let tail = try Self.strata(["consume", "--lake", dir, "t", "--from-offset", "1999"])
            #expect(tail.status == 0 && tail.stdout == "v1999\nnew\n", "\(tail)")
            let clean = try Self.strata(["inspect", "verify", "--lake", dir])
            #expect(clean.status == 0, "\(clean)")
            let nothing = try Self.strata(["repair", "--lake", dir, "t", "--quarantine"])
            #expect(nothing.status == 0 && nothing.stdout.contains("nothing moved"), "\(nothing)")
        }
    }

    @Test
    func cliOffloadReportsTheBlockedTopicExitsOneAndRepairUnblocksIt() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            let bad = try lake.topic("bad", creatingWith: topicConfig(segmentBytes: 4096))
            let good = try lake.topic("good", creatingWith: topicConfig(segmentBytes: 4096))
            for b in 0 ..< 200 {
                try await bad.append(offsetRecords(from: Int64(b * 5), count: 5))
                try await good.append(offsetRecords(from: Int64(b * 5), count: 5))
            }
            let victim = bad.segments()[0]
            try await lake.close()
            let (_, scan) = try scanSegment(victim.path)
            try CorruptTailTests.flip(victim.path, at: scan.batches[3].position + 70)

            let offload = try Self.strata(["offload", "--lake", dir])
            #expect(offload.status == 1, "\(offload)")
            #expect(
                offload.stderr.contains("offload blocked") && offload.stderr.contains(victim.path)
                    && offload.stderr.contains("strata repair"), "\(offload.stderr)")
            let goodManifest = dir + "/topics/good/manifest.json"
            #expect(FileIO.exists(goodManifest), "the healthy topic was not offloaded")
            // The records before the damage still read, through the CLI too.
            let five = try Self.strata(["consume", "--lake", dir, "bad", "--count", "5"])
            #expect(five.status == 0 && five.stdout == (0 ..< 5).map { "v\($0)\n" }.joined(), "\(five)")

            let repair = try Self.strata(["repair", "--lake", dir, "bad", "--quarantine"])
            #expect(repair.status == 0, "\(repair)")
            let resume = scan.batches[3].header.baseOffset
            #expect(repair.stdout.contains("appends continue at offset \(resume)"), "\(repair.stdout)")
            let again = try Self.strata(["offload", "--lake", dir])
            #expect(again.status == 0, "\(again)")
            #expect(FileIO.exists(dir + "/topics/bad/manifest.json"))
        }
    }
}
