import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Partitions in the engine (issue 13 §1, formats/bucket-layout.md "Partitions"): a topic has a
/// partition count that grows and never shrinks, each partition is its own dense log, and the
/// layout keeps partition 0 where every topic always lived.
@Suite struct PartitionTests {
    static let topic = "orders"

    static func values(_ records: [Record]) -> [String] {
        records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
    }

    static func produce(_ log: Topic, _ values: [String]) async throws -> AppendResult {
        try await log.append(values.map { ProducerRecord(value: Array($0.utf8)) })
    }

    // MARK: - the layout vector

    struct LayoutVector: Decodable {
        struct Log: Decodable {
            var topic: String
            var partition: Int32
            var log: String
            var manifestKey: String
            var segmentKey: String
            var archiveKey: String
            var localDirectory: String
            var hotSegment: String
        }
        var prefix: String
        var logs: [Log]
        var rejectedLogNames: [String]
        var logComponents: [String: String]
    }

    @Test func keysAndPathsAreThoseOfTheLayoutVector() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("formats/vectors/partition-layout.json")
        let vector = try JSONDecoder().decode(LayoutVector.self, from: Data(contentsOf: url))
        let layout = BucketLayout(prefix: vector.prefix)
        let paths = LakePaths(root: "/lake")
        for expected in vector.logs {
            let log = try LogName(topic: expected.topic, partition: expected.partition)
            #expect(log.description == expected.log)
            #expect(try LogName.parse(expected.log) == log)
            let name = log.description
            #expect(layout.manifestKey(topic: name, version: 7) == expected.manifestKey)
            #expect(layout.segmentKey(topic: name, baseOffset: 0, lastOffset: 99) == expected.segmentKey)
            #expect(layout.archiveKey(topic: name, baseOffset: 0, lastOffset: 99) == expected.archiveKey)
            #expect(paths.topicDirectory(name) == "/lake/" + expected.localDirectory)
            #expect(paths.segment(name, baseOffset: 100) == "/lake/" + expected.hotSegment)
            // Every key parses back to its own log, and only to it.
            #expect(layout.parseManifestKey(expected.manifestKey)?.topic == expected.log)
            #expect(layout.logComponent(of: expected.segmentKey) == expected.log)
            #expect((try? layout.parseSegmentKey(expected.segmentKey, topic: name))?.lastOffset == 99)
        }
        for rejected in vector.rejectedLogNames {
            #expect(!LogName.isValid(rejected), "\(rejected)")
        }
        for (key, log) in vector.logComponents { #expect(layout.logComponent(of: key) == log, "\(key)") }
    }

    // MARK: - the library

