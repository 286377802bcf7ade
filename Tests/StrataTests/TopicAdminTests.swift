import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Topic administration (issue 12 item 11): create, describe, alter-config, delete, and
/// DeleteRecords, through the library.
@Suite struct TopicAdminTests {
    static let name = ColdFixture.topicName

    /// A lake on `store` (a memory store by default) in a fresh directory, removed afterwards.
    static func withLake<T>(
        store: any BlobStore = MemoryBlobStore(), _ body: (Lake, String) async throws -> T
    ) async throws -> T {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        do {
            let result = try await body(lake, dir)
            try await lake.close()
            return result
        } catch {
            try await lake.close()
            throw error
        }
    }

    static func small() -> TopicConfig { ColdFixture.smallSegments(segmentBytes: 4 * 1024, frameBytes: 1024) }

    // MARK: - create

    @Test func createRefusesAnExistingTopicAndAnInvalidConfigChangingNothing() async throws {
        try await Self.withLake { lake, dir in
            var bad = TopicConfig()
            bad.segmentBytes = 10
            let invalid = await strataError { _ = try await lake.createTopic(Self.name, config: bad) }
            #expect(invalid?.code == .invalidArgument && invalid?.message.contains("segmentBytes") == true)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + Self.name))

            let topic = try await lake.createTopic(Self.name, config: Self.small())
            #expect(topic.config == Self.small())
            try await topic.append(offsetRecords(from: 0, count: 3))
            let before = fileTree(dir + "/topics")
            let again = await strataError { _ = try await lake.createTopic(Self.name, config: TopicConfig()) }
            #expect(again?.code == .invalidArgument && again?.message.contains("already exists") == true)
            #expect(fileTree(dir + "/topics") == before)
            #expect(try lake.topic(Self.name).config == Self.small())
        }
    }

