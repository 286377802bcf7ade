import Foundation
import StrataFormat

/// What the catalog knows about one topic: a dozen bytes beside its name (the config is shared).
struct CatalogTopic: Sendable, Equatable {
    var configID: UInt32
    var partitions: Int32
    /// `deleteTopic` began and has not finished: the topic is gone for readers, its name taken.
    var deleting: Bool
}

/// The live state of the catalog, in memory: the result of applying every record in order
/// (formats/catalog.md). Pure: no I/O.
struct CatalogState: Sendable {
    struct ConfigSlot: Sendable {
        var json: [UInt8]
        var config: TopicConfig
        /// Topics using it; a config no topic uses is left out of the next snapshot.
        var users: Int
    }

    var topics: [String: CatalogTopic] = [:]
    var configs: [UInt32: ConfigSlot] = [:]
    /// The id of each config's JSON, so a million topics sharing one config store it once.
    var configIDs: [[UInt8]: UInt32] = [:]
    var nextConfigID: UInt32 = 1
    /// Log starts moved by delete-records, by log name (`orders`, `orders/3`): rare, so apart.
    var logStarts: [String: Int64] = [:]
    /// Where `recover` made a log start, by log name.
    var startOffsets: [String: Int64] = [:]
    /// Encoded bytes of the live state's snapshot, kept up to date to decide compaction.
    var snapshotBytes = 0
    /// A reader of a lake not yet migrated: why a topic's old files could not be read (the
    /// topic is left out; opening it raises this). Never written to a catalog.
    var loadErrors: [String: StrataError] = [:]

    /// True while topic `name` exists and is not being deleted.
    func exists(_ name: String) -> Bool { topics[name].map { !$0.deleting } ?? false }

    func config(of name: String) -> TopicConfig? {
        guard let topic = topics[name], !topic.deleting else { return nil }
        return configs[topic.configID]?.config
    }

    /// Applies `record`; a record the state contradicts (a config id never defined, a topic
    /// created twice, a change to a topic that does not exist) is damage.
    /// - Returns: nil, or why the record cannot follow what came before.
    mutating func apply(_ record: CatalogRecord) -> String? {
        switch record {
        case .config(let id, let json):
            guard configs[id] == nil else { return "config \(id) is defined twice" }
            let config: TopicConfig
            do { config = try JSONDecoder().decode(TopicConfig.self, from: Data(json)) } catch {
                return "config \(id) is not a topic config: \(describeDecodingFailure(error, bytes: json))"
            }
            configs[id] = ConfigSlot(json: json, config: config, users: 0)
            configIDs[json] = id
            nextConfigID = max(nextConfigID, id &+ 1)
            snapshotBytes += Self.recordBytes(record)
        case .topicCreated(let name, let configID, let partitions):
            guard topics[name] == nil else { return "topic '\(name)' is created twice" }
            guard configs[configID] != nil else { return "topic '\(name)' uses config \(configID), never defined" }
            topics[name] = CatalogTopic(configID: configID, partitions: partitions, deleting: false)
            configs[configID]?.users += 1
            snapshotBytes += Self.recordBytes(record)
        case .configChanged(let name, let configID):
            guard var topic = topics[name], !topic.deleting else { return "config change of unknown topic '\(name)'" }
            guard configs[configID] != nil else { return "topic '\(name)' uses config \(configID), never defined" }
            release(topic.configID)
            topic.configID = configID
            configs[configID]?.users += 1
            topics[name] = topic
        case .partitionsGrown(let name, let partitions):
            guard var topic = topics[name], !topic.deleting else { return "partitions of unknown topic '\(name)'" }
            guard partitions >= topic.partitions else {
                return "topic '\(name)' shrinks from \(topic.partitions) to \(partitions) partitions"
            }
            topic.partitions = partitions
            topics[name] = topic
        case .logStartMoved(let name, let partition, let offset):
            let log = LogName(validated: name, partition: partition).description
            if logStarts[log] == nil { snapshotBytes += Self.recordBytes(record) }
            logStarts[log] = max(logStarts[log] ?? 0, offset)
        case .startOffsetSet(let name, let partition, let offset):
            let log = LogName(validated: name, partition: partition).description
            if startOffsets[log] == nil { snapshotBytes += Self.recordBytes(record) }
            startOffsets[log] = offset
        case .deleteBegun(let name):
            guard var topic = topics[name] else { return "delete of unknown topic '\(name)'" }
            if !topic.deleting { snapshotBytes += Self.recordBytes(record) }
            topic.deleting = true
            topics[name] = topic
        case .deleteFinished(let name):
            guard let topic = topics[name], topic.deleting else { return "delete of '\(name)' finished, never begun" }
            topics[name] = nil
            release(topic.configID)
            snapshotBytes -= Self.recordBytes(.topicCreated(name: name, configID: 0, partitions: 1))
            snapshotBytes -= Self.recordBytes(.deleteBegun(name: name))
            forgetLogs(of: name)
        case .snapshotEnd:
            break
        }
        return nil
    }