    @Test func eachPartitionIsItsOwnDenseLogAndTheCountSurvivesAReopen() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        do {
            let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
            let zero = try await lake.createTopic(Self.topic, config: TopicConfig(), partitions: 4)
            #expect(zero.partition == 0 && zero.topicName == Self.topic && zero.name == Self.topic)
            let two = try lake.partition(Self.topic, 2)
            #expect(two.name == "orders/2" && two.partition == 2 && two.topicName == Self.topic)
            #expect(try await Self.produce(two, ["a", "b", "c"]) == AppendResult(firstOffset: 0, lastOffset: 2))
            #expect(try await Self.produce(zero, ["x"]) == AppendResult(firstOffset: 0, lastOffset: 0))
            #expect(try await Self.produce(two, ["d"]) == AppendResult(firstOffset: 3, lastOffset: 3))
            #expect(try lake.partitionCount(Self.topic) == 4)
            #expect(try lake.topicNames() == [Self.topic])
            #expect(try lake.logNames() == [Self.topic, "orders/2"])  // partitions 1 and 3 were never used
            #expect(FileManager.default.fileExists(atPath: dir + "/topics/orders/2/00000000000000000000.seg"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/orders/1"))
            try await lake.close()
        }
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        #expect(try lake.partitionCount(Self.topic) == 4)
        #expect(Self.values(try readAll(try lake.partition(Self.topic, 2))) == ["a", "b", "c", "d"])
        #expect(Self.values(try readAll(try lake.topic(Self.topic))) == ["x"])
        #expect(try lake.partition(Self.topic, 3).highWatermark == 0)
        let beyond = strataError { _ = try lake.partition(Self.topic, 4) }
        #expect(beyond?.code == .notFound && beyond?.message.contains("4 partitions") == true)
        #expect(strataError { _ = try lake.partition(Self.topic, -1) }?.code == .invalidArgument)
        #expect(strataError { _ = try lake.partition("missing", 1) }?.code == .notFound)
        #expect(try lake.log("orders/2").partition == 2)
        #expect(strataError { _ = try lake.log("orders/02") }?.code == .invalidArgument)
        try await lake.close()
    }

    @Test func aOnePartitionTopicLooksAsTopicsAlwaysDid() async throws {
        try await ColdFixture.withLake { lake, dir in
            _ = try await lake.createTopic(Self.topic, config: TopicConfig())
            let entries = try FileManager.default.contentsOfDirectory(atPath: dir + "/topics/orders").sorted()
            #expect(entries == ["00000000000000000000.seg"])  // what the topic is lives in the catalog
            #expect(try lake.partitionCount(Self.topic) == 1)
            #expect(try await lake.describeTopic(Self.topic).partitions == 1)
        }
    }

    @Test func partitionsGrowAndNeverShrink() async throws {
        try await ColdFixture.withLake { lake, dir in
            _ = try await lake.createTopic(Self.topic, config: TopicConfig(), partitions: 2)
            let shrink = await strataError { try await lake.createPartitions(Self.topic, count: 1) }
            #expect(shrink?.code == .invalidArgument && shrink?.message.contains("never shrink") == true)
            #expect(try lake.partitionCount(Self.topic) == 2)
            try await lake.createPartitions(Self.topic, count: 2)  // the same count: nothing to do
            try await lake.createPartitions(Self.topic, count: 5)
            #expect(try lake.partitionCount(Self.topic) == 5)
            #expect(try Catalog.openReader(LakePaths(root: dir), log: { _ in }).partitionCount(Self.topic) == 5)
            _ = try await Self.produce(try lake.partition(Self.topic, 4), ["new"])
            let tooMany = await strataError { try await lake.createPartitions(Self.topic, count: 100_001) }
            #expect(tooMany?.code == .invalidArgument)
            let none = await strataError {
                _ = try await lake.createTopic("zero", config: TopicConfig(), partitions: 0)
            }
            #expect(none?.code == .invalidArgument)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/zero"))
        }
    }

    @Test func aDamagedPartitionCountIsReportedNotGuessed() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        do {
            let lake = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore()))
            _ = try await lake.createTopic(Self.topic, config: TopicConfig(), partitions: 3)
            try await lake.close()
        }
        // The lake as one written before the catalog, whose `partitions` file is damaged.
        try FileManager.default.removeItem(atPath: dir + "/catalog")
        try Data(try encodeJSON(TopicConfig())).write(to: URL(fileURLWithPath: dir + "/topics/orders/topic.json"))
        try "three\n".write(toFile: dir + "/topics/orders/partitions", atomically: true, encoding: .utf8)
        let error = strataError { _ = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore())) }
        #expect(error?.code == .corrupt && error?.file?.hasSuffix("topics/orders/partitions") == true)
        #expect(try String(contentsOfFile: dir + "/topics/orders/partitions", encoding: .utf8) == "three\n")
        // A reader opens the lake and reports the damage for that topic only.
        let reader = try Lake.openReadOnly(dir, options: ColdFixture.options(store: MemoryBlobStore()))
        let counted = strataError { _ = try reader.partitionCount(Self.topic) }
        #expect(counted?.code == .corrupt && counted?.file?.hasSuffix("topics/orders/partitions") == true)
    }

    // MARK: - both tiers

    @Test func aPartitionOffloadsUnderItsOwnKeysAndReadsBackFromTheColdTier() async throws {
        let store = MemoryBlobStore()
        try await ColdFixture.withLake(store: store) { lake, dir in
            let config = ColdFixture.smallSegments(segmentBytes: 4 * 1024, frameBytes: 1024)
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 3)
            let two = try lake.partition(Self.topic, 2)
            try await ColdFixture.produce(two, 0 ..< 600, batch: 50)
            try await ColdFixture.produce(try lake.topic(Self.topic), 0 ..< 100, batch: 50)
            _ = try await lake.offload(topic: Self.topic, evict: true)
            let keys = try await store.listAll(prefix: "topics/").map(\.key)
            #expect(keys.contains { $0.hasPrefix("topics/orders/2/segments/") })
            #expect(keys.contains { $0.hasPrefix("topics/orders/2/manifest/") })
            #expect(keys.contains { $0.hasPrefix("topics/orders/segments/") })
            #expect(!keys.contains { $0.hasPrefix("topics/orders/1/") })
            let manifest = try #require(try await two.latestManifest(refresh: true))
            #expect(manifest.topic == "orders/2")
            #expect(two.localStartOffset > 0)  // evicted: offset 0 is only in the cold tier
            var cursor = try await Cursor(topic: two, start: .offset(0))
            let records = try await ColdFixture.readAll(&cursor, until: 600)
            #expect(records == (0 ..< 600).map(ColdFixture.expected))
            let report = try await lake.scrub(deleteOrphans: false)
            // Old manifest versions are pruned later and only reported; nothing else is found: no
            // partition key reads as foreign to partition 0 or to the topic.
            let findings = report.findings.filter { $0.kind != .oldManifest }
            #expect(findings.isEmpty, "\(findings)")
            #expect(Set(report.findings.map(\.topic)) == ["orders", "orders/2"])
            let verify = try await lake.verify(topic: Self.topic)
            #expect(verify.isClean, "\(verify)")
        }
    }

    @Test func recoverRebuildsEveryPartitionFromTheBucket() async throws {
        let store = MemoryBlobStore()
        let config = ColdFixture.smallSegments(segmentBytes: 4 * 1024, frameBytes: 1024)
        try await ColdFixture.withLake(store: store) { lake, _ in
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 4)
            try await ColdFixture.produce(try lake.partition(Self.topic, 1), 0 ..< 300, batch: 50)
            try await ColdFixture.produce(try lake.partition(Self.topic, 2), 0 ..< 200, batch: 50)
            _ = try await lake.offload(topic: Self.topic)
        }
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let recovered = try await Lake.recover(
            into: dir, cold: "file:///unused", options: ColdFixture.options(store: store))
        #expect(recovered.map(\.topic) == ["orders/1", "orders/2"])
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        // The bucket knows partitions up to the highest with a manifest.
        #expect(try lake.partitionCount(Self.topic) == 3)
        var cursor = try await Cursor(topic: try lake.partition(Self.topic, 1), start: .offset(0))
        #expect(try await ColdFixture.readAll(&cursor, until: 300) == (0 ..< 300).map(ColdFixture.expected))
        try await lake.close()
    }

    @Test func deleteRemovesEveryPartitionFromBothTiers() async throws {
        let store = MemoryBlobStore()
        try await ColdFixture.withLake(store: store) { lake, dir in
            let config = ColdFixture.smallSegments(segmentBytes: 4 * 1024, frameBytes: 1024)
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 3)
            _ = try await lake.createTopic("orders.2", config: config)  // a neighbour that must stay
            for p in Int32(0) ..< 3 { try await ColdFixture.produce(try lake.partition(Self.topic, p), 0 ..< 100) }
            try await ColdFixture.produce(try lake.topic("orders.2"), 0 ..< 100)
            _ = try await lake.offload()
            _ = try await lake.deleteTopic(Self.topic)
            #expect(try lake.topicNames() == ["orders.2"])
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/orders"))
            let keys = try await store.listAll(prefix: "topics/").map(\.key)
            #expect(!keys.isEmpty && keys.allSatisfy { $0.hasPrefix("topics/orders.2/") }, "\(keys)")
            // A topic created again under the name starts empty in every partition.
            _ = try await lake.createTopic(Self.topic, config: config, partitions: 3)
            #expect(try lake.partition(Self.topic, 2).highWatermark == 0)
        }
    }

    @Test func aReadOnlyLakeSeesPartitionsAndRefusesToCreateOne() async throws {
        try await ColdFixture.withLake { lake, dir in
            _ = try await lake.createTopic(Self.topic, config: TopicConfig(), partitions: 3)
            _ = try await Self.produce(try lake.partition(Self.topic, 1), ["r"])
            let reader = try Lake.openReadOnly(dir, options: ColdFixture.options(store: MemoryBlobStore()))
            #expect(try reader.partitionCount(Self.topic) == 3)
            #expect(Self.values(try readAll(try reader.partition(Self.topic, 1))) == ["r"])
            // A partition never written is an empty log to a reader, and stays uncreated.
            #expect(try reader.partition(Self.topic, 2).highWatermark == 0)
            #expect(try readAll(try reader.partition(Self.topic, 2)).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/orders/2"))
            // The writer's first append there becomes visible to the reader.
            _ = try await Self.produce(try lake.partition(Self.topic, 2), ["later"])
            try reader.partition(Self.topic, 2).refresh()
            #expect(Self.values(try readAll(try reader.partition(Self.topic, 2))) == ["later"])
            try await reader.close()
        }
    }
}

