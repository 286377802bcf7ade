/// The records of the internal topic `__consumer_offsets` (formats/groups.md): committed offsets,
/// group membership, their tombstones and the checkpoints that bound the log. Pure codecs: every
/// decoder reports bad bytes as a `FormatError` naming the field and its byte position (in the key
/// or the value, as the field's prefix says) and never traps; every encoder refuses a value the
/// decoder would refuse, so what is written is always readable.

/// The three parts of a checkpoint (formats/groups.md, "Checkpoints").
public enum CheckpointPart: Sendable, Equatable {
    /// Starts checkpoint: the state that follows is `stateBytes` long, in `chunkCount` chunks,
    /// with CRC32C `stateCrc`.
    case begin(chunkCount: UInt32, stateBytes: UInt64, stateCrc: UInt32)
    /// Bytes `index` of the state (chunks come in order, 0 first).
    case chunk(index: UInt32, bytes: [UInt8])
    /// Ends the checkpoint: only now does its state replace the one before it.
    case end(chunkCount: UInt32)
}

/// One record of `__consumer_offsets`, decoded.
public enum GroupRecord: Sendable, Equatable {
    case offsetCommit(group: String, topic: String, partition: Int32, CommittedOffset)
    /// Forgets one committed offset.
    case offsetTombstone(group: String, topic: String, partition: Int32)
    case groupMetadata(group: String, GroupMetadataRecord)
    /// Forgets a group: its membership and every offset it committed.
    case groupTombstone(group: String)
    /// Forgets every group's offsets of a topic (the topic was deleted).
    case topicTombstone(topic: String)
    case checkpoint(id: Int64, CheckpointPart)
}

/// Bounds of the group records (formats/groups.md, "Bounds").
public enum GroupRecordLimits {
    /// Strings (group ids, member ids, metadata, …): Kafka's own bound on a wire string.
    public static let stringBytesMax = 32_767
    /// Members one group record may list.
    public static let membersMax = 100_000
    /// Bytes one checkpoint's state may have: a reader assembles it in memory.
    public static let checkpointStateBytesMax: UInt64 = 1 << 30
    /// Chunks one checkpoint may have.
    public static let checkpointChunksMax: UInt32 = 1 << 20
    /// The only version of keys, values and checkpoint states this code writes and reads.
    public static let version: UInt8 = 1
    /// Fewest bytes one member takes (four empty strings, a null one, two timeouts, two empty
    /// byte strings): bounds a member count before anything is allocated.
    static let memberBytesMin = 2 * 4 + 4 * 2 + 4 * 2
}

/// Encoder and decoder of the records of `__consumer_offsets` and of checkpoint states.
public enum GroupRecordCodec {
    enum KeyKind: UInt8 {
        case offset = 0
        case group = 1
        case topic = 2
        case checkpoint = 3
    }

    enum PartKind: UInt8 {
        case begin = 0
        case chunk = 1
        case end = 2
    }

    // MARK: - Records

    /// The record's key and value (nil for a tombstone).
    /// - Throws: `FormatError` (`outOfBounds`, `invalidValue`) for a value the format cannot hold:
    ///   a string over `stringBytesMax`, a bad topic name, a negative partition, too many members.
    public static func encode(_ record: GroupRecord) throws(FormatError) -> (key: [UInt8], value: [UInt8]?) {
        var key = ByteWriter(capacity: 64)
        key.u8(GroupRecordLimits.version)
        switch record {
        case .offsetCommit(let group, let topic, let partition, let value):
            try offsetKey(&key, group, topic, partition)
            var out = ByteWriter(capacity: 32 + value.metadata.utf8.count)
            out.u8(GroupRecordLimits.version)
            out.i64(value.offset)
            out.i32(value.leaderEpoch)
            try string(&out, value.metadata, "value.metadata")
            out.i64(value.commitTimestampMs)
            return (key.bytes, out.bytes)
        case .offsetTombstone(let group, let topic, let partition):
            try offsetKey(&key, group, topic, partition)
            return (key.bytes, nil)
        case .groupMetadata(let group, let value):
            key.u8(KeyKind.group.rawValue)
            try string(&key, group, "key.group")
            return (key.bytes, try encodeMetadata(value))
        case .groupTombstone(let group):
            key.u8(KeyKind.group.rawValue)
            try string(&key, group, "key.group")
            return (key.bytes, nil)
        case .topicTombstone(let topic):
            key.u8(KeyKind.topic.rawValue)
            try topicName(&key, topic, "key.topic")
            return (key.bytes, nil)
        case .checkpoint(let id, let part):
            key.u8(KeyKind.checkpoint.rawValue)
            key.i64(id)
            return (key.bytes, try encodePart(part))
        }
    }