    /// A name the cold store already holds would start a second log at offset 0 on top of it.
    @Test func createRefusesATopicTheColdStoreAlreadyHolds() async throws {
        let store = MemoryBlobStore()
        try await Self.withLake(store: store) { lake, _ in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 500, batch: 50)
            _ = try await lake.offload()
        }
        try await Self.withLake(store: store) { other, dir in
            let error = await strataError { _ = try await other.createTopic(Self.name, config: Self.small()) }
            #expect(error?.code == .invalidArgument && error?.message.contains("strata recover") == true)
            let names = try other.topicNames()
            #expect(names.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + Self.name))
        }
    }

    // MARK: - describe

    @Test func describeReportsConfigAndOffsetsOfEachTier() async throws {
        try await Self.withLake { lake, _ in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 2_000, batch: 100)
            _ = try await lake.offload(evict: true)
            try await ColdFixture.produce(topic, 2_000 ..< 2_100, batch: 100)
            let d = try await lake.describeTopic(Self.name)
            #expect(d.config == Self.small())
            #expect(d.logStartOffset == 0 && d.highWatermark == 2_100)
            #expect(d.localStartOffset == 2_000 && d.localSegmentCount == 1 && d.localBytes > 0)
            let cold = try #require(d.cold)
            #expect(cold.logStartOffset == 0 && cold.nextOffset == 2_000 && cold.segmentCount > 1)
            #expect(d.coldError == nil)
        }
    }

    @Test func describeShowsTheHotTierWhenTheColdStoreIsDown() async throws {
        let faulty = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: .none, seed: 1)
        try await Self.withLake(store: faulty) { lake, dir in
            _ = try await lake.createTopic(Self.name, config: Self.small())
            try await lake.topic(Self.name).append(offsetRecords(from: 0, count: 10))
            // No manifest cached and no local copy: describing must ask the store, which fails.
            faulty.setPlan(FaultPlan(unavailableFraction: 1))
            let d = try await lake.describeTopic(Self.name)
            #expect(d.highWatermark == 10 && d.localStartOffset == 0 && d.localSegmentCount == 1)
            #expect(d.cold == nil)
            #expect(d.coldError?.code == .io)
        }
    }

    // MARK: - alter-config

    @Test func alterConfigRejectsBadKeysAndValuesNamingTheKeyAndChangesNothing() async throws {
        try await Self.withLake { lake, dir in
            _ = try await lake.createTopic(Self.name, config: Self.small())
            let file = dir + "/catalog/00000000000000000000.log"
            let stored = try Data(contentsOf: URL(fileURLWithPath: file))
            let cases: [([(key: String, value: String)], String)] = [
                ([("segmentMs", "60000"), ("nosuchKey", "1")], "nosuchKey"),
                ([("segmentBytes", "big")], "segmentBytes"),
                ([("durability", "maybe")], "durability"),
                ([("segmentBytes", "10")], "segmentBytes"),
                ([("recordBytesMax", "99999999999")], "recordBytesMax"),
                ([("segmentMs", "0")], "segmentMs"),
                ([("retentionMs", "1"), ("retention.ms", "2")], "retentionMs"),
            ]
            for (changes, key) in cases {
                let error = await strataError { _ = try await lake.alterTopicConfig(Self.name, set: changes) }
                #expect(error?.code == .invalidArgument, "\(changes)")
                #expect(error?.message.contains(key) == true, "\(changes): \(error?.message ?? "")")
                #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == stored, "\(changes)")
            }
            #expect(try lake.topic(Self.name).config == Self.small())
        }
    }

    @Test func alterConfigWritesTheCatalogAndTheChangeAppliesAtOnceAndAfterReopen() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        do {
            let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
            let old = try await lake.createTopic(Self.name, config: Self.small())
            try await old.append(offsetRecords(from: 0, count: 10))
            let changes = try await lake.alterTopicConfig(
                Self.name,
                set: [
                    ("segment.bytes", "2048"), ("durability", "sync"), ("retentionMs", "none"),
                    ("localRetentionBytes", "4096"), ("retention.bytes", "1000000000"),
                ])
            // retentionMs was already unbounded: only real changes are reported, each with its effect.
            #expect(changes.map(\.key.name) == ["segmentBytes", "durability", "localRetentionBytes", "retentionBytes"])
            #expect(changes.first?.oldValue == "4096" && changes.first?.newValue == "2048")
            #expect(changes.allSatisfy { $0.key.effect == .atOnce })
            // The handle taken before the change is closed; a new one has the new config.
            let stale = await strataError { try await old.append(offsetRecords(from: 10, count: 1)) }
            #expect(stale?.code == .closed)
            let topic = try lake.topic(Self.name)
            #expect(topic.config.segmentBytes == 2048 && topic.config.durability == .sync)
            #expect(topic.config.localRetentionBytes == 4096)
            #expect(topic.highWatermark == 10)
            // The smaller segment size applies to the active segment at the next appends.
            for _ in 0 ..< 10 { try await topic.append([ProducerRecord(value: Array(repeating: 7, count: 400))]) }
            #expect(topic.segments().count >= 2)
            #expect(topic.segments().dropLast().allSatisfy { $0.bytes <= 2048 })
            // The next manifest carries the new settings for the bucket's readers.
            _ = try await lake.offload()
            #expect(try await ColdFixture.storedManifest(store)?.config.retentionBytes == 1_000_000_000)
            try await lake.close()
        }
        let reopened = try Lake.open(dir, options: ColdFixture.options(store: store))
        let topic = try reopened.topic(Self.name)
        #expect(topic.config.segmentBytes == 2048 && topic.config.durability == .sync)
        var cursor = try await Cursor(topic: topic, start: .earliest)
        #expect(try await ColdFixture.readAll(&cursor, until: 20).count == 20)
        // localRetentionBytes=4096 applied: the offloaded segments beyond it left the disk.
        #expect(topic.segments().reduce(0) { $0 + ($1.sealed ? $1.bytes : 0) } <= 4096)
        try await reopened.close()
    }

    // MARK: - delete

    @Test func deleteTopicKeepsItsQuarantineOutsideTheTopic() async throws {
        try await Self.withLake(store: MemoryBlobStore()) { lake, dir in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await topic.append(offsetRecords(from: 0, count: 10))
            let quarantine = dir + "/topics/\(Self.name)/quarantine"
            try FileManager.default.createDirectory(atPath: quarantine, withIntermediateDirectories: true)
            let kept: [UInt8] = Array("damaged bytes an operator may want".utf8)
            try Data(kept).write(to: URL(fileURLWithPath: quarantine + "/00000000000000000000.seg.torn-64"))
            let deletion = try await lake.deleteTopic(Self.name)
            let moved = try #require(deletion.quarantineKept)
            #expect(moved.hasPrefix(dir + "/quarantine/\(Self.name).deleted-"))
            #expect(FileManager.default.contents(atPath: moved + "/00000000000000000000.seg.torn-64") == Data(kept))
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + Self.name))
        }
    }

    @Test func deleteTopicRemovesBothTiersAndTheNameCanBeCreatedAgain() async throws {
        let store = RecordingBlobStore(MemoryBlobStore())
        try await Self.withLake(store: store) { lake, dir in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 1_000, batch: 100)
            _ = try await lake.offload(evict: true)
            var cursor = try await Cursor(topic: topic, start: .earliest)
            _ = try await ColdFixture.readAll(&cursor, until: 1_000)  // from the cold tier: warms its caches
            let keep = try await lake.createTopic("other", config: Self.small())
            try await keep.append(offsetRecords(from: 0, count: 5))
            _ = try await lake.offload(topic: "other")

            let firstObject = try #require(try await topic.coldSegments().first)
            let callsBefore = store.log.count
            let deletion = try await lake.deleteTopic(Self.name)
            // Manifests go first, so no manifest ever names a deleted object.
            let deleted = store.log.dropFirst(callsBefore).compactMap { call -> [String]? in
                if case .delete(let keys) = call { return keys } else { return nil }
            }
            let lastManifest = try #require(deleted.lastIndex { $0.contains { $0.contains("/manifest/") } })
            let firstObjectDeleted = try #require(deleted.firstIndex { $0.contains { $0.hasSuffix(".seg.zst") } })
            #expect(lastManifest < firstObjectDeleted, "\(deleted)")
            #expect(deletion.coldObjectsDeleted > 2 && deletion.localFilesDeleted >= 2)
            #expect(try lake.topicNames() == ["other"])
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + Self.name))
            #expect(try await ColdFixture.keys(store, prefix: "topics/\(Self.name)/").isEmpty)
            #expect(try await !ColdFixture.keys(store, prefix: "topics/other/").isEmpty)
            let gone = await strataError { _ = try await lake.deleteTopic(Self.name) }
            #expect(gone?.code == .notFound)

            // Same name, same offsets, same object key: nothing of the old topic may come back
            // (the lake cached the old object's footer and frames under that key).
            let again = try await lake.createTopic(Self.name, config: Self.small())
            #expect(again.highWatermark == 0)
            let count = Int(firstObject.recordCount)
            try await again.append((0 ..< count).map { ProducerRecord(value: bytes("new-\($0)")) })
            _ = try await lake.offload(evict: true)
            #expect(try await again.coldSegments().first?.key == firstObject.key)
            var fresh = try await Cursor(topic: again, start: .earliest)
            let records = try await ColdFixture.readAll(&fresh, until: Int64(count))
            #expect(records.map { string($0.value) } == (0 ..< count).map { "new-\($0)" })
            let report = try await lake.verify()
            #expect(report.problems.isEmpty, "\(report.problems)")
        }
    }

    /// A delete that fails half-way (the store refuses deletes) leaves the topic gone for
    /// readers and writers, and deleting again finishes it.
    @Test func anInterruptedDeleteIsFinishedByDeletingAgain() async throws {
        let faulty = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: .none, seed: 2)
        try await Self.withLake(store: faulty) { lake, dir in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 500, batch: 50)
            _ = try await lake.offload()
            faulty.setPlan(FaultPlan(unavailableFraction: 1, unavailableOperations: [.delete]))
            let failed = await strataError { _ = try await lake.deleteTopic(Self.name) }
            #expect(failed?.code == .io)
            #expect(try lake.topicNames().isEmpty)
            let read = strataError { _ = try lake.topic(Self.name) }
            #expect(read?.code == .notFound)
            let produce = strataError { _ = try lake.topic(Self.name, creatingWith: nil) }
            #expect(produce?.code == .invalidArgument && produce?.message.contains("being deleted") == true)
            let create = await strataError { _ = try await lake.createTopic(Self.name, config: Self.small()) }
            #expect(create?.code == .invalidArgument)

            faulty.setPlan(.none)
            _ = try await lake.deleteTopic(Self.name)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + Self.name))
            #expect(try await ColdFixture.keys(faulty, prefix: "topics/\(Self.name)/").isEmpty)
        }
    }

    // MARK: - delete-records

    @Test func deleteRecordsAdvancesTheLogStartInBothTiersAndAcrossRestarts() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let target: Int64
        do {
            let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 3_000, batch: 100)
            _ = try await lake.offload()
            let before = try #require(try await ColdFixture.storedManifest(store))
            #expect(before.segments.count > 4)
            // Inside the third cold segment, so two segments lie wholly below it.
            let third = before.segments[2]
            target = third.baseOffset + (third.lastOffset - third.baseOffset) / 2
            let result = try await topic.deleteRecords(before: target)
            #expect(result.previousLogStartOffset == 0 && result.logStartOffset == target)
            #expect(result.localSegmentsDeleted == 2 && result.coldObjectsDeleted == 2)

            let after = try #require(try await ColdFixture.storedManifest(store))
            #expect(after.version == before.version + 1 && result.manifestVersion == after.version)
            #expect(after.logStartOffset == target && after.segments.first == third)
            for removed in before.segments.prefix(2) {
                let gone = await #expect(throws: BlobError.self) { _ = try await store.head(removed.key) }
                #expect(gone?.code == .notFound)
            }
            #expect(topic.segments().first?.baseOffset == third.baseOffset)
            #expect(try await topic.logStartOffset() == target)
            for offset in [0, target - 1] {
                let below = await strataError { _ = try await topic.read(from: offset) }
                #expect(below?.code == .offsetOutOfRange && below?.validRange == target ... 3_000)
            }
            let first = try await topic.read(from: target).records.first
            #expect(first == ColdFixture.expected(Int(target)))
            var earliest = try await Cursor(topic: topic, start: .earliest)
            #expect(earliest.nextOffset == target)
            #expect(try await earliest.next().first?.offset == target)
            let seek = try await Cursor(topic: topic, start: .timestamp(0))
            #expect(seek.nextOffset == target)
            // Again, or lower: nothing changes.
            let again = try await topic.deleteRecords(before: 5)
            #expect(again.logStartOffset == target && again.manifestVersion == nil)
            try await lake.close()
        }
        // The bucket's readers see the new log start too.
        let log = try ColdLog.open(
            "file:///unused",
            options: {
                var o = ColdLogOptions()
                o.store = store
                return o
            }())
        #expect(try await log.offsets(Self.name) == target ..< 3_000)
        // And a restarted lake still refuses the deleted records, even those left in a local segment.
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        let topic = try lake.topic(Self.name)
        #expect(topic.localStartOffset == target)
        let below = await strataError { _ = try await topic.read(from: target - 1) }
        #expect(below?.code == .offsetOutOfRange)
        let report = try await lake.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        try await lake.close()
    }

    /// The log start is written before either tier changes: when the manifest commit fails, the
    /// records are already unreadable, and the same call later finishes the work.
    @Test func aFailedManifestCommitStillHidesTheRecordsAndRetryingFinishes() async throws {
        let faulty = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: .none, seed: 3)
        try await Self.withLake(store: faulty) { lake, _ in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 2_000, batch: 100)
            _ = try await lake.offload(evict: true)
            let before = try #require(try await ColdFixture.storedManifest(faulty))
            faulty.setPlan(FaultPlan(unavailableFraction: 1, unavailableOperations: [.put]))
            let failed = await strataError { _ = try await topic.deleteRecords(before: 1_000) }
            #expect(failed?.code == .io)
            #expect(try await ColdFixture.storedManifest(faulty)?.version == before.version)
            let below = await strataError { _ = try await topic.read(from: 0) }
            #expect(below?.code == .offsetOutOfRange)
            #expect(try await topic.logStartOffset() == 1_000)

            faulty.setPlan(.none)
            let done = try await topic.deleteRecords(before: 1_000)
            #expect(done.manifestVersion == before.version + 1 && done.coldObjectsDeleted > 0)
            #expect(try await ColdFixture.storedManifest(faulty)?.logStartOffset == 1_000)
            #expect(try await topic.read(from: 1_000).records.first == ColdFixture.expected(1_000))
        }
    }

    /// Segments spilled into archive manifests leave with their archive once wholly below.
    @Test func deleteRecordsDropsArchivesWhollyBelowTheNewLogStart() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        var options = ColdFixture.options(store: store)
        options.manifestSegmentsMax = 4
        let lake = try Lake.open(dir, options: options)
        let topic = try await lake.createTopic(Self.name, config: Self.small())
        for start in stride(from: 0, to: 4_000, by: 500) {
            try await ColdFixture.produce(topic, start ..< (start + 500), batch: 100)
            _ = try await lake.offload(evict: true)
        }
        let before = try #require(try await ColdFixture.storedManifest(store))
        #expect(before.archives.count >= 2)
        let firstArchive = before.archives[0]
        let archived = try await ColdFixture.allSegments(before, store: store).filter {
            $0.lastOffset <= firstArchive.lastOffset
        }
        let target = before.archives[1].baseOffset + 1
        let result = try await topic.deleteRecords(before: target)
        #expect(result.coldObjectsDeleted == archived.count + 1)
        let after = try #require(try await ColdFixture.storedManifest(store))
        #expect(after.archives.first == before.archives[1] && after.logStartOffset == target)
        for key in [firstArchive.key] + archived.map(\.key) {
            let gone = await #expect(throws: BlobError.self) { _ = try await store.head(key) }
            #expect(gone?.code == .notFound, "\(key)")
        }
        var cursor = try await Cursor(topic: topic, start: .earliest)
        let records = try await ColdFixture.readAll(&cursor, until: 4_000)
        #expect(ColdFixture.firstMismatch(records, Int(target) ..< 4_000) == nil)
        let report = try await lake.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        try await lake.close()
    }

    @Test func deleteRecordsOutsideTheLogIsATypedErrorThatChangesNothing() async throws {
        let store = MemoryBlobStore()
        try await Self.withLake(store: store) { lake, dir in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 1_000, batch: 100)
            _ = try await lake.offload()
            let tree = fileTree(dir)
            let keys = try await ColdFixture.keys(store, prefix: "")
            for offset: Int64 in [-1, 1_001, Int64.max] {
                let error = await strataError { _ = try await topic.deleteRecords(before: offset) }
                #expect(error?.code == .offsetOutOfRange && error?.validRange == 0 ... 1_000, "\(offset)")
            }
            #expect(fileTree(dir) == tree)
            #expect(try await ColdFixture.keys(store, prefix: "") == keys)
            #expect(try await topic.logStartOffset() == 0)
        }
    }

    /// Records never offloaded are deleted without an upload, and the cold log resumes where the
    /// hot one does, with the log start the lake set: no gap, no record below it readable.
    @Test func deleteRecordsBeyondTheColdTierKeepsBothTiersConsistent() async throws {
        let store = MemoryBlobStore()
        try await Self.withLake(store: store) { lake, _ in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 1_000, batch: 100)
            _ = try await lake.offload()
            try await ColdFixture.produce(topic, 1_000 ..< 3_000, batch: 100)  // sealed, not offloaded
            let sealed = topic.segments().filter { $0.sealed && $0.baseOffset >= 1_000 }
            #expect(sealed.count > 3)
            let target = sealed[2].baseOffset + 10
            let result = try await topic.deleteRecords(before: target)
            #expect(result.logStartOffset == target)
            let emptied = try #require(try await ColdFixture.storedManifest(store))
            #expect(emptied.segments.isEmpty && emptied.logStartOffset == sealed[2].baseOffset)
            #expect(try await ColdFixture.keys(store, prefix: "topics/\(Self.name)/segments/").isEmpty)

            let report = try await lake.offload(evict: true)
            #expect(report.segmentsOffloaded >= 1)
            let resumed = try #require(try await ColdFixture.storedManifest(store))
            #expect(resumed.segments.first?.baseOffset == sealed[2].baseOffset && resumed.logStartOffset == target)
            let below = await strataError { _ = try await topic.read(from: target - 1) }
            #expect(below?.code == .offsetOutOfRange)
            var cursor = try await Cursor(topic: topic, start: .earliest)
            let records = try await ColdFixture.readAll(&cursor, until: 3_000)
            #expect(ColdFixture.firstMismatch(records, Int(target) ..< 3_000) == nil)
            let verify = try await lake.verify()
            #expect(verify.problems.isEmpty, "\(verify.problems)")
        }
    }

    /// Deleting up to the high watermark rolls the active segment so its disk space goes too;
    /// appends carry on at the high watermark.
    @Test func deleteRecordsUpToTheHighWatermarkEmptiesTheTopic() async throws {
        try await Self.withLake { lake, _ in
            let topic = try await lake.createTopic(Self.name, config: Self.small())
            try await ColdFixture.produce(topic, 0 ..< 800, batch: 100)
            let result = try await topic.deleteRecords(before: 800)
            #expect(result.logStartOffset == 800 && result.localSegmentsDeleted >= 1)
            #expect(topic.segments().count == 1 && topic.segments()[0].baseOffset == 800)
            let read = try await topic.read(from: 800)
            #expect(read.records.isEmpty && read.highWatermark == 800)
            let appended = try await topic.append(offsetRecords(from: 800, count: 2))
            #expect(appended.firstOffset == 800)
            #expect(try await topic.read(from: 800).records.map { string($0.value) } == ["v800", "v801"])
        }
    }
}