/// `strata topics create --partitions`, `add-partitions`, and `--partition` on the commands that
/// work on one log, through the binary.
@Suite struct PartitionCLITests {
    static func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func partitionsThroughTheCommandLine() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let created = try CLIRun.strata(["topics", "create", "--lake", lake, "orders", "--partitions", "3"])
            #expect(created.status == 0, "\(created.stderr)")
            #expect(created.stdout.contains("\"partitions\":3"))
            let produced = try CLIRun.strata(
                ["produce", "--lake", lake, "orders", "--partition", "2"], stdin: "a\nb\nc\n")
            #expect(produced.status == 0, "\(produced.stderr)")
            #expect(try CLIRun.strata(["produce", "--lake", lake, "orders"], stdin: "zero\n").status == 0)
            let consumed = try CLIRun.strata(["consume", "--lake", lake, "orders", "--partition", "2"])
            #expect(consumed.status == 0 && consumed.stdout == "a\nb\nc\n", "\(consumed.stdout) \(consumed.stderr)")
            let zero = try CLIRun.strata(["consume", "--lake", lake, "orders"])
            #expect(zero.stdout == "zero\n")
            let missing = try CLIRun.strata(["consume", "--lake", lake, "orders", "--partition", "3"])
            #expect(missing.status != 0 && missing.stderr.contains("3 partitions"), "\(missing.stderr)")

