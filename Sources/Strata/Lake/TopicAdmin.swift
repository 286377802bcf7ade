import Glibc
import StrataBlob

/// When a changed topic setting starts to apply (`Lake.alterTopicConfig`).
public enum ConfigEffect: String, Sendable, Equatable {
    /// From the next append, roll check, flush or retention pass (the topic is reopened with it).
    case atOnce = "at once"
    /// From the next segment roll: sealed segments keep what they were written with.
    case nextSegment = "next segment roll"
    /// For segments offloaded from now on: cold objects already written keep theirs.
    case nextOffload = "next offload"
}

/// A setting of `topic.json` that `alterTopicConfig` may change.
public struct TopicConfigKey: Sendable, Equatable {
    /// The field name in `topic.json` (`segmentBytes`).
    public var name: String
    /// The Kafka name accepted as a synonym (`segment.bytes`), if Kafka has one.
    public var kafkaName: String?
    public var effect: ConfigEffect
    /// Whether `none` (or Kafka's `-1`) is accepted: the bound is removed.
    public var optional: Bool

    /// Every key, in `topic.json` order.
    public static let all: [TopicConfigKey] = [
        .init(name: "segmentBytes", kafkaName: "segment.bytes", effect: .atOnce, optional: false),
        .init(name: "segmentMs", kafkaName: "segment.ms", effect: .atOnce, optional: false),
        .init(name: "durability", kafkaName: nil, effect: .atOnce, optional: false),
        .init(name: "flushIntervalMs", kafkaName: "flush.ms", effect: .atOnce, optional: false),
        .init(name: "localRetentionBytes", kafkaName: "local.retention.bytes", effect: .atOnce, optional: true),
        .init(name: "localRetentionMs", kafkaName: "local.retention.ms", effect: .atOnce, optional: true),
        .init(name: "recordBytesMax", kafkaName: nil, effect: .atOnce, optional: false),
        .init(name: "batchBytesMax", kafkaName: "max.message.bytes", effect: .atOnce, optional: false),
        .init(name: "indexIntervalBytes", kafkaName: "index.interval.bytes", effect: .nextSegment, optional: false),
        .init(name: "coldFrameRawBytes", kafkaName: nil, effect: .nextOffload, optional: false),
        .init(name: "coldCompressionLevel", kafkaName: nil, effect: .nextOffload, optional: false),
        .init(name: "offloadLagMs", kafkaName: nil, effect: .atOnce, optional: false),
        .init(name: "retentionMs", kafkaName: "retention.ms", effect: .atOnce, optional: true),
        .init(name: "retentionBytes", kafkaName: "retention.bytes", effect: .atOnce, optional: true),
        .init(name: "table", kafkaName: nil, effect: .nextOffload, optional: false),
        .init(name: "valueSchema", kafkaName: nil, effect: .nextOffload, optional: true),
    ]

    /// The key called `name` (field or Kafka name), nil when there is none.
    public static func named(_ name: String) -> TopicConfigKey? {
        all.first { $0.name == name || $0.kafkaName == name }
    }
}

/// One setting `alterTopicConfig` changed.
public struct TopicConfigChange: Sendable, Equatable {
    public var key: TopicConfigKey
    /// The values before and after, as `topic.json` spells them (`none` for no bound).
    public var oldValue: String
    public var newValue: String
}

/// What `describeTopic` reports: the stored config and the offsets of each tier.
public struct TopicDescription: Sendable {
    /// The topic's name (the log described is `partition` of it).
    public var name: String
    /// The partition described, and how many the topic has.
    public var partition: Int32 = 0
    public var partitions: Int32 = 1
    public var config: TopicConfig
    /// First readable offset across both tiers.
    public var logStartOffset: Int64
    public var highWatermark: Int64
    /// The local tier: `[localStartOffset, highWatermark)`, its segments and bytes.
    public var localStartOffset: Int64
    public var localSegmentCount: Int
    public var localBytes: Int64
    /// The cold tier's latest manifest (nil: nothing offloaded yet, or `coldError`).
    public var cold: ColdSummary?
    /// Why the cold tier could not be read (the local figures are still right).
    public var coldError: StrataError?