    /// The record a key and value hold.
    /// - Throws: `FormatError` naming the field (`key.…` or `value.…`) and the byte position in
    ///   that part: a missing key, an unknown version or kind, a length past the end, invalid
    ///   UTF-8, a bad topic name, a negative partition, a count over its bound, a value where a
    ///   tombstone must be (and the reverse), trailing bytes.
    public static func decode(key: [UInt8]?, value: [UInt8]?) throws(FormatError) -> GroupRecord {
        guard let key else { throw FormatError(.invalidValue, field: "key", position: 0, "a group record has a key") }
        return try withBytes(key) { (raw) throws(FormatError) -> GroupRecord in
            var r = ByteReader(raw)
            try version(&r, "key.version")
            let kindPosition = r.position
            let kindByte = try r.u8("key.kind")
            guard let kind = KeyKind(rawValue: kindByte) else {
                throw r.error(.invalidValue, "key.kind", at: kindPosition, "unknown key kind \(kindByte)")
            }
            switch kind {
            case .offset:
                let group = try string(&r, "key.group")
                let topic = try topicName(&r, "key.topic")
                let partition = try partitionNumber(&r, "key.partition")
                try finished(r, "key")
                guard let value else { return .offsetTombstone(group: group, topic: topic, partition: partition) }
                return .offsetCommit(group: group, topic: topic, partition: partition, try decodeOffsetValue(value))
            case .group:
                let group = try string(&r, "key.group")
                try finished(r, "key")
                guard let value else { return .groupTombstone(group: group) }
                return .groupMetadata(group: group, try decodeMetadata(value))
            case .topic:
                let topic = try topicName(&r, "key.topic")
                try finished(r, "key")
                guard value == nil else {
                    throw FormatError(.invalidValue, field: "value", position: 0, "a topic record is a tombstone")
                }
                return .topicTombstone(topic: topic)
            case .checkpoint:
                let id = try r.i64("key.checkpointId")
                try finished(r, "key")
                guard let value else {
                    throw FormatError(.invalidValue, field: "value", position: 0, "a checkpoint record has a value")
                }
                return .checkpoint(id: id, try decodePart(value))
            }
        }
    }

    private static func offsetKey(
        _ key: inout ByteWriter, _ group: String, _ topic: String, _ partition: Int32
    ) throws(FormatError) {
        key.u8(KeyKind.offset.rawValue)
        try string(&key, group, "key.group")
        try topicName(&key, topic, "key.topic")
        guard partition >= 0 else {
            throw FormatError(.invalidValue, field: "key.partition", position: key.count, "partition \(partition) < 0")
        }
        key.i32(partition)
    }

    private static func decodeOffsetValue(_ value: [UInt8]) throws(FormatError) -> CommittedOffset {
        try withBytes(value) { (raw) throws(FormatError) -> CommittedOffset in
            var r = ByteReader(raw)
            try version(&r, "value.version")
            let offset = try r.i64("value.offset")
            let epoch = try r.i32("value.leaderEpoch")
            let metadata = try string(&r, "value.metadata")
            let timestamp = try r.i64("value.commitTimestampMs")
            try finished(r, "value")
            return CommittedOffset(
                offset: offset, leaderEpoch: epoch, metadata: metadata, commitTimestampMs: timestamp)
        }
    }

