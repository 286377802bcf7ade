/// The replay of `__consumer_offsets` (formats/groups.md, "Replay"): the groups the records
/// build, the checkpoint being read (the shadow) and what the store needs to decide when to
/// write the next one. The store applies its own writes through the same `apply`, so what it holds
/// in memory is what a replay of the log gives.
struct GroupLog: Sendable {
    /// A checkpoint whose `begin` was read and whose `end` was not yet.
    struct Shadow: Sendable {
        var id: Int64
        var beginOffset: Int64
        var chunkCount: UInt32
        var stateBytes: UInt64
        var stateCrc: UInt32
        var nextIndex: UInt32 = 0
        var bytes: [UInt8] = []
    }

    var groups: [String: StoredGroup] = [:]
    var shadow: Shadow?
    /// Offset of the `begin` of the last complete checkpoint (everything before it may go).
    var checkpointOffset: Int64?
    /// The highest checkpoint id seen, complete or not: the next one takes a higher id.
    var checkpointId: Int64 = 0
    /// Key and value bytes of the records since the last complete checkpoint.
    var bytesSinceCheckpoint: Int64 = 0
    /// The state's size at the last complete checkpoint.
    var stateBytesAtCheckpoint: Int64 = 0
    /// Checkpoints abandoned (interrupted by a crash or a failed write), as (id, begin offset).
    var abandoned: [(id: Int64, offset: Int64)] = []

    /// Applies the record stored at `offset` of the topic.
    /// - Throws: `corrupt` naming the offset (and the field and byte of a format error): a
    ///   record that is not a group record, a checkpoint part out of place, a checkpoint whose
    ///   bytes do not match its `begin`.
    mutating func apply(key: [UInt8]?, value: [UInt8]?, offset: Int64) throws(StrataError) {
        let record: GroupRecord
        do throws(FormatError) { record = try GroupRecordCodec.decode(key: key, value: value) } catch {
            throw Self.corrupt(offset, "\(error)")
        }
        bytesSinceCheckpoint += Int64((key?.count ?? 0) + (value?.count ?? 0))
        try apply(record, offset: offset)
    }

    mutating func apply(_ record: GroupRecord, offset: Int64) throws(StrataError) {
        if case .checkpoint(let id, let part) = record {
            return try applyCheckpoint(id, part, offset: offset)
        }
        abandonShadow()
        Self.applyState(record, to: &groups)
    }

    /// The end of the log was reached: a checkpoint still open there was interrupted.
    mutating func finish() { abandonShadow() }

    private mutating func abandonShadow() {
        guard let open = shadow else { return }
        abandoned.append((open.id, open.beginOffset))
        shadow = nil
    }

    private mutating func applyCheckpoint(_ id: Int64, _ part: CheckpointPart, offset: Int64) throws(StrataError) {
        switch part {
        case .begin(let chunkCount, let stateBytes, let stateCrc):
            abandonShadow()
            checkpointId = max(checkpointId, id)
            shadow = Shadow(
                id: id, beginOffset: offset, chunkCount: chunkCount, stateBytes: stateBytes, stateCrc: stateCrc)
        case .chunk(let index, let bytes):
            guard var open = shadow, open.id == id else {
                throw Self.corrupt(offset, "chunk \(index) of checkpoint \(id) follows no begin of that checkpoint")
            }
            guard index == open.nextIndex, index < open.chunkCount,
                UInt64(open.bytes.count + bytes.count) <= open.stateBytes
            else {
                throw Self.corrupt(
                    offset,
                    "chunk \(index) of checkpoint \(id) does not fit: expected chunk \(open.nextIndex) of "
                        + "\(open.chunkCount), \(open.bytes.count) of \(open.stateBytes) bytes read")
            }
            shadow = nil  // no copy of the collected bytes while they grow
            open.bytes += bytes
            open.nextIndex += 1
            shadow = open
        case .end(let chunkCount):
            guard let open = shadow, open.id == id else {
                throw Self.corrupt(offset, "end of checkpoint \(id) follows no begin of that checkpoint")
            }
            shadow = nil
            try complete(open, chunkCount: chunkCount, offset: offset)
        }
    }