    /// The cold tier of a topic as its latest manifest lists it.
    public struct ColdSummary: Sendable, Equatable {
        public var logStartOffset: Int64
        public var nextOffset: Int64
        /// Segments listed directly (archived ones are counted in `archivedSegmentCount`).
        public var segmentCount: Int
        public var archivedSegmentCount: Int
        /// Bytes of the directly listed objects.
        public var objectBytes: Int64
        public var manifestVersion: UInt64
    }
}

/// What `deleteTopic` removed.
public struct TopicDeletion: Sendable, Equatable {
    public var localFilesDeleted = 0
    public var coldObjectsDeleted = 0
    /// Objects of the topic's table (`tables/<topic>/`) deleted.
    public var tableFilesDeleted = 0
    /// Where the topic's quarantine (bytes recovery or `repair` set aside) was moved, if it had
    /// one: a delete keeps it, outside the topic directory.
    public var quarantineKept: String? = nil
}

/// Topic administration, as a Kafka or Redpanda operator expects it: create, describe, alter
/// the config, delete.
extension Lake {
    /// Creates topic `name` with `config` and `partitions` partitions (default 1).
    /// - Returns: the open partition 0.
    /// - Throws: `invalidArgument` when the name is bad, the config invalid (naming the field),
    ///   the partition count outside 1...`FormatLimits.partitionsMax`, the topic exists, its
    ///   deletion was interrupted, or the cold store already holds a log of that topic
    ///   (`strata recover` rebuilds it); `io` when the cold store cannot be listed.
    public func createTopic(
        _ name: String, config: TopicConfig, partitions: Int32 = 1
    ) async throws(StrataError) -> Topic {
        try validateTopicName(name)
        try config.validate()
        guard partitions >= 1, partitions <= FormatLimits.partitionsMax else {
            throw StrataError(
                .invalidArgument, "a topic has 1...\(FormatLimits.partitionsMax) partitions, not \(partitions)",
                topic: name)
        }
        if catalog.exists(name) {
            throw StrataError(
                .invalidArgument, "topic '\(name)' already exists in \(path)", topic: name,
                file: paths.catalogDirectory)
        }
        try refuseIfDeleting(name)
        if let (log, manifest) = try await coldManifestOfAnyPartition(name) {
            throw StrataError(
                .invalidArgument,
                "cold store \(cold.location) already holds topic '\(name)' (log \(log) has offsets "
                    + "\(manifest.logStartOffset)..<\(manifest.nextOffset)): `strata recover` rebuilds it, "
                    + "`strata topics delete` removes it", topic: name)
        }
        // Checked again under the creation lock: another creator may have won meanwhile.
        guard try createIfAbsent(name, config: config, partitions: partitions, strict: true) else {
            throw StrataError(
                .invalidArgument, "topic '\(name)' already exists in \(path)", topic: name,
                file: paths.catalogDirectory)
        }
        return try topic(name)
    }

    /// The first log of topic `name` that has a manifest in the cold store (one listing of the
    /// topic's prefix, which covers every partition).
    private func coldManifestOfAnyPartition(_ name: String) async throws(StrataError) -> (String, Manifest)? {
        let prefix = cold.layout.topicPrefix(topic: name)
        let store = cold.store
        let listed = try await cold.blob("list topic objects", key: prefix, topic: name) {
            try await store.listAll(prefix: prefix)
        }
        let logs = Set(listed.compactMap { cold.layout.parseManifestKey($0.key)?.topic })
        for log in logs.compactMap({ try? LogName.parse($0) }).sorted() {
            if let manifest = try await cold.latestManifest(log.description, refresh: true) {
                return (log.description, manifest)
            }
        }
        return nil
    }

    /// Grows topic `name` to `count` partitions. The new partitions are empty logs whose
    /// directories appear when first used; existing partitions are untouched.
    /// - Throws: `invalidArgument` when `count` is below the current count (partitions never
    ///   shrink: their records would be lost) or above `FormatLimits.partitionsMax`; `notFound`;
    ///   `readOnly`; `io`.
    public func createPartitions(_ name: String, count: Int32) async throws(StrataError) {
        try refuseIfReadOnly("add partitions to topic '\(name)'")
        try partitionCountWrites.withLock { (_) throws(StrataError) in try growPartitions(name, count: count) }
    }

