import Foundation
import Glibc
import StrataBlob
import Synchronization

/// The lake's topics and partitions as callers name them: lookup, partition counts, create,
/// and what is stored about each topic (its config, counts, start offsets).
extension Lake {
    /// Names of the topics in the lake, sorted (a topic with several partitions is listed once),
    /// from the catalog: no directory is listed.
    public func topicNames() throws(StrataError) -> [String] {
        catalog.topicNames()
    }

    /// The partition logs of every topic that hold anything (`LogName` text), sorted by topic,
    /// then partition: partition 0 of each topic, and each other partition once it has been
    /// used (a partition never written has no directory and no records).
    public func logNames() throws(StrataError) -> [String] {
        var logs: [String] = []
        for (topic, count) in catalog.topicPartitionCounts() {
            logs.append(topic)
            guard count > 1 else { continue }
            let used = try FileIO.listDirectory(paths.topicDirectory(topic)).compactMap(LogName.partitionDirectory)
            for partition in used.sorted() where partition < count {
                logs.append(LogName(validated: topic, partition: partition).description)
            }
        }
        return logs
    }

    /// The config topics created on demand get (`LakeOptions.defaultTopicConfig`).
    public var defaultTopicConfig: TopicConfig { options.defaultTopicConfig }

    /// Partition 0 of the existing topic `name` (the whole topic when it has one partition).
    /// Opening it recovers its active segment the first time.
    /// - Throws: `notFound`, `invalidArgument` for a bad name.
    public func topic(_ name: String) throws(StrataError) -> Topic {
        try validateTopicName(name)
        if let open = registry.topics.withLock({ $0[name] }) { return open }
        guard catalog.exists(name) else {
            if let error = catalog.loadError(name) { throw error }  // its old files are damaged
            throw StrataError(.notFound, "topic '\(name)' does not exist in \(path)", topic: name)
        }
        return try load(LogName(validated: name, partition: 0))
    }

    /// Partition `partition` of the existing topic `topic`. Opening it recovers its active segment
    /// the first time (a partition never written gets its directory then).
    /// - Throws: `notFound` for a missing topic or a partition at or above its count (naming the
    ///   count); `invalidArgument` for a bad name or a negative partition.
    public func partition(_ topic: String, _ partition: Int32) throws(StrataError) -> Topic {
        if partition == 0 { return try self.topic(topic) }
        let log = try logName(topic, partition)
        if let open = registry.topics.withLock({ $0[log.description] }) { return open }
        let count = try partitionCount(topic)
        guard partition < count else {
            throw StrataError(
                .notFound,
                "topic '\(topic)' has \(count) partition\(count == 1 ? "" : "s") (0..<\(count)), not \(partition)",
                topic: topic)
        }
        return try load(log)
    }

    /// How many partitions topic `topic` has (1 for every topic written before partitions existed).
    /// - Throws: `notFound` without the topic.
    public func partitionCount(_ topic: String) throws(StrataError) -> Int32 {
        try validateTopicName(topic)
        // The catalog is in memory (a reader's re-reads what the writer added first).
        guard let count = catalog.partitionCount(topic) else {
            if let error = catalog.loadError(topic) { throw error }  // its old files are damaged
            throw StrataError(.notFound, "topic '\(topic)' does not exist in \(path)", topic: topic)
        }
        return count
    }

    /// The count the catalog holds for topic `topic` (1 when the catalog has no such topic).
    func storedPartitionCount(_ topic: String) throws(StrataError) -> Int32 {
        catalog.partitionCount(topic) ?? 1
    }

    /// Records topic `topic`'s new partition count in the catalog, durably.
    func storePartitionCount(_ topic: String, _ count: Int32) throws(StrataError) {
        try catalog.setPartitions(topic, count)
    }