    private mutating func complete(_ open: Shadow, chunkCount: UInt32, offset: Int64) throws(StrataError) {
        guard chunkCount == open.chunkCount, open.nextIndex == open.chunkCount,
            UInt64(open.bytes.count) == open.stateBytes
        else {
            throw Self.corrupt(
                offset,
                "checkpoint \(open.id) ends after \(open.nextIndex) chunks and \(open.bytes.count) bytes; its begin "
                    + "at offset \(open.beginOffset) announced \(open.chunkCount) chunks and \(open.stateBytes) "
                    + "bytes (its end says \(chunkCount) chunks)")
        }
        let crc = CRC32C.checksum(open.bytes)
        guard crc == open.stateCrc else {
            throw Self.corrupt(
                offset,
                "checkpoint \(open.id) from offset \(open.beginOffset): state CRC \(ByteText.hex32(crc)), its begin "
                    + "says \(ByteText.hex32(open.stateCrc))")
        }
        let entries: [GroupRecord]
        do throws(FormatError) { entries = try GroupRecordCodec.decodeState(open.bytes) } catch {
            throw Self.corrupt(offset, "state of checkpoint \(open.id) from offset \(open.beginOffset): \(error)")
        }
        var rebuilt: [String: StoredGroup] = [:]
        for entry in entries { Self.applyState(entry, to: &rebuilt) }
        groups = rebuilt
        checkpointOffset = open.beginOffset
        bytesSinceCheckpoint = 0
        stateBytesAtCheckpoint = Int64(open.bytes.count)
    }

    /// Applies one record that is not a checkpoint part.
    static func applyState(_ record: GroupRecord, to groups: inout [String: StoredGroup]) {
        switch record {
        case .offsetCommit(let group, let topic, let partition, let value):
            groups[group, default: StoredGroup()].offsets[GroupTopicPartition(topic: topic, partition: partition)] =
                value
        case .offsetTombstone(let group, let topic, let partition):
            groups[group]?.offsets[GroupTopicPartition(topic: topic, partition: partition)] = nil
            removeIfEmpty(group, &groups)
        case .groupMetadata(let group, let value):
            groups[group, default: StoredGroup()].metadata = value
        case .groupTombstone(let group):
            groups[group] = nil
        case .topicTombstone(let topic):
            for (name, stored) in groups where stored.offsets.keys.contains(where: { $0.topic == topic }) {
                groups[name]?.offsets = stored.offsets.filter { $0.key.topic != topic }
                removeIfEmpty(name, &groups)
            }
        case .checkpoint:
            break
        }
    }

    private static func removeIfEmpty(_ group: String, _ groups: inout [String: StoredGroup]) {
        if let stored = groups[group], stored.metadata == nil, stored.offsets.isEmpty { groups[group] = nil }
    }

    /// The records a checkpoint of `groups` holds, in the writer's order (formats/groups.md).
    static func stateEntries(_ groups: [String: StoredGroup]) -> [GroupRecord] {
        var entries: [GroupRecord] = []
        for name in groups.keys.sorted() {
            guard let stored = groups[name] else { continue }
            if let metadata = stored.metadata {
                entries.append(.groupMetadata(group: name, metadata))
            }
            for partition in stored.offsets.keys.sorted() {
                guard let offset = stored.offsets[partition] else { continue }
                entries.append(
                    .offsetCommit(
                        group: name, topic: partition.topic, partition: partition.partition,
                        offset))
            }
        }
        return entries
    }

    static func corrupt(_ offset: Int64, _ what: String) -> StrataError {
        StrataError(
            .corrupt,
            "record at offset \(offset) of \(GroupStore.topicName): \(what); the group store does not start on "
                + "state it cannot trust (formats/groups.md, \"Replay\"); nothing was changed",
            topic: GroupStore.topicName)
    }
}