    private static func encodeMetadata(_ value: GroupMetadataRecord) throws(FormatError) -> [UInt8] {
        var out = ByteWriter(capacity: 64 + value.members.count * 64)
        out.u8(GroupRecordLimits.version)
        try string(&out, value.protocolType, "value.protocolType")
        out.i32(value.generation)
        try nullableString(&out, value.protocolName, "value.protocolName")
        try nullableString(&out, value.leader, "value.leader")
        out.i64(value.stateTimestampMs)
        guard value.members.count <= GroupRecordLimits.membersMax else {
            throw FormatError(
                .outOfBounds, field: "value.memberCount", position: out.count,
                "\(value.members.count) members, at most \(GroupRecordLimits.membersMax)")
        }
        out.u32(UInt32(value.members.count))
        for (i, member) in value.members.enumerated() {
            let field = "value.members[\(i)]"
            try string(&out, member.memberId, field + ".memberId")
            try nullableString(&out, member.groupInstanceId, field + ".groupInstanceId")
            try string(&out, member.clientId, field + ".clientId")
            try string(&out, member.clientHost, field + ".clientHost")
            out.i32(member.rebalanceTimeoutMs)
            out.i32(member.sessionTimeoutMs)
            try byteString(&out, member.subscription, field + ".subscription")
            try byteString(&out, member.assignment, field + ".assignment")
        }
        return out.bytes
    }

    private static func decodeMetadata(_ value: [UInt8]) throws(FormatError) -> GroupMetadataRecord {
        try withBytes(value) { (raw) throws(FormatError) -> GroupMetadataRecord in
            var r = ByteReader(raw)
            try version(&r, "value.version")
            let protocolType = try string(&r, "value.protocolType")
            let generation = try r.i32("value.generation")
            let protocolName = try nullableString(&r, "value.protocolName")
            let leader = try nullableString(&r, "value.leader")
            let timestamp = try r.i64("value.stateTimestampMs")
            let countPosition = r.position
            let count = Int(try r.u32("value.memberCount"))
            guard count <= GroupRecordLimits.membersMax, count <= r.remaining / GroupRecordLimits.memberBytesMin
            else {
                throw r.error(
                    .outOfBounds, "value.memberCount", at: countPosition,
                    "\(count) members do not fit in \(r.remaining) bytes (at most \(GroupRecordLimits.membersMax))")
            }
            var members: [GroupMemberRecord] = []
            members.reserveCapacity(count)
            for i in 0 ..< count {
                let field = "value.members[\(i)]"
                members.append(
                    GroupMemberRecord(
                        memberId: try string(&r, field + ".memberId"),
                        groupInstanceId: try nullableString(&r, field + ".groupInstanceId"),
                        clientId: try string(&r, field + ".clientId"),
                        clientHost: try string(&r, field + ".clientHost"),
                        rebalanceTimeoutMs: try r.i32(field + ".rebalanceTimeoutMs"),
                        sessionTimeoutMs: try r.i32(field + ".sessionTimeoutMs"),
                        subscription: try byteString(&r, field + ".subscription"),
                        assignment: try byteString(&r, field + ".assignment")))
            }
            try finished(r, "value")
            return GroupMetadataRecord(
                protocolType: protocolType, generation: generation, protocolName: protocolName, leader: leader,
                stateTimestampMs: timestamp, members: members)
        }
    }

