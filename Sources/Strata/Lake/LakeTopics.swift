import Foundation
import Glibc
import StrataBlob
import Synchronization

/// The lake's topics and partitions as callers name them: lookup, partition counts, create,
/// and what is stored about each topic (its config, counts, start offsets).
extension Lake {
    /// Names of the topics in the lake, sorted (a topic with several partitions is listed once).
    public func topicNames() throws(StrataError) -> [String] {
        try FileIO.listDirectory(paths.topicsDirectory).filter { FileIO.exists(paths.topicConfig($0)) }
    }

    /// The partition logs of every topic that hold anything (`LogName` text), sorted by topic,
    /// then partition: partition 0 of each topic, and each other partition once it has been
    /// used (a partition never written has no directory and no records).
    public func logNames() throws(StrataError) -> [String] {
        var logs: [String] = []
        for topic in try topicNames() {
            let count = try partitionCount(topic)
            let used = try FileIO.listDirectory(paths.topicDirectory(topic)).compactMap(LogName.partitionDirectory)
            logs.append(topic)
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
        guard FileIO.exists(paths.topicConfig(name)) else {
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

    /// How many partitions topic `topic` has (1 for a topic whose `partitions` file is absent, as
    /// every topic written before partitions existed).
    /// - Throws: `notFound` without the topic; `corrupt` for an unreadable `partitions` file.
    public func partitionCount(_ topic: String) throws(StrataError) -> Int32 {
        try validateTopicName(topic)
        if let known = partitionCounts.withLock({ $0[topic] }) { return known }
        guard FileIO.exists(paths.topicConfig(topic)) else {
            throw StrataError(.notFound, "topic '\(topic)' does not exist in \(path)", topic: topic)
        }
        let count = try storedPartitionCount(topic)
        // A reader re-reads the file each time: the writer may grow or recreate the topic.
        if !isReadOnly { partitionCounts.withLock { $0[topic] = count } }
        return count
    }

    /// The count in `partitions` (absent: 1), checked.
    func storedPartitionCount(_ topic: String) throws(StrataError) -> Int32 {
        let file = paths.topicPartitions(topic)
        guard FileIO.exists(file) else { return 1 }
        let bytes = try FileIO.readWholeFile(file)
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let count = Int32(text), count >= 1, count <= FormatLimits.partitionsMax else {
            throw StrataError(
                .corrupt,
                "\(file) is damaged: '\(text.prefix(40))' is not a partition count in 1...\(FormatLimits.partitionsMax); "
                    + "fix it by hand (nothing was changed)", topic: topic, file: file)
        }
        return count
    }

    /// Writes topic `topic`'s partition count (atomically; the file is left absent for 1 on a
    /// new topic, so one-partition topics look as they always did).
    func storePartitionCount(_ topic: String, _ count: Int32) throws(StrataError) {
        try FileIO.writeAtomically(paths.topicPartitions(topic), Array("\(count)\n".utf8))
        partitionCounts.withLock { $0[topic] = count }
    }

    /// The topic `name` (its partition 0), created with `config` (or the lake's default) and
    /// `partitions` partitions when it does not exist. An existing topic keeps its stored config
    /// and partition count.
    public func topic(
        _ name: String, creatingWith config: TopicConfig?, partitions: Int32 = 1
    ) throws(StrataError) -> Topic {
        try validateTopicName(name)
        if let open = registry.topics.withLock({ $0[name] }) { return open }
        if !FileIO.exists(paths.topicConfig(name)) {
            _ = try createIfAbsent(name, config: config, partitions: partitions, strict: false)
        }
        return try load(LogName(validated: name, partition: 0))
    }

    /// Writes topic `name`'s files unless the topic exists, under the lock every partition-count
    /// write takes, so concurrent creators (CreateTopics, Metadata's auto-create, `produce`) agree
    /// on one config and one count.
    /// - Parameter strict: refuse a directory that holds files but no `topic.json` (`createTopic`).
    /// - Returns: true when this call created the topic, false when it already existed.
    func createIfAbsent(
        _ name: String, config: TopicConfig?, partitions: Int32, strict: Bool
    ) throws(StrataError) -> Bool {
        try partitionCountWrites.withLock { (_) throws(StrataError) -> Bool in
            try refuseIfDeleting(name)
            guard !FileIO.exists(paths.topicConfig(name)) else { return false }
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
            if strict, FileIO.exists(paths.topicDirectory(name)),
                !(try FileIO.listDirectory(paths.topicDirectory(name)).isEmpty)
            {
                throw StrataError(
                    .invalidArgument,
                    "\(paths.topicDirectory(name)) holds files but no topic.json; move it aside first",
                    topic: name, file: paths.topicDirectory(name))
            }
            try FileIO.makeDirectories(paths.topicDirectory(name))
            // The count is in place before `topic.json`, whose existence is the topic's; a count
            // left by a create that crashed before its `topic.json` goes.
            if partitions > 1 {
                try storePartitionCount(name, partitions)
            } else if FileIO.exists(paths.topicPartitions(name)) {
                try FileIO.remove(paths.topicPartitions(name))
            }
            try FileIO.writeAtomically(paths.topicConfig(name), try encodeJSON(config))
            try FileIO.fsyncDirectory(paths.topicsDirectory)
            partitionCounts.withLock { $0[name] = partitions }
            return true
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
    func startOffset(_ name: String) -> Int64 { Self.startOffset(paths, name) }

    static func startOffset(_ paths: LakePaths, _ name: String) -> Int64 {
        guard let bytes = try? FileIO.readWholeFile(paths.topicStart(name)),
            let text = String(validating: bytes, as: UTF8.self)
        else { return 0 }
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    // MARK: - What is stored about a topic (the seams the lake-level store replaces)

    /// The stored config of topic `topic`.
    /// - Throws: `notFound` without the topic, `corrupt` for an unreadable config.
    func storedConfig(_ topic: String) throws(StrataError) -> TopicConfig {
        let configFile = paths.topicConfig(topic)
        return try decodeJSON(try FileIO.readWholeFile(configFile), file: configFile)
    }

    /// True while topic `topic` exists (not deleted, not being deleted).
    func topicExists(_ topic: String) -> Bool { FileIO.exists(paths.topicConfig(topic)) }

    /// Makes what is stored about every topic durable before records that depend on it
    /// (Hot/Durability.swift); nil while each write is durable when it returns.
    var metadataBarrier: MetadataBarrier? { nil }

    /// Called once by `close` after every log and the journal closed.
    func closeMetadata() throws(StrataError) {}
}
