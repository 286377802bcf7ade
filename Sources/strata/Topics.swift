import ArgumentParser
import Foundation
import Strata

/// `strata topics …`: create, describe, alter and delete topics, as `kafka-topics.sh` and
/// `rpk topic` do.
struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, describe, alter the config of, and delete topics.",
        discussion: """
            Example:
              strata topics create --lake /lake clicks --segment-bytes 67108864
              strata topics describe --lake /lake clicks
              strata topics add-partitions --lake /lake clicks --count 4
            """,
        subcommands: [
            TopicsCreate.self, TopicsDescribe.self, TopicsAlterConfig.self, TopicsAddPartitions.self, TopicsDelete.self,
        ]
    )
}

/// Runs `body` on an open lake and closes it whatever happens.
func withLake<T>(_ lake: Lake, _ body: (Lake) async throws -> T) async throws -> T {
    do {
        let result = try await body(lake)
        try await lake.close()
        return result
    } catch {
        await lake.close(after: error)
        throw error
    }
}

/// `key=value` of `--set`.
func parseSetting(_ text: String) throws -> (key: String, value: String) {
    guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
        throw ValidationError("--set '\(text)' is not key=value (for example --set retentionMs=604800000)")
    }
    return (String(text[..<equals]), String(text[text.index(after: equals)...]))
}

struct TopicsCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a topic; an existing topic is an error.",
        discussion: """
            Config flags and --set key=value (any key of `strata topics alter-config --help`) set \
            the topic's config; the rest takes the defaults. The lake is created if absent. Each \
            partition is one log with its own offsets; every partition shares the topic's config.

            Example:
              strata topics create --lake /lake clicks --set retention.ms=604800000
              strata topics create --lake /lake orders --partitions 4
            """
    )

    @OptionGroup var lakeOption: LakeOption
    @Argument(help: "Topic name ([A-Za-z0-9._-], 1 to 249 characters).")
    var topic: String
    @Option(help: "Number of partitions (default 1; it can grow later with add-partitions, never shrink).")
    var partitions: Int32 = 1
    @OptionGroup var topicConfig: TopicConfigOptions
    @Option(name: .customLong("set"), help: ArgumentHelp("A config setting (repeatable).", valueName: "key=value"))
    var settings: [String] = []

    func run() async throws {
        var config = try topicConfig.config()
        for setting in settings {
            let (key, value) = try parseSetting(setting)
            try config.set(key, to: value)
        }
        try config.validate()
        let created = try await withLake(try lakeOption.open(background: false)) { lake in
            try await lake.createTopic(topic, config: config, partitions: partitions).config
        }
        print(
            jsonLine(["topic": topic, "created": true, "partitions": partitions, "config": configObject(created)]))
    }
}