    /// Drops the per-log offsets of topic `name`'s logs (its delete finished).
    private mutating func forgetLogs(of name: String) {
        func belongs(_ log: String) -> Bool { log == name || (log.hasPrefix(name + "/")) }
        for log in logStarts.keys where belongs(log) {
            logStarts[log] = nil
            snapshotBytes -= Self.recordBytes(.logStartMoved(name: name, partition: 0, offset: 0))
        }
        for log in startOffsets.keys where belongs(log) {
            startOffsets[log] = nil
            snapshotBytes -= Self.recordBytes(.startOffsetSet(name: name, partition: 0, offset: 0))
        }
    }

    private mutating func release(_ configID: UInt32) {
        guard var slot = configs[configID] else { return }
        slot.users -= 1
        configs[configID] = slot
    }

    /// Forgets the configs no topic uses (a compaction leaves them out of its snapshot).
    mutating func pruneUnusedConfigs() {
        for (id, slot) in configs where slot.users <= 0 {
            configs[id] = nil
            if configIDs[slot.json] == id { configIDs[slot.json] = nil }
            snapshotBytes -= Self.recordBytes(.config(id: id, json: slot.json))
        }
    }

    /// The id of `json`, and the record defining it when it is new.
    mutating func intern(_ json: [UInt8]) -> (UInt32, CatalogRecord?) {
        if let id = configIDs[json], configs[id] != nil { return (id, nil) }
        return (nextConfigID, .config(id: nextConfigID, json: json))
    }

    /// The records that rebuild this state, ending with the end-of-snapshot record unless
    /// `endRecord` is false: the configs in use, every topic, the per-log offsets, the deletes
    /// in progress.
    func snapshot(endRecord: Bool = true) -> [CatalogRecord] {
        var records: [CatalogRecord] = []
        records.reserveCapacity(topics.count + configs.count + logStarts.count + startOffsets.count + 1)
        for (id, slot) in configs.sorted(by: { $0.key < $1.key }) where slot.users > 0 {
            records.append(.config(id: id, json: slot.json))
        }
        for (name, topic) in topics {
            records.append(.topicCreated(name: name, configID: topic.configID, partitions: topic.partitions))
            if topic.deleting { records.append(.deleteBegun(name: name)) }
        }
        for (log, offset) in startOffsets {
            guard let parsed = try? LogName.parse(log) else { continue }
            records.append(.startOffsetSet(name: parsed.topic, partition: parsed.partition, offset: offset))
        }
        for (log, offset) in logStarts {
            guard let parsed = try? LogName.parse(log) else { continue }
            records.append(.logStartMoved(name: parsed.topic, partition: parsed.partition, offset: offset))
        }
        if endRecord { records.append(.snapshotEnd(topicCount: UInt64(topics.count))) }
        return records
    }

    /// Bytes `record` takes in a file, without encoding it.
    static func recordBytes(_ record: CatalogRecord) -> Int {
        let header = CatalogFormat.recordHeaderSize
        switch record {
        case .config(_, let json): return header + 4 + json.count
        case .topicCreated(let name, _, _): return header + 2 + name.utf8.count + 8
        case .configChanged(let name, _), .partitionsGrown(let name, _): return header + 2 + name.utf8.count + 4
        case .logStartMoved(let name, _, _), .startOffsetSet(let name, _, _): return header + 2 + name.utf8.count + 12
        case .deleteBegun(let name), .deleteFinished(let name): return header + 2 + name.utf8.count
        case .snapshotEnd: return header + 8
        }
    }
}