    private func growPartitions(_ name: String, count: Int32) throws(StrataError) {
        try refuseIfDeleting(name)
        let current = try partitionCount(name)
        guard count >= current else {
            throw StrataError(
                .invalidArgument,
                "topic '\(name)' has \(current) partitions; a partition count can grow, never shrink (asked for \(count))",
                topic: name)
        }
        guard count <= FormatLimits.partitionsMax else {
            throw StrataError(
                .invalidArgument, "a topic has at most \(FormatLimits.partitionsMax) partitions, not \(count)",
                topic: name)
        }
        guard count > current else { return }
        for partition in current ..< count {
            let directory = paths.topicDirectory(try logName(name, partition).description)
            if FileIO.exists(directory), !(try FileIO.listDirectory(directory).isEmpty) {
                throw StrataError(
                    .invalidArgument,
                    "\(directory) holds files of no partition; move it aside first (nothing was changed)",
                    topic: name, file: directory)
            }
        }
        try storePartitionCount(name, count)
    }

    /// The stored config of `name`, its partition count and the offsets of both tiers of
    /// partition `partition`. A cold store that cannot be read is reported in `coldError`, not
    /// thrown: the local figures stand on their own.
    /// - Throws: `notFound` (also for a partition at or above the count), `invalidArgument` for a
    ///   bad name; `corrupt` for an unreadable `topic.json`.
    public func describeTopic(_ name: String, partition: Int32 = 0) async throws(StrataError) -> TopicDescription {
        let handle = try self.partition(name, partition)
        let segments = handle.segments()
        var description = TopicDescription(
            name: name, partition: partition, partitions: try partitionCount(name), config: handle.config,
            logStartOffset: handle.localStartOffset,
            highWatermark: handle.highWatermark,
            localStartOffset: handle.localStartOffset, localSegmentCount: segments.count,
            localBytes: segments.reduce(Int64(0)) { $0 + Int64($1.bytes) }, cold: nil, coldError: nil)
        do throws(StrataError) {
            if let manifest = try await handle.latestManifest() {
                description.cold = .init(
                    logStartOffset: manifest.logStartOffset, nextOffset: manifest.nextOffset,
                    segmentCount: manifest.segments.count,
                    archivedSegmentCount: manifest.archives.reduce(0) { $0 + $1.segmentCount },
                    objectBytes: manifest.segments.reduce(Int64(0)) { $0 + $1.objectBytes },
                    manifestVersion: manifest.version)
            }
            description.logStartOffset = try await handle.logStartOffset()
        } catch {
            description.coldError = error
        }
        return description
    }

    /// Changes settings of topic `name`: every `key=value` is checked (the key known, the value
    /// parsed, the whole config valid) before anything is written; then the new config is
    /// recorded in the catalog (durably) and the topic reopened with it, so each change applies as its key's `effect`
    /// says. A `Topic` handle taken before the change is closed: take a new one with `topic(_:)`.
    /// - Parameter changes: key (`topic.json` name or Kafka synonym) to value; `none` or `-1`
    ///   removes an optional bound.
    /// - Returns: the settings whose value changed.
    /// - Throws: `invalidArgument` naming the key for an unknown key, a bad value or an invalid
    ///   config (nothing is changed); `notFound`; `fenced`; `io`.
    public func alterTopicConfig(
        _ name: String, set changes: [(key: String, value: String)]
    )
        async throws(StrataError) -> [TopicConfigChange]
    {
        try refuseIfReadOnly("alter the config of topic '\(name)'")
        let current = try topic(name)
        var config = current.config
        var seen = Set<String>()
        var applied: [TopicConfigChange] = []
        for (keyName, value) in changes {
            guard let key = TopicConfigKey.named(keyName) else {
                let known = TopicConfigKey.all.map(\.name).joined(separator: ", ")
                throw StrataError(
                    .invalidArgument, "unknown topic config key '\(keyName)' (known keys: \(known))", topic: name)
            }
            guard seen.insert(key.name).inserted else {
                throw StrataError(.invalidArgument, "topic config key \(key.name) is given twice", topic: name)
            }
            let old = config.text(of: key)
            try config.set(key, to: value, topic: name)
            if config.text(of: key) != old {
                applied.append(.init(key: key, oldValue: old, newValue: config.text(of: key)))
            }
        }
        do throws(StrataError) { try config.validate() } catch {
            throw StrataError(.invalidArgument, error.message + "; nothing was changed", topic: name)
        }
        guard !applied.isEmpty else { return [] }
        // The new config is on disk before the old handle goes, so a concurrent `topic(name)`
        // gets the old handle (closed next) or a new one with the new config, never the old
        // config reopened.
        try catalog.setConfig(name, config)
        for open in openPartitions(of: name) { try await retire(open) }
        _ = try topic(name)
        return applied
    }