struct TopicsDescribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show a topic's config and each partition's offsets in each tier (every topic without TOPIC).",
        discussion: """
            One entry per partition (all of them, or --partition N's). LOG-START is the first \
            readable offset across both tiers; the hot tier holds \
            [HOT-START, HIGH-WATERMARK), the cold tier [COLD-START, COLD-END). A cold store that \
            cannot be read is reported and the hot figures are still shown.

            Example:
              strata topics describe --lake /lake clicks --json
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Argument(help: "Topic name (default: every topic).")
    var topic: String?
    @Option(help: "Only this partition (default: every partition).")
    var partition: Int32?
    @Flag(help: "One JSON object per partition and line.")
    var json = false

    func validate() throws {
        if partition != nil, topic == nil { throw ValidationError("--partition needs a TOPIC") }
    }

    func run() async throws {
        let descriptions = try await withLake(try lakeOption.open()) { lake in
            var all: [TopicDescription] = []
            for name in try topic.map({ [$0] }) ?? lake.topicNames() {
                let partitions = try partition.map { [$0] } ?? Array(0 ..< lake.partitionCount(name))
                for p in partitions { all.append(try await lake.describeTopic(name, partition: p)) }
            }
            return all
        }
        for (i, d) in descriptions.enumerated() {
            if json {
                print(jsonLine(describeObject(d)))
                continue
            }
            if i > 0 { print("") }
            printDescription(d)
        }
    }

    private func describeObject(_ d: TopicDescription) -> [String: Any] {
        let cold: Any =
            d.cold.map { c -> [String: Any] in
                [
                    "logStartOffset": c.logStartOffset, "nextOffset": c.nextOffset, "segments": c.segmentCount,
                    "archivedSegments": c.archivedSegmentCount, "objectBytes": c.objectBytes,
                    "manifestVersion": c.manifestVersion,
                ]
            } ?? NSNull()
        return [
            "topic": d.name, "partition": d.partition, "partitions": d.partitions, "logStartOffset": d.logStartOffset,
            "highWatermark": d.highWatermark,
            "hot": ["startOffset": d.localStartOffset, "segments": d.localSegmentCount, "bytes": d.localBytes],
            "cold": cold, "coldError": d.coldError.map { $0.description as Any } ?? NSNull(),
            "config": configObject(d.config),
        ]
    }

    private func printDescription(_ d: TopicDescription) {
        let which =
            d.partitions == 1 ? "topic \(d.name)" : "topic \(d.name) partition \(d.partition) of \(d.partitions)"
        print("\(which): LOG-START \(d.logStartOffset)  HIGH-WATERMARK \(d.highWatermark)")
        print("  hot   HOT-START \(d.localStartOffset)  segments \(d.localSegmentCount)  \(humanBytes(d.localBytes))")
        if let c = d.cold {
            print(
                "  cold  COLD-START \(c.logStartOffset)  COLD-END \(c.nextOffset)  segments \(c.segmentCount)"
                    + " (+\(c.archivedSegmentCount) archived)  \(humanBytes(c.objectBytes))"
                    + "  manifest v\(c.manifestVersion)")
        } else if let error = d.coldError {
            print("  cold  unreadable: \(error)")
        } else {
            print("  cold  nothing offloaded yet")
        }
        var rows: [[String]] = []
        for key in TopicConfigKey.all {
            rows.append(["  " + key.name, d.config.text(of: key), "applies " + key.effect.rawValue])
        }
        printTable(["  CONFIG", "VALUE", "A CHANGE"], rows)
    }
}

/// A topic config as a JSON object, keys as in `topic.json`, `null` for no bound.
func configObject(_ config: TopicConfig) -> [String: Any] {
    var object: [String: Any] = [:]
    for key in TopicConfigKey.all {
        let text = config.text(of: key)
        object[key.name] = text == "none" ? NSNull() : Int64(text).map { $0 as Any } ?? text
    }
    return object
}

struct TopicsAlterConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alter-config", abstract: "Change settings of a topic's config.",
        discussion: """
            Every --set is checked (known key, valid value, valid config) before anything is \
            written; then the new config is recorded in the lake's catalog (durably). Keys are the config's names (Kafka \
            names such as retention.ms are accepted too); `none` or -1 removes an optional bound. \
            Applies at once: \(keys(.atOnce)). At the next segment roll (sealed segments keep \
            theirs): \(keys(.nextSegment)). To segments offloaded from now on: \(keys(.nextOffload)).

            Example:
              strata topics alter-config --lake /lake clicks --set retention.ms=604800000
            """
    )

    static func keys(_ effect: ConfigEffect) -> String {
        TopicConfigKey.all.filter { $0.effect == effect }.map(\.name).joined(separator: ", ")
    }

    @OptionGroup var lakeOption: ExistingLakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @Option(name: .customLong("set"), help: ArgumentHelp("A setting to change (repeatable).", valueName: "key=value"))
    var settings: [String] = []

    func validate() throws {
        guard !settings.isEmpty else { throw ValidationError("give at least one --set key=value") }
    }

    func run() async throws {
        let changes = try settings.map(parseSetting)
        let applied = try await withLake(try lakeOption.open()) { lake in
            try await lake.alterTopicConfig(topic, set: changes)
        }
        if applied.isEmpty { print("topic \(topic): no setting changed (the values were already set)") }
        for change in applied {
            print(
                "topic \(topic): \(change.key.name) \(change.oldValue) -> \(change.newValue)"
                    + " (applies \(change.key.effect.rawValue))")
        }
    }
}

struct TopicsAddPartitions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-partitions", abstract: "Grow a topic to more partitions (never fewer).",
        discussion: """
            The new partitions start empty at offset 0; existing partitions and their records are \
            untouched. A count below the current one is refused (a partition's records would be \
            lost); the current count is a no-op. Kafka clients see the new count in their next \
            metadata refresh.

            Example:
              strata topics add-partitions --lake /lake clicks --count 8
            """
    )

    @OptionGroup var lakeOption: ExistingLakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @Option(help: "The partition count to grow to.")
    var count: Int32

    func run() async throws {
        let (before, after) = try await withLake(try lakeOption.open()) { lake in
            let before = try lake.partitionCount(topic)
            try await lake.createPartitions(topic, count: count)
            return (before, try lake.partitionCount(topic))
        }
        print(
            before == after
                ? "topic \(topic): already has \(after) partitions"
                : "topic \(topic): \(before) -> \(after) partitions")
    }
}

struct TopicsDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a topic from both tiers: local segments, cold objects and manifests.",
        discussion: """
            Every partition goes. The topic disappears at once (the catalog records the delete as begun); then its cold manifests, \
            its cold objects and its local files are deleted, in that order. If this is interrupted \
            (a crash, an unreachable cold store), run it again to finish. Refused while another \
            process has the lake open. Bytes that recovery or `strata repair` set aside in the topic's \
            quarantine/ are kept: they move to <lake>/quarantine/<topic>.deleted-<ms>.

            Example:
              strata topics delete --lake /lake clicks
            """
    )

    @OptionGroup var lakeOption: ExistingLakeOption
    @Argument(help: "Topic name.")
    var topic: String

    func run() async throws {
        let deletion = try await withLake(try lakeOption.open()) { lake in try await lake.deleteTopic(topic) }
        print(
            "deleted topic \(topic): \(deletion.localFilesDeleted) local files, "
                + "\(deletion.coldObjectsDeleted) cold objects")
        if let kept = deletion.quarantineKept { print("kept its quarantine at \(kept)") }
    }
}
