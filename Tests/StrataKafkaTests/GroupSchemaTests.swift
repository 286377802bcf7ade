import Foundation
import StrataKafka
import Testing

/// The group requests librdkafka and aiokafka really send (tools/kafka-group-capture.py, a
/// listener that advertises Strata's versions to two confluent-kafka consumers and an aiokafka
/// one): each decodes to what kafka-python decodes from the same bytes, and re-encodes to them.
@Suite struct GroupSchemaTests {
    struct Capture {
        var file: String
        var version: Int16
        var body: [String: Any]
    }

    static func captures() throws -> [Capture] {
        let data = try Data(
            contentsOf: repoRoot().appendingPathComponent("formats/vectors/kafka/group-captured.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try #require(root["files"] as? [String: [String: Any]])
        return try files.keys.sorted().map { file in
            let entry = try #require(files[file])
            return Capture(
                file: file, version: Int16(try #require(entry["version"] as? Int)),
                body: try #require(entry["body"] as? [String: Any]))
        }
    }

    @Test func librdkafkaRequestsDecode() throws {
        let captures = try Self.captures()
        // Join (first and second), sync, heartbeat, commit, fetch, leave, find: at least one each.
        for api in [
            "findcoordinator", "joingroup", "syncgroup", "heartbeat", "leavegroup", "offsetcommit", "offsetfetch",
        ] {
            #expect(captures.contains { $0.file.hasPrefix("group-librdkafka-\(api)-") }, "\(api) captured")
        }
        for capture in captures {
            let bytes = try kafkaVector(capture.file)
            let request = try KafkaRequest.decode(bytes)
            #expect(request.version == capture.version, "\(capture.file)")
            #expect(request.header.clientId == "capture")
            let expected = try JSONToKafka.structure(capture.body, request.api.request, version: capture.version)
            #expect(
                JSONToKafka.matches(.structure(expected), .structure(request.body)),
                "\(capture.file): decoded \(request.body) expected \(expected)")
            #expect(try KafkaRequest.encode(request.header, body: request.body) == bytes, "\(capture.file) re-encodes")
        }
    }

    /// What the server relies on, read from librdkafka's own bytes.
    @Test func librdkafkaGroupFields() throws {
        let join = try KafkaRequest.decode(try kafkaVector("group-librdkafka-joingroup-v5-static-first.bin"))
        #expect(try join.body.string("GroupInstanceId") == "capture-instance")
        #expect(try join.body.string("MemberId") == "")
        #expect(try join.body.structs("Protocols")?.map { try $0.string("Name") } == ["range", "roundrobin"])
        #expect(try join.body.int32("RebalanceTimeoutMs") == 300_000 && join.body.int32("SessionTimeoutMs") == 6_000)
        let commit = try KafkaRequest.decode(try kafkaVector("group-librdkafka-offsetcommit-v8.bin"))
        let partition = try #require(try commit.body.structs("Topics")?.first?.structs("Partitions")?.first)
        #expect(try partition.int("CommittedOffset") == 42 && partition.int32("CommittedLeaderEpoch") == -1)
        // librdkafka sends the metadata string with its C terminator.
        #expect(try partition.string("CommittedMetadata") == "capture-metadata\u{0}")
        #expect(try commit.body.int32("GenerationIdOrMemberEpoch") == 1)
        // aiokafka's OffsetCommit v3 still carries a retention time (-1: the broker's).
        let old = try KafkaRequest.decode(try kafkaVector("group-aiokafka-offsetcommit-v3.bin"))
        #expect(try old.body.int("RetentionTimeMs") == -1)
        #expect(
            try old.body.structs("Topics")?.first?.structs("Partitions")?.first?.string("CommittedMetadata")
                == "capture-metadata")
        // OffsetFetch v8 (grouped), asking for stable offsets.
        let fetch = try KafkaRequest.decode(try kafkaVector("group-librdkafka-offsetfetch-v8.bin"))
        #expect(try fetch.body.bool("RequireStable"))
        let group = try #require(try fetch.body.structs("Groups")?.first)
        #expect(try group.string("GroupId") == "capture-group")
        #expect(try group.structs("Topics")?.first?.ints("PartitionIndexes") == [0])
    }
}