    /// Deletes topic `name` from both tiers: local segments, indexes and manifest copy, and every
    /// cold object and manifest under its prefix. The catalog first records the delete as begun
    /// (durably), so the topic is gone for every reader at once and an interrupted delete (a crash, an
    /// unreachable store) is finished by calling this again; manifests go before the objects
    /// they name, so no manifest ever points at a deleted object.
    /// - Throws: `notFound` when neither tier has the topic; `fenced`; `io` (the topic stays
    ///   marked deleted: call again to finish).
    public func deleteTopic(_ name: String) async throws(StrataError) -> TopicDeletion {
        try refuseIfReadOnly("delete topic '\(name)'")
        try validateTopicName(name)
        let local = catalog.entry(name) != nil
        if !local, try await coldManifestOfAnyPartition(name) == nil {
            throw StrataError(
                .notFound, "topic '\(name)' does not exist in \(path) nor in \(cold.location)", topic: name)
        }
        // Marked deleted before the open handle goes, so no concurrent `topic(name)` reopens it.
        try catalog.beginDelete(name)
        // An open under way inserts its handle now (listed below) or finds the mark and drops it.
        await registry.waitForOpens()
        for open in openPartitions(of: name) { try await retire(open) }
        // Consumer groups forget the topic's offsets before its data goes, so a topic created
        // again under the name never inherits them (an interrupted delete is rerun).
        try await dropGroupOffsets(of: name)
        var deletion = TopicDeletion()
        deletion.coldObjectsDeleted = try await deleteColdTopic(name)
        // The table after the cold data it was written from (Tables/TableAdmin.swift).
        deletion.tableFilesDeleted = try await tables.deleteTable(name)
        deletion.quarantineKept = try keepQuarantine(name)
        // A create whose partition 0 was never opened left its mark: a later create of the
        // name must not inherit it when this delete leaves files behind.
        registry.topics.withLock { _ = $0.takeFresh(name) }
        // Its evicted logs' flushes are owed no more: their files go now.
        registry.debts.drop(topic: name)
        deletion.localFilesDeleted = try deleteLocalTopic(name)
        // Last: until here a delete run again finds the topic marked and finishes it.
        try catalog.finishDelete(name)
        return deletion
    }

    /// The open logs of every partition of topic `name`.
    func openPartitions(of name: String) -> [Topic] {
        registry.topics.withLock { open in open.values.filter { $0.topicName == name } }
    }

    /// Refuses to use a topic whose deletion began and did not finish.
    func refuseIfDeleting(_ name: String) throws(StrataError) {
        guard catalog.isDeleting(name) else { return }
        throw Catalog.deleting(name, paths)
    }

    /// Closes `topic` for good. It is fenced first, so nothing on this handle commits a
    /// manifest again (offload, retention, delete-records and repair check the fence once they
    /// hold their lock); then a running offload pass and commit are waited for, the locks handed
    /// on (whoever waits behind finds the fence and stops), and the topic is closed and dropped
    /// from the open topics, even when its final flush fails.
    private func retire(_ topic: Topic) async throws(StrataError) {
        topic.manifestWriter.fence(StrataError(.closed, "topic was reopened or deleted", topic: topic.name))
        await topic.offloadPass.lock()
        await topic.manifestWriter.commits.lock()
        topic.manifestWriter.commits.unlock()
        topic.offloadPass.unlock()
        defer {
            registry.topics.withLock { open in
                if open[topic.name] === topic { open[topic.name] = nil }
            }
            cold.forget(topic.name)
        }
        try await topic.close()
    }