/// The same commands through the `strata` binary, as an operator types them.
@Suite
struct TopicAdminCLITests {
    static func lines(_ count: Int) -> String { (0 ..< count).map { "line-\($0)\n" }.joined() }

    static func json(_ text: String) throws -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(text)")
    }

    @Test func createDescribeAlterAndDeleteATopic() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let created = try CLIRun.strata([
                "topics", "create", "--lake", lake, "clicks", "--segment-bytes", "2048",
                "--set", "retention.ms=604800000",
            ])
            #expect(created.status == 0, "\(created.stderr)")
            let twice = try CLIRun.strata(["topics", "create", "--lake", lake, "clicks"])
            #expect(twice.status == 2 && twice.stderr.contains("already exists"))
            let badKey = try CLIRun.strata(["topics", "create", "--lake", lake, "views", "--set", "colour=red"])
            #expect(badKey.status == 2 && badKey.stderr.contains("'colour'"))

            #expect(try CLIRun.strata(["produce", "--lake", lake, "clicks"], stdin: Self.lines(300)).status == 0)
            #expect(try CLIRun.strata(["offload", "--lake", lake]).status == 0)
            let described = try CLIRun.strata(["topics", "describe", "--lake", lake, "clicks", "--json"])
            #expect(described.status == 0, "\(described.stderr)")
            let d = try Self.json(described.stdout)
            #expect(d["highWatermark"] as? Int == 300 && d["logStartOffset"] as? Int == 0)
            #expect((d["cold"] as? [String: Any])?["nextOffset"] as? Int == 300)
            #expect((d["config"] as? [String: Any])?["segmentBytes"] as? Int == 2048)
            #expect((d["config"] as? [String: Any])?["retentionMs"] as? Int == 604_800_000)
            let text = try CLIRun.strata(["topics", "describe", "--lake", lake])
            #expect(text.status == 0 && text.stdout.contains("topic clicks: LOG-START 0  HIGH-WATERMARK 300"))

            let bad = try CLIRun.strata([
                "topics", "alter-config", "--lake", lake, "clicks", "--set", "segmentBytes=tiny",
            ])
            #expect(bad.status == 2 && bad.stderr.contains("segmentBytes"))
            let altered = try CLIRun.strata([
                "topics", "alter-config", "--lake", lake, "clicks",
                "--set", "segmentBytes=8192", "--set", "durability=async",
            ])
            #expect(altered.status == 0, "\(altered.stderr)")
            #expect(altered.stdout.contains("segmentBytes 2048 -> 8192 (applies at once)"))
            let after = try Self.json(
                try CLIRun.strata(["topics", "describe", "--lake", lake, "clicks", "--json"]).stdout)
            #expect((after["config"] as? [String: Any])?["durability"] as? String == "async")

            let deleted = try CLIRun.strata(["topics", "delete", "--lake", lake, "clicks"])
            #expect(deleted.status == 0, "\(deleted.stderr)")
            #expect(!FileManager.default.fileExists(atPath: lake + "/topics/clicks"))
            #expect(
                (try? FileManager.default.subpathsOfDirectory(atPath: lake + "/cold/topics/clicks"))?
                    .allSatisfy { !$0.hasSuffix(".json") && !$0.hasSuffix(".zst") } ?? true)
            let missing = try CLIRun.strata(["topics", "describe", "--lake", lake, "clicks"])
            #expect(missing.status == 2)
            let noLake = try CLIRun.strata(["topics", "describe", "--lake", dir + "/nothing"])
            #expect(noLake.status == 2 && !FileManager.default.fileExists(atPath: dir + "/nothing"))
        }
    }

    /// `produce --segment-bytes` on a topic stored with another value is an error naming the
    /// flag and the alter-config command, and appends nothing; the same value is fine.
    @Test func configFlagsThatDisagreeWithAnExistingTopicAreAnError() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            #expect(
                try CLIRun.strata(["produce", "--lake", lake, "t", "--segment-bytes", "4096"], stdin: "a\n").status == 0
            )
            let differs = try CLIRun.strata(
                ["produce", "--lake", lake, "t", "--segment-bytes", "1048576"], stdin: "b\n")
            #expect(differs.status == 2)
            #expect(
                differs.stderr.contains("--segment-bytes 1048576") && differs.stderr.contains("topics alter-config"))
            let durability = try CLIRun.strata(["produce", "--lake", lake, "t", "--durability", "async"], stdin: "b\n")
            #expect(durability.status == 2 && durability.stderr.contains("--durability"))
            let same = try CLIRun.strata(
                ["produce", "--lake", lake, "t", "--segment-bytes", "4096", "--durability", "sync"],
                stdin: "c\n")
            #expect(same.status == 0, "\(same.stderr)")
            let all = try CLIRun.strata(["consume", "--lake", lake, "t"])
            #expect(all.stdout == "a\nc\n")
        }
    }

    @Test func deleteRecordsAdvancesTheLogStart() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            #expect(
                try CLIRun.strata(["topics", "create", "--lake", lake, "t", "--segment-bytes", "1024"]).status == 0)
            for _ in 0 ..< 4 {
                #expect(try CLIRun.strata(["produce", "--lake", lake, "t"], stdin: Self.lines(100)).status == 0)
            }
            #expect(try CLIRun.strata(["offload", "--lake", lake]).status == 0)
            let out = try CLIRun.strata(["delete-records", "--lake", lake, "t", "--before", "250"])
            #expect(out.status == 0, "\(out.stderr)")
            let result = try Self.json(out.stdout)
            #expect(result["logStartOffset"] as? Int == 250 && result["previousLogStartOffset"] as? Int == 0)
            #expect(
                (result["localSegmentsDeleted"] as? Int ?? 0) >= 1 && (result["coldObjectsDeleted"] as? Int ?? 0) >= 1)
            let below = try CLIRun.strata(["consume", "--lake", lake, "t", "--from-offset", "249"])
            #expect(below.status == 2 && below.stderr.contains("offsetOutOfRange"))
            let first = try CLIRun.strata(["consume", "--lake", lake, "t", "--count", "1"])
            #expect(first.stdout == "line-50\n")
            let beyond = try CLIRun.strata(["delete-records", "--lake", lake, "t", "--before", "401"])
            #expect(beyond.status == 2 && beyond.stderr.contains("nothing was changed"))
            let exported = try CLIRun.strata(["export", "--cold", "file://" + lake + "/cold", "t"])
            #expect(exported.status == 0, "\(exported.stderr)")
            #expect(!exported.stdout.contains("\"offset\":249,") && exported.stdout.contains("\"offset\":250,"))
            let verify = try CLIRun.strata(["inspect", "verify", "--lake", lake])
            #expect(verify.status == 0, "\(verify.stdout)")
        }
    }
}