    private static func encodePart(_ part: CheckpointPart) throws(FormatError) -> [UInt8] {
        var out = ByteWriter(capacity: 16)
        out.u8(GroupRecordLimits.version)
        switch part {
        case .begin(let chunkCount, let stateBytes, let stateCrc):
            try checkBegin(chunkCount, stateBytes, position: 2)
            out.u8(PartKind.begin.rawValue)
            out.u32(chunkCount)
            out.u64(stateBytes)
            out.u32(stateCrc)
        case .chunk(let index, let bytes):
            guard index < GroupRecordLimits.checkpointChunksMax else {
                throw FormatError(.outOfBounds, field: "value.chunkIndex", position: 2, "chunk \(index) past the bound")
            }
            out.u8(PartKind.chunk.rawValue)
            out.u32(index)
            try byteString(&out, bytes, "value.chunk")
        case .end(let chunkCount):
            guard chunkCount >= 1, chunkCount <= GroupRecordLimits.checkpointChunksMax else {
                throw FormatError(.outOfBounds, field: "value.chunkCount", position: 2, "\(chunkCount) chunks")
            }
            out.u8(PartKind.end.rawValue)
            out.u32(chunkCount)
        }
        return out.bytes
    }

    private static func checkBegin(_ chunkCount: UInt32, _ stateBytes: UInt64, position: Int) throws(FormatError) {
        guard chunkCount >= 1, chunkCount <= GroupRecordLimits.checkpointChunksMax else {
            throw FormatError(
                .outOfBounds, field: "value.chunkCount", position: position,
                "\(chunkCount) chunks, allowed 1...\(GroupRecordLimits.checkpointChunksMax)")
        }
        guard stateBytes <= GroupRecordLimits.checkpointStateBytesMax else {
            throw FormatError(
                .outOfBounds, field: "value.stateBytes", position: position + 4,
                "\(stateBytes) bytes, at most \(GroupRecordLimits.checkpointStateBytesMax)")
        }
    }

    private static func decodePart(_ value: [UInt8]) throws(FormatError) -> CheckpointPart {
        try withBytes(value) { (raw) throws(FormatError) -> CheckpointPart in
            var r = ByteReader(raw)
            try version(&r, "value.version")
            let kindPosition = r.position
            let kindByte = try r.u8("value.part")
            guard let kind = PartKind(rawValue: kindByte) else {
                throw r.error(.invalidValue, "value.part", at: kindPosition, "unknown checkpoint part \(kindByte)")
            }
            let part: CheckpointPart
            switch kind {
            case .begin:
                let start = r.position
                let chunkCount = try r.u32("value.chunkCount")
                let stateBytes = try r.u64("value.stateBytes")
                let crc = try r.u32("value.stateCrc")
                try checkBegin(chunkCount, stateBytes, position: start)
                part = .begin(chunkCount: chunkCount, stateBytes: stateBytes, stateCrc: crc)
            case .chunk:
                let indexPosition = r.position
                let index = try r.u32("value.chunkIndex")
                guard index < GroupRecordLimits.checkpointChunksMax else {
                    throw r.error(.outOfBounds, "value.chunkIndex", at: indexPosition, "chunk \(index) past the bound")
                }
                part = .chunk(index: index, bytes: try byteString(&r, "value.chunk"))
            case .end:
                let countPosition = r.position
                let chunkCount = try r.u32("value.chunkCount")
                guard chunkCount >= 1, chunkCount <= GroupRecordLimits.checkpointChunksMax else {
                    throw r.error(.outOfBounds, "value.chunkCount", at: countPosition, "\(chunkCount) chunks")
                }
                part = .end(chunkCount: chunkCount)
            }
            try finished(r, "value")
            return part
        }
    }

    // MARK: - Checkpoint states