    /// The topic `name` (its partition 0), created with `config` (or the lake's default) and
    /// `partitions` partitions when it does not exist. An existing topic keeps its stored config
    /// and partition count.
    public func topic(
        _ name: String, creatingWith config: TopicConfig?, partitions: Int32 = 1
    ) throws(StrataError) -> Topic {
        try validateTopicName(name)
        if let open = registry.topics.withLock({ $0[name] }) { return open }
        if !catalog.exists(name) {
            _ = try createIfAbsent(name, config: config, partitions: partitions, strict: false)
        }
        return try load(LogName(validated: name, partition: 0))
    }

    /// Adds topic `name` to the catalog unless the topic exists, under the lock every
    /// partition-count write takes, so concurrent creators (CreateTopics, Metadata's auto-create,
    /// `produce`) agree on one config and one count.
    /// - Parameter strict: an admin create (`createTopic`): refuse a directory that holds files
    ///   but no topic, and make the record durable before returning. Otherwise (create on first
    ///   use) the record is written, and made durable by the metadata barrier before any record
    ///   of the topic is (§2i).
    /// - Returns: true when this call created the topic, false when it already existed.
    func createIfAbsent(
        _ name: String, config: TopicConfig?, partitions: Int32, strict: Bool
    ) throws(StrataError) -> Bool {
        try partitionCountWrites.withLock { (_) throws(StrataError) -> Bool in
            try refuseIfDeleting(name)
            guard !catalog.exists(name) else { return false }
            try refuseIfReadOnly("create topic '\(name)'")
            guard partitions >= 1, partitions <= FormatLimits.partitionsMax else {
                throw StrataError(
                    .invalidArgument, "a topic has 1...\(FormatLimits.partitionsMax) partitions, not \(partitions)",
                    topic: name)
            }
            let config = config ?? options.defaultTopicConfig
            try config.validate()
            // A topic deleted and now created again: its old entries must never replay into it.
            try journal?.forget(topic: name)
            let directory = paths.topicDirectory(name)
            let existed = !(try FileIO.makeDirectories(directory))
            if strict, existed, !(try FileIO.listDirectory(directory).isEmpty) {
                throw StrataError(
                    .invalidArgument,
                    "\(directory) holds files but the catalog has no topic '\(name)'; move it aside first",
                    topic: name, file: directory)
            }
            // Before the catalog has the topic, so nothing can have opened partition 0 yet: its
            // first open lists nothing (lock order: partition-count writes, then the registry).
            if !existed { registry.topics.withLock { $0.markFresh(name) } }
            let created = try catalog.create(
                name, config: config, partitions: partitions, durable: strict, madeDirectory: !existed)
            return created
        }
    }

    /// The partition log called `name` (`LogName` text: `orders`, `orders/3`).
    /// - Throws: as `partition(_:_:)`.
    public func log(_ name: String) throws(StrataError) -> Topic {
        let log = try validateLogName(name)
        return try partition(log.topic, log.partition)
    }


    /// Where a new topic's first segment starts: after whatever the cold tier already holds
    /// (a lake rebuilt by `recover`).
    func startOffset(_ name: String) -> Int64 { catalog.startOffset(name) }

    static func startOffset(_ paths: LakePaths, _ name: String) -> Int64 { paths.catalog?.startOffset(name) ?? 0 }

    // MARK: - What is stored about a topic (the catalog, Catalog.swift)

    /// The stored config of topic `topic`.
    /// - Throws: `notFound` without the topic.
    func storedConfig(_ topic: String) throws(StrataError) -> TopicConfig {
        guard let config = catalog.config(topic) else {
            if let error = catalog.loadError(topic) { throw error }
            throw StrataError(.notFound, "topic '\(topic)' does not exist in \(path)", topic: topic)
        }
        return config
    }

    /// True while topic `topic` exists (not deleted, not being deleted).
    func topicExists(_ topic: String) -> Bool { catalog.exists(topic) }

    /// Makes what is stored about every topic durable before records that depend on it
    /// (Hot/Durability.swift): the catalog's `syncIfDirty`, one compare when nothing is pending.
    var metadataBarrier: MetadataBarrier? {
        isReadOnly ? nil : catalog.barrier
    }

    /// Called once by `close` after every log and the journal closed: syncs and closes the catalog.
    func closeMetadata() throws(StrataError) { try catalog.close() }
}