            let described = try CLIRun.strata(["topics", "describe", "--lake", lake, "orders", "--json"])
            let lines = try Self.jsonLines(described.stdout)
            #expect(lines.map { $0["partition"] as? Int } == [0, 1, 2])
            #expect(lines.map { $0["highWatermark"] as? Int } == [1, 0, 3])
            let text = try CLIRun.strata(["topics", "describe", "--lake", lake, "orders", "--partition", "2"])
            #expect(
                text.stdout.contains("topic orders partition 2 of 3: LOG-START 0  HIGH-WATERMARK 3"), "\(text.stdout)")

            let shrink = try CLIRun.strata(["topics", "add-partitions", "--lake", lake, "orders", "--count", "2"])
            #expect(shrink.status != 0 && shrink.stderr.contains("never shrink"), "\(shrink.stderr)")
            let grown = try CLIRun.strata(["topics", "add-partitions", "--lake", lake, "orders", "--count", "5"])
            #expect(grown.status == 0 && grown.stdout.contains("3 -> 5 partitions"), "\(grown.stdout) \(grown.stderr)")

            #expect(try CLIRun.strata(["offload", "--lake", lake, "orders"]).status == 0)
            let segments = try CLIRun.strata(["inspect", "segments", "--lake", lake, "orders", "--partition", "2"])
            #expect(segments.status == 0, "\(segments.stderr)")
            let topics = try CLIRun.strata(["inspect", "topics", "--lake", lake, "--json"])
            #expect(try Self.jsonLines(topics.stdout).compactMap { $0["topic"] as? String } == ["orders", "orders/2"])
            let exported = try CLIRun.strata([
                "export", "--cold", "file://" + lake + "/cold", "orders", "--partition", "2", "--format", "jsonl",
            ])
            #expect(exported.status == 0, "\(exported.stderr)")
            #expect(try Self.jsonLines(exported.stdout).compactMap { $0["offset"] as? Int } == [0, 1, 2])
            let verified = try CLIRun.strata(["inspect", "verify", "--lake", lake, "orders"])
            #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        }
    }
}

extension PartitionCLITests {
    @Test func aPartitionOutOfRangeIsAUsageErrorEverywhere() async throws {
        try await withTempDirectory { dir in
            for partition in ["-1", "100000"] {
                for command in [
                    ["consume", "--lake", dir + "/lake", "t"], ["export", "--cold", "file://" + dir, "t"],
                ] {
                    let result = try CLIRun.strata(command + ["--partition=" + partition])
                    #expect(result.status == 2 && result.stderr.contains("--partition"), "\(command): \(result.stderr)")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/lake"))
        }
    }
}
