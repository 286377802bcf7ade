import Foundation
import StrataBlob
import Testing

@testable import StrataFormat

/// formats/groups.md against a vector written by an independent Python encoder
/// (tools/groups-vectors.py), and the codec's answers to bad bytes.
@Suite struct GroupRecordVectorTests {
    struct Member: Decodable {
        var memberId: String
        var groupInstanceId: String?
        var clientId: String
        var clientHost: String
        var rebalanceTimeoutMs: Int32
        var sessionTimeoutMs: Int32
        var subscriptionHex: String
        var assignmentHex: String
    }

    struct Described: Decodable {
        var type: String
        var group: String?
        var topic: String?
        var partition: Int32?
        var offset: Int64?
        var leaderEpoch: Int32?
        var metadata: String?
        var commitTimestampMs: Int64?
        var protocolType: String?
        var generation: Int32?
        var protocolName: String?
        var leader: String?
        var stateTimestampMs: Int64?
        var members: [Member]?
        var id: Int64?
        var chunkCount: UInt32?
        var stateBytes: UInt64?
        var stateCrc: UInt32?
        var index: UInt32?
        var bytesHex: String?

        func record() throws -> GroupRecord {
            switch type {
            case "offsetCommit":
                return .offsetCommit(
                    group: try #require(group), topic: try #require(topic), partition: try #require(partition),
                    CommittedOffset(
                        offset: try #require(offset), leaderEpoch: try #require(leaderEpoch),
                        metadata: try #require(metadata), commitTimestampMs: try #require(commitTimestampMs)))
            case "offsetTombstone":
                return .offsetTombstone(
                    group: try #require(group), topic: try #require(topic), partition: try #require(partition))
            case "groupMetadata":
                return .groupMetadata(
                    group: try #require(group),
                    GroupMetadataRecord(
                        protocolType: try #require(protocolType), generation: try #require(generation),
                        protocolName: protocolName, leader: leader, stateTimestampMs: try #require(stateTimestampMs),
                        members: try #require(members).map {
                            GroupMemberRecord(
                                memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                                clientHost: $0.clientHost, rebalanceTimeoutMs: $0.rebalanceTimeoutMs,
                                sessionTimeoutMs: $0.sessionTimeoutMs, subscription: try hex($0.subscriptionHex),
                                assignment: try hex($0.assignmentHex))
                        }))
            case "groupTombstone": return .groupTombstone(group: try #require(group))
            case "topicTombstone": return .topicTombstone(topic: try #require(topic))
            case "checkpointBegin":
                return .checkpoint(
                    id: try #require(id),
                    .begin(
                        chunkCount: try #require(chunkCount), stateBytes: try #require(stateBytes),
                        stateCrc: try #require(stateCrc)))
            case "checkpointChunk":
                return .checkpoint(
                    id: try #require(id), .chunk(index: try #require(index), bytes: try hex(try #require(bytesHex))))
            case "checkpointEnd":
                return .checkpoint(id: try #require(id), .end(chunkCount: try #require(chunkCount)))
            default:
                throw FormatError(.invalidValue, field: "type", position: 0, type)
            }
        }
    }

    struct Vector: Decodable {
        var records: [Described]
        var checkpointState: [Described]
    }

    /// The (key, value) pairs of groups.bin: u32 key length, key, i32 value length (-1: null), value.
    static func pairs(_ bytes: [UInt8]) throws -> [(key: [UInt8], value: [UInt8]?)] {
        var pairs: [(key: [UInt8], value: [UInt8]?)] = []
        var at = 0
        func u32() throws -> UInt32 {
            try #require(at + 4 <= bytes.count)
            defer { at += 4 }
            return (0 ..< 4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
        }
        while at < bytes.count {
            let keyLength = Int(try u32())
            let key = Array(bytes[at ..< at + keyLength])
            at += keyLength
            let valueLength = Int32(bitPattern: try u32())
            var value: [UInt8]? = nil
            if valueLength >= 0 {
                value = Array(bytes[at ..< at + Int(valueLength)])
                at += Int(valueLength)
            }
            pairs.append((key, value))
        }
        return pairs
    }

    func load() throws -> (pairs: [(key: [UInt8], value: [UInt8]?)], vector: Vector) {
        let pairs = try Self.pairs(try vector("groups.bin"))
        let described = try JSONDecoder().decode(Vector.self, from: Data(try vector("groups.json")))
        return (pairs, described)
    }

    @Test func everyRecordDecodesToItsValuesAndEncodesToItsBytes() throws {
        let (pairs, described) = try load()
        #expect(pairs.count == described.records.count)
        let kinds = Set(described.records.map(\.type))
        #expect(kinds.count == 8, "one record of every kind: \(kinds)")
        for (pair, entry) in zip(pairs, described.records) {
            let expected = try entry.record()
            #expect(try GroupRecordCodec.decode(key: pair.key, value: pair.value) == expected, "\(entry.type)")
            let encoded = try GroupRecordCodec.encode(expected)
            #expect(encoded.key == pair.key && encoded.value == pair.value, "\(entry.type)")
        }
    }

    @Test func theCheckpointAssemblesToItsStateAndTheStateEncodesToTheSameBytes() throws {
        let (pairs, described) = try load()
        let records = try pairs.map { try GroupRecordCodec.decode(key: $0.key, value: $0.value) }
        var state: [UInt8] = []
        var begin: (UInt32, UInt64, UInt32)? = nil
        var ended = false
        for record in records {
            guard case .checkpoint(_, let part) = record else { continue }
            switch part {
            case .begin(let count, let bytes, let crc): begin = (count, bytes, crc)
            case .chunk(_, let bytes): state += bytes
            case .end(let count):
                #expect(count == begin?.0)
                ended = true
            }
        }
        let announced = try #require(begin)
        #expect(ended && announced.0 == 2)
        #expect(UInt64(state.count) == announced.1)
        #expect(CRC32C.checksum(state) == announced.2)
        let expected = try described.checkpointState.map { try $0.record() }
        #expect(try GroupRecordCodec.decodeState(state) == expected)
        #expect(try GroupRecordCodec.encodeState(expected) == state)
        // The Swift chunker cuts the same state into records that assemble to it again.
        let chunked = try GroupRecordCodec.checkpoint(id: 9, state: state, chunkBytes: 100)
        #expect(chunked.count == 2 + (state.count + 99) / 100)
        var reassembled: [UInt8] = []
        for case .checkpoint(9, .chunk(_, let bytes)) in chunked { reassembled += bytes }
        #expect(reassembled == state)
    }

    @Test func everyCutOfAKeyOrValueIsATypedErrorAndNoFlippedBitCrashes() throws {
        let (pairs, _) = try load()
        for (i, pair) in pairs.enumerated() {
            for cut in 0 ..< pair.key.count {
                #expect(throws: FormatError.self, "record \(i) key cut at \(cut)") {
                    _ = try GroupRecordCodec.decode(key: Array(pair.key[..<cut]), value: pair.value)
                }
            }
            if let value = pair.value {
                for cut in 0 ..< value.count {
                    #expect(throws: FormatError.self, "record \(i) value cut at \(cut)") {
                        _ = try GroupRecordCodec.decode(key: pair.key, value: Array(value[..<cut]))
                    }
                }
                for bit in 0 ..< value.count * 8 {
                    _ = try? GroupRecordCodec.decode(key: pair.key, value: flipped(value, bit: bit))
                }
            }
            for bit in 0 ..< pair.key.count * 8 {
                _ = try? GroupRecordCodec.decode(key: flipped(pair.key, bit: bit), value: pair.value)
            }
            // A version this reader does not know.
            var newer = pair.key
            newer[0] = 2
            #expect(
                formatError { () throws(FormatError) in try GroupRecordCodec.decode(key: newer, value: pair.value) }?
                    .code == .unsupportedVersion)
        }
        var rng = SeededRNG(seed: 14)
        for _ in 0 ..< 20_000 {
            let key = Random.nullable(&rng, maxCount: 40)
            let value = Random.nullable(&rng, maxCount: 60)
            _ = try? GroupRecordCodec.decode(key: key, value: value)
            _ = try? GroupRecordCodec.decodeState(value ?? [])
        }
    }

    @Test func badFieldsAreNamedWithTheirPosition() throws {
        // No key: a record someone produced, not a group record.
        #expect(
            formatError { () throws(FormatError) in try GroupRecordCodec.decode(key: nil, value: [1]) }?.field == "key")
        let kind = formatError { () throws(FormatError) in try GroupRecordCodec.decode(key: [1, 9], value: nil) }
        #expect(kind?.field == "key.kind" && kind?.position == 1 && kind?.code == .invalidValue)
        // An offset key whose topic is not a topic name: byte 0x2f at position 2 + 2 + 1 + 2 + 1.
        let badTopic: [UInt8] = [1, 0, 1, 0, UInt8(ascii: "g"), 3, 0, UInt8(ascii: "a"), UInt8(ascii: "/"), 0x62]
        let topic = formatError { () throws(FormatError) in
            try GroupRecordCodec.decode(key: badTopic + [0, 0, 0, 0], value: nil)
        }
        #expect(topic?.field == "key.topic" && topic?.position == 8, "\(String(describing: topic))")
        // A member count far past the bytes is refused before anything is allocated.
        var value: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        value += [UInt8](repeating: 0, count: 8) + [0xff, 0xff, 0xff, 0x7f]
        let members = formatError { () throws(FormatError) in
            try GroupRecordCodec.decode(key: [1, 1, 1, 0, UInt8(ascii: "g")], value: value)
        }
        #expect(members?.field == "value.memberCount" && members?.code == .outOfBounds && members?.position == 19)
        // A topic record with a value, a checkpoint record without one, trailing bytes.
        let topicKey: [UInt8] = [1, 2, 1, 0, UInt8(ascii: "t")]
        #expect(
            formatError { () throws(FormatError) in try GroupRecordCodec.decode(key: topicKey, value: [1]) }?.field
                == "value")
        #expect(
            formatError { () throws(FormatError) in
                try GroupRecordCodec.decode(key: [1, 3] + [UInt8](repeating: 0, count: 8), value: nil)
            } != nil)
        #expect(
            formatError { () throws(FormatError) in try GroupRecordCodec.decode(key: topicKey + [0], value: nil) }?
                .field == "key")
        // A checkpoint state holding a tombstone, or one key twice.
        let commit = GroupRecord.offsetCommit(
            group: "g", topic: "t", partition: 0,
            CommittedOffset(offset: 1, leaderEpoch: -1, metadata: "", commitTimestampMs: 0))
        #expect(
            formatError { () throws(FormatError) in try GroupRecordCodec.encodeState([.topicTombstone(topic: "t")]) }?
                .field == "state.entries[0]")
        var twice = try GroupRecordCodec.encodeState([commit, commit])
        #expect(
            formatError { () throws(FormatError) in try GroupRecordCodec.decodeState(twice) }?.field
                == "state.entries[1]")
        twice.append(0)
        #expect(formatError { () throws(FormatError) in try GroupRecordCodec.decodeState(twice) } != nil)
    }