    /// A checkpoint's state: the version, the entry count, then each entry's key and value
    /// (length-prefixed), as the records that would rebuild the state from nothing.
    /// - Parameter entries: `offsetCommit` and `groupMetadata` records only, each key once.
    /// - Throws: `FormatError(.invalidValue, field: "state.entries[i]")` for another kind of
    ///   record; what `encode(_:)` throws.
    public static func encodeState(_ entries: [GroupRecord]) throws(FormatError) -> [UInt8] {
        var out = ByteWriter(capacity: 64 * entries.count + 8)
        out.u8(GroupRecordLimits.version)
        out.u32(UInt32(entries.count))
        for (i, entry) in entries.enumerated() {
            switch entry {
            case .offsetCommit, .groupMetadata: break
            default:
                throw FormatError(
                    .invalidValue, field: "state.entries[\(i)]", position: out.count,
                    "a checkpoint holds offset commits and group metadata only")
            }
            let (key, value) = try encode(entry)
            out.u32(UInt32(key.count))
            out.raw(key)
            let bytes = value ?? []
            out.u32(UInt32(bytes.count))
            out.raw(bytes)
        }
        return out.bytes
    }

    /// The records a checkpoint's state holds, in their order.
    /// - Throws: `FormatError` naming `state.…` and the byte position in the state: an unknown
    ///   version, a count or length past the end, a record other than an offset commit or a
    ///   group metadata record, a key present twice, trailing bytes; errors inside an entry are
    ///   shifted to their position in the state.
    public static func decodeState(_ state: [UInt8]) throws(FormatError) -> [GroupRecord] {
        try withBytes(state) { (raw) throws(FormatError) -> [GroupRecord] in
            var r = ByteReader(raw)
            try version(&r, "state.version")
            let countPosition = r.position
            let count = Int(try r.u32("state.entryCount"))
            // An entry takes at least 8 bytes of lengths plus a 3-byte key.
            guard count <= r.remaining / 11 else {
                throw r.error(
                    .outOfBounds, "state.entryCount", at: countPosition,
                    "\(count) entries do not fit in \(r.remaining) bytes")
            }
            var entries: [GroupRecord] = []
            entries.reserveCapacity(count)
            var seen = Set<[UInt8]>()
            for i in 0 ..< count {
                let field = "state.entries[\(i)]"
                let keyPosition = r.position
                let key = try lengthPrefixed(&r, field + ".keyLength")
                let valuePosition = r.position + 4
                let value = try lengthPrefixed(&r, field + ".valueLength")
                let entry: GroupRecord
                do throws(FormatError) {
                    entry = try decode(key: key, value: value)
                } catch {
                    let base = error.field.hasPrefix("key") ? keyPosition + 4 : valuePosition
                    var shifted = error.shifted(by: base)
                    shifted.field = field + "." + error.field
                    throw shifted
                }
                switch entry {
                case .offsetCommit, .groupMetadata: break
                default:
                    throw r.error(
                        .invalidValue, field, at: keyPosition,
                        "a checkpoint holds offset commits and group metadata only")
                }
                guard seen.insert(key).inserted else {
                    throw r.error(.invalidValue, field, at: keyPosition, "this key is already in the checkpoint")
                }
                entries.append(entry)
            }
            try finished(r, "state")
            return entries
        }
    }

    /// The records of one checkpoint of `state`: begin, the chunks of at most `chunkBytes`
    /// bytes each, end.
    /// - Throws: `FormatError(.outOfBounds)` when the state or its chunk count exceeds the bounds.
    public static func checkpoint(id: Int64, state: [UInt8], chunkBytes: Int) throws(FormatError) -> [GroupRecord] {
        let size = max(1, chunkBytes)
        let chunkCount = max(1, (state.count + size - 1) / size)
        guard chunkCount <= Int(GroupRecordLimits.checkpointChunksMax) else {
            throw FormatError(
                .outOfBounds, field: "value.chunkCount", position: 0, "\(chunkCount) chunks of \(size) bytes")
        }
        var records: [GroupRecord] = [
            .checkpoint(
                id: id,
                .begin(
                    chunkCount: UInt32(chunkCount), stateBytes: UInt64(state.count), stateCrc: CRC32C.checksum(state)))
        ]
        for index in 0 ..< chunkCount {
            let start = index * size
            let chunk = Array(state[start ..< min(state.count, start + size)])
            records.append(.checkpoint(id: id, .chunk(index: UInt32(index), bytes: chunk)))
        }
        records.append(.checkpoint(id: id, .end(chunkCount: UInt32(chunkCount))))
        return records
    }