    /// Manifests first (newest first), then everything else under the topic's prefix.
    private func deleteColdTopic(_ name: String) async throws(StrataError) -> Int {
        let prefix = cold.layout.topicPrefix(topic: name)
        let store = cold.store
        let listed = try await cold.blob("list topic objects", key: prefix, topic: name) {
            try await store.listAll(prefix: prefix)
        }
        // Every partition's manifests (`parseManifestKey` of any log under the prefix).
        var manifests: [(log: String, version: UInt64, key: String)] = []
        var others: [String] = []
        for object in listed {
            if let (log, version) = cold.layout.parseManifestKey(object.key),
                (try? LogName.parse(log))?.topic == name
            {
                manifests.append((log, version, object.key))
            } else {
                others.append(object.key)
            }
        }
        for (_, _, key) in manifests.sorted(by: { $0.version > $1.version }) {
            try await cold.blob("delete manifest", key: key, topic: name) { try await store.delete([key]) }
        }
        cold.forget(name)
        for log in Set(manifests.map(\.log)) { cold.forget(log) }
        // A topic created again under this name reuses object keys: no cached frame may outlive this.
        for key in others {
            let relative = cold.layout.relative(key) ?? key
            if let index = cold.footers.get(relative) {
                for frame in 0 ..< index.frames.count {
                    cold.frames.remove(ColdTier.FrameKey(objectKey: relative, frameNumber: frame))
                }
            }
            cold.footers.remove(relative)
        }
        if !others.isEmpty {
            try await cold.blob("delete topic objects", key: others.first, topic: name) {
                try await store.delete(others)
            }
        }
        return listed.count
    }

    /// Moves the quarantine of each partition out of the topic's directory (it holds the only
    /// copy of damaged bytes an operator may still want), into `<lake>/quarantine/`: partition
    /// 0's to `<topic>.deleted-<ms>`, partition p's to `<topic>.deleted-<ms>.partition-<p>`.
    /// - Returns: where partition 0's went, or the first one moved.
    private func keepQuarantine(_ name: String) throws(StrataError) -> String? {
        let nowMs = options.clock.nowMs()
        let logs = localLogs(of: name).filter { FileIO.exists(paths.quarantineDirectory($0.description)) }
        func target(_ base: String, _ log: LogName) -> String {
            log.partition == 0 ? base : base + ".partition-\(log.partition)"
        }
        var base = paths.deletedTopicQuarantine(name, nowMs: nowMs)
        var n = 0
        while logs.contains(where: { FileIO.exists(target(base, $0)) }) {  // never onto an earlier delete's
            n += 1
            base = paths.deletedTopicQuarantine(name, nowMs: nowMs) + ".\(n)"
        }
        var kept: String? = nil
        for log in logs {
            let quarantine = paths.quarantineDirectory(log.description)
            let target = target(base, log)
            try FileIO.makeDirectories(paths.root + "/quarantine")
            guard rename(quarantine, target) == 0 else { throw FileIO.ioError("rename", quarantine) }
            try FileIO.fsyncDirectory(paths.root + "/quarantine")
            try FileIO.fsyncDirectory(paths.topicDirectory(log.description))
            options.log("topic \(log) deleted; its quarantine is kept at \(target)")
            kept = kept ?? target
        }
        return kept
    }

    /// The logs of topic `name` that have a directory: partition 0 and every partition
    /// directory inside it.
    private func localLogs(of name: String) -> [LogName] {
        guard FileIO.exists(paths.topicDirectory(name)) else { return [] }
        let entries = (try? FileIO.listDirectory(paths.topicDirectory(name))) ?? []
        let partitions = entries.compactMap(LogName.partitionDirectory).sorted()
        return [LogName(validated: name, partition: 0)] + partitions.map { LogName(validated: name, partition: $0) }
    }

    /// Every file of the topic directory, then the directory.
    private func deleteLocalTopic(_ name: String) throws(StrataError) -> Int {
        let directory = paths.topicDirectory(name)
        guard FileIO.exists(directory) else { return 0 }
        var deleted = 0
        for log in localLogs(of: name).reversed() where log.partition > 0 {
            let partitionDirectory = paths.topicDirectory(log.description)
            for file in try FileIO.listDirectory(partitionDirectory) {
                files.invalidate(partitionDirectory + "/" + file)
                try FileIO.remove(partitionDirectory + "/" + file)
                deleted += 1
            }
            guard rmdir(partitionDirectory) == 0 else { throw FileIO.ioError("rmdir", partitionDirectory) }
        }
        for file in try FileIO.listDirectory(directory) {
            files.invalidate(directory + "/" + file)
            try FileIO.remove(directory + "/" + file)
            deleted += 1
        }
        guard rmdir(directory) == 0 else { throw FileIO.ioError("rmdir", directory) }
        try FileIO.fsyncDirectory(paths.topicsDirectory)
        return deleted
    }
}