    @Test func theEncoderRefusesWhatTheDecoderWouldRefuse() {
        let value = CommittedOffset(offset: 1, leaderEpoch: -1, metadata: "", commitTimestampMs: 0)
        let long = String(repeating: "x", count: GroupRecordLimits.stringBytesMax + 1)
        #expect(
            formatError { () throws(FormatError) in try GroupRecordCodec.encode(.groupTombstone(group: long)) }?.field
                == "key.group")
        #expect(
            formatError { () throws(FormatError) in
                try GroupRecordCodec.encode(.offsetCommit(group: "g", topic: "a/b", partition: 0, value))
            }?
            .field == "key.topic")
        #expect(
            formatError { () throws(FormatError) in
                try GroupRecordCodec.encode(.offsetCommit(group: "g", topic: "t", partition: -1, value))
            }?
            .field == "key.partition")
        var withLongMetadata = value
        withLongMetadata.metadata = long
        #expect(
            formatError { () throws(FormatError) in
                try GroupRecordCodec.encode(.offsetCommit(group: "g", topic: "t", partition: 0, withLongMetadata))
            }?.field == "value.metadata")
        // The largest string still fits and reads back.
        let largest = String(repeating: "é", count: GroupRecordLimits.stringBytesMax / 2)
        let record = GroupRecord.groupTombstone(group: largest)
        #expect(
            (try? GroupRecordCodec.encode(record)).flatMap {
                try? GroupRecordCodec.decode(key: $0.key, value: $0.value)
            }
                == record)
    }
}

private func hex(_ text: String) throws -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(try #require(UInt8(text[index ..< next], radix: 16)))
        index = next
    }
    return bytes
}