    // MARK: - Fields

    private static func version(_ r: inout ByteReader, _ field: String) throws(FormatError) {
        let position = r.position
        let version = try r.u8(field)
        guard version == GroupRecordLimits.version else {
            throw r.error(.unsupportedVersion, field, at: position, "version \(version), this reader knows 1")
        }
    }

    private static func finished(_ r: ByteReader, _ field: String) throws(FormatError) {
        guard r.remaining == 0 else { throw r.error(.invalidValue, field, "\(r.remaining) trailing bytes") }
    }

    private static func string(_ out: inout ByteWriter, _ text: String, _ field: String) throws(FormatError) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= GroupRecordLimits.stringBytesMax else {
            throw FormatError(
                .outOfBounds, field: field, position: out.count,
                "\(utf8.count) bytes, at most \(GroupRecordLimits.stringBytesMax)")
        }
        out.i16(Int16(utf8.count))
        out.raw(utf8)
    }

    private static func nullableString(_ out: inout ByteWriter, _ text: String?, _ field: String) throws(FormatError) {
        guard let text else { return out.i16(-1) }
        try string(&out, text, field)
    }

    private static func topicName(_ out: inout ByteWriter, _ topic: String, _ field: String) throws(FormatError) {
        do throws(FormatError) { try TopicName.validate(topic) } catch {
            throw FormatError(error.code, field: field, position: out.count + 2 + error.position, error.message)
        }
        try string(&out, topic, field)
    }

    private static func byteString(_ out: inout ByteWriter, _ bytes: [UInt8], _ field: String) throws(FormatError) {
        guard bytes.count <= FormatLimits.batchBytesMax else {
            throw FormatError(.outOfBounds, field: field, position: out.count, "\(bytes.count) bytes")
        }
        out.u32(UInt32(bytes.count))
        out.raw(bytes)
    }

    private static func string(_ r: inout ByteReader, _ field: String) throws(FormatError) -> String {
        guard let text = try nullableString(&r, field) else {
            throw r.error(.invalidValue, field, at: r.position - 2, "null where a string must be")
        }
        return text
    }

    private static func nullableString(_ r: inout ByteReader, _ field: String) throws(FormatError) -> String? {
        let position = r.position
        let length = try r.i16(field)
        if length == -1 { return nil }
        guard length >= 0 else { throw r.error(.outOfBounds, field, at: position, "length \(length)") }
        let bytes = try r.bytes(Int(length), field)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw r.error(.invalidValue, field, at: position + 2, "not UTF-8")
        }
        return text
    }

    private static func topicName(_ r: inout ByteReader, _ field: String) throws(FormatError) -> String {
        let position = r.position
        let topic = try string(&r, field)
        do throws(FormatError) { try TopicName.validate(topic) } catch {
            throw r.error(error.code, field, at: position + 2 + error.position, error.message)
        }
        return topic
    }

    private static func partitionNumber(_ r: inout ByteReader, _ field: String) throws(FormatError) -> Int32 {
        let position = r.position
        let partition = try r.i32(field)
        guard partition >= 0 else { throw r.error(.invalidValue, field, at: position, "partition \(partition) < 0") }
        return partition
    }

    private static func byteString(_ r: inout ByteReader, _ field: String) throws(FormatError) -> [UInt8] {
        try lengthPrefixed(&r, field)
    }

    /// A u32 length, then that many bytes (the length is checked against what is left first).
    private static func lengthPrefixed(_ r: inout ByteReader, _ field: String) throws(FormatError) -> [UInt8] {
        let position = r.position
        let length = Int(try r.u32(field))
        guard length <= r.remaining else {
            throw r.error(.truncated, field, at: position, "length \(length), \(r.remaining) bytes left")
        }
        return try r.bytes(length, field)
    }
}