extension TopicConfig {
    /// Sets the setting called `keyName` (`topic.json` name or Kafka synonym) from its text, as
    /// `strata topics create --set` does. The caller validates the whole config afterwards.
    /// - Throws: `invalidArgument` naming the key when it is unknown or the value is bad.
    public mutating func set(_ keyName: String, to value: String) throws(StrataError) {
        guard let key = TopicConfigKey.named(keyName) else {
            let known = TopicConfigKey.all.map(\.name).joined(separator: ", ")
            throw StrataError(.invalidArgument, "unknown topic config key '\(keyName)' (known keys: \(known))")
        }
        try set(key, to: value, topic: nil)
    }

    /// The value of `key` as `topic.json` spells it (`none` for an absent bound).
    public func text(of key: TopicConfigKey) -> String {
        func optional(_ value: Int64?) -> String { value.map(String.init) ?? "none" }
        switch key.name {
        case "segmentBytes": return String(segmentBytes)
        case "segmentMs": return String(segmentMs)
        case "durability": return durability.rawValue
        case "flushIntervalMs": return String(flushIntervalMs)
        case "localRetentionBytes": return optional(localRetentionBytes)
        case "localRetentionMs": return optional(localRetentionMs)
        case "recordBytesMax": return String(recordBytesMax)
        case "batchBytesMax": return String(batchBytesMax)
        case "indexIntervalBytes": return String(indexIntervalBytes)
        case "coldFrameRawBytes": return String(coldFrameRawBytes)
        case "coldCompressionLevel": return String(coldCompressionLevel)
        case "offloadLagMs": return String(offloadLagMs)
        case "retentionMs": return optional(retentionMs)
        case "table": return String(table)
        case "valueSchema": return valueSchema ?? "none"
        default: return optional(retentionBytes)
        }
    }

    /// Sets `key` from its text; throws `invalidArgument` naming the key for a bad value.
    mutating func set(_ key: TopicConfigKey, to text: String, topic: String?) throws(StrataError) {
        func bad(_ why: String) -> StrataError {
            StrataError(
                .invalidArgument, "topic config key \(key.name): '\(text)' \(why); nothing was changed", topic: topic)
        }
        if key.name == "durability" {
            guard let mode = Durability(rawValue: text) else { throw bad("is not sync or async") }
            durability = mode
            return
        }
        if key.name == "table" {
            guard let on = Bool(text) else { throw bad("is not true or false") }
            table = on
            return
        }
        if key.name == "valueSchema" {
            // Checked with the whole config (`validate`): it must parse as an Iceberg schema.
            valueSchema = text == "none" ? nil : text
            return
        }
        let unbounded = key.optional && (text == "none" || text == "-1")
        guard unbounded || Int64(text) != nil else {
            throw bad(key.optional ? "is not an integer nor none" : "is not an integer")
        }
        let number = unbounded ? nil : Int64(text)
        func int() throws(StrataError) -> Int {
            guard let number, let value = Int(exactly: number) else { throw bad("is out of range") }
            return value
        }
        switch key.name {
        case "segmentBytes": segmentBytes = try int()
        case "segmentMs": segmentMs = number ?? 0
        case "flushIntervalMs": flushIntervalMs = number ?? 0
        case "localRetentionBytes": localRetentionBytes = number
        case "localRetentionMs": localRetentionMs = number
        case "recordBytesMax": recordBytesMax = try int()
        case "batchBytesMax": batchBytesMax = try int()
        case "indexIntervalBytes": indexIntervalBytes = try int()
        case "coldFrameRawBytes": coldFrameRawBytes = try int()
        case "coldCompressionLevel":
            guard let number, let level = Int32(exactly: number) else { throw bad("is out of range") }
            coldCompressionLevel = level
        case "offloadLagMs": offloadLagMs = number ?? 0
        case "retentionMs": retentionMs = number
        default: retentionBytes = number
        }
    }
}
