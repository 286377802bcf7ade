import Foundation
import Strata
import StrataKafka
import Testing

@testable import StrataServer

/// Each API over a real socket, frames built with StrataKafka's encoders (issue 13 §2).
@Suite
struct ServerProtocolTests {
    @Test(arguments: [Int16(0), 1, 2, 3])
    func apiVersionsListsEverySupportedApi(_ version: Int16) async throws {
        try await withServer { server in
            let client = try server.connect()
            let response = try await client.call(.apiVersions, version: version, [:])
            #expect(try response.int16("ErrorCode") == 0)
            let keys = try #require(try response.structs("ApiKeys"))
            #expect(keys.count == KafkaApis.all.count)
            let fetch = try #require(try keys.first { try $0.int16("ApiKey") == 1 })
            #expect(try fetch.int16("MinVersion") == 4 && fetch.int16("MaxVersion") == 12)
            // Produce from v0, for librdkafka's codec check (v0–v2 are refused, below).
            let produce = try #require(try keys.first { try $0.int16("ApiKey") == 0 })
            #expect(try produce.int16("MinVersion") == 0 && produce.int16("MaxVersion") == 9)
        }
    }

    /// An unknown version or API key gets ApiVersions v0 with error 35 and the list (KIP-511),
    /// and the connection stays usable.
    @Test func unknownVersionOrApiGetsUnsupportedVersionWithTheList() async throws {
        try await withServer { server in
            let client = try server.connect()
            for (key, version) in [(Int16(18), Int16(99)), (Int16(3), Int16(0)), (Int16(999), Int16(0)), (0, 2)] {
                var w = KafkaWriter()
                w.int16(key)
                w.int16(version)
                w.int32(77)
                try w.string("test", compact: false)
                try await client.send(KafkaResponse.framed(w.bytes))
                let frame = try #require(try await client.receiveFrame())
                let api = try #require(KafkaApis.api(.apiVersions))
                let (id, body) = try KafkaResponse.decode(frame, api: api, version: 0)
                #expect(id == 77)
                #expect(try body.int16("ErrorCode") == KafkaErrorCode.unsupportedVersion.rawValue)
                #expect(try body.structs("ApiKeys")?.count == KafkaApis.all.count)
            }
            #expect(try await client.call(.apiVersions, version: 3, [:]).int16("ErrorCode") == 0)
            #expect(server.log.contains("not supported"))
        }
    }

    @Test func metadataAutoCreatesAndReportsThisBroker() async throws {
        try await withServer { server in
            let client = try server.connect()
            let response = try await client.call(.metadata, version: 12, Requests.metadata(["orders"]))
            let broker = try #require(try response.structs("Brokers")?.first)
            #expect(try broker.int32("NodeId") == KafkaServerOptions.nodeId)
            #expect(try broker.string("Host") == "127.0.0.1" && broker.int32("Port") == Int32(server.port))
            #expect(ClusterIdentity.isValid(try response.string("ClusterId") ?? ""))
            let topic = try #require(try response.structs("Topics")?.first)
            #expect(try topic.int16("ErrorCode") == 0 && topic.string("Name") == "orders")
            let partition = try #require(try topic.structs("Partitions")?.first)
            #expect(
                try partition.int32("LeaderId") == KafkaServerOptions.nodeId && partition.int32("PartitionIndex") == 0)
            #expect(try server.lake.topicNames() == ["orders"])
            // A null list is every topic (v1 classic encoding too).
            let all = try await client.call(.metadata, version: 1, Requests.metadata(nil))
            #expect(try all.structs("Topics")?.map { try $0.string("Name") } == ["orders"])
        }
    }

    @Test func metadataRefusesBadNamesAndCreatesNothingWhenNotAllowed() async throws {
        try await withServer { server in
            let client = try server.connect()
            let response = try await client.call(
                .metadata, version: 9, Requests.metadata(["bad name!", "absent"], allowAutoCreate: false))
            let codes = try #require(try response.structs("Topics")).map { try $0.int16("ErrorCode") }
            #expect(codes == [KafkaErrorCode.invalidTopic.rawValue, KafkaErrorCode.unknownTopicOrPartition.rawValue])
            #expect(try server.lake.topicNames().isEmpty)
        }
        try await withServer(configure: { $0.autoCreateTopics = false }) { server in
            let response = try await server.connect().call(.metadata, version: 12, Requests.metadata(["absent"]))
            #expect(try response.structs("Topics")?.first?.int16("ErrorCode") == 3)
            #expect(try server.lake.topicNames().isEmpty)
        }
    }

    @Test func createTopicsMapsKafkaConfigs() async throws {
        try await withServer { server in
            let client = try server.connect()
            let configs: [String: String?] = [
                "retention.ms": "3600000", "segment.bytes": "1048576", "local.retention.ms": "0",
                "retention.bytes": "-1", "max.message.bytes": "2097152",
            ]
            let response = try await client.call(
                .createTopics, version: 5, Requests.createTopic("events", configs: configs))
            let result = try #require(try response.structs("Topics")?.first)
            #expect(try result.int16("ErrorCode") == 0, "\(result)")
            #expect(try result.int32("NumPartitions") == 1 && result.int16("ReplicationFactor") == 1)
            let config = try server.lake.topic("events").config
            #expect(config.retentionMs == 3_600_000 && config.segmentBytes == 1_048_576)
            #expect(config.localRetentionMs == 0 && config.retentionBytes == nil && config.batchBytesMax == 2_097_152)
            // DescribeConfigs reads them back under their Kafka names.
            let described = try await client.call(
                .describeConfigs, version: 4,
                [
                    "Resources": .structs([
                        [
                            "ResourceType": .int(2), "ResourceName": .string("events"),
                            "ConfigurationKeys": .array(nil),
                        ]
                    ])
                ])
            let entries = try #require(try described.structs("Results")?.first?.structs("Configs"))
            var values: [String: String] = [:]
            for entry in entries { values[try entry.string("Name") ?? ""] = try entry.string("Value") }
            #expect(values["retention.ms"] == "3600000" && values["segment.bytes"] == "1048576")
            #expect(values["retention.bytes"] == "-1" && values["cleanup.policy"] == "delete")
            // Again: exists.
            let again = try await client.call(.createTopics, version: 2, Requests.createTopic("events"))
            #expect(
                try again.structs("Topics")?.first?.int16("ErrorCode") == KafkaErrorCode.topicAlreadyExists.rawValue)
        }
    }

    @Test func createTopicsRefusesWhatItCannotHonourAndCreatesNothing() async throws {
        try await withServer { server in
            let client = try server.connect()
            let cases: [(KafkaStruct, KafkaErrorCode, String)] = [
                (Requests.createTopic("a", configs: ["compression.type": "zstd"]), .invalidConfig, "compression.type"),
                (Requests.createTopic("b", configs: ["retention.ms": "soon"]), .invalidConfig, "retention.ms"),
                (Requests.createTopic("c", configs: ["cleanup.policy": "compact"]), .invalidConfig, "cleanup.policy"),
                (Requests.createTopic("d", replication: 3), .invalidReplicationFactor, "replication"),
                (Requests.createTopic("e", partitions: 0), .invalidPartitions, "NumPartitions"),
                (Requests.createTopic("bad/name"), .invalidTopic, "bad/name"),
            ]
            for (request, code, named) in cases {
                let result = try #require(
                    try await client.call(.createTopics, version: 5, request).structs("Topics")?.first)
                #expect(try result.int16("ErrorCode") == code.rawValue, "\(result)")
                #expect(try result.string("ErrorMessage")?.contains(named) == true, "\(result)")
            }
            let dry = try await client.call(.createTopics, version: 4, Requests.createTopic("dry", validateOnly: true))
            #expect(try dry.structs("Topics")?.first?.int16("ErrorCode") == 0)
            #expect(try server.lake.topicNames().isEmpty)
        }
    }

    /// The records a consumer fetches are byte for byte the records the producer sent.
    @Test(arguments: [(Int16(9), Int16(12)), (Int16(3), Int16(4)), (Int16(7), Int16(11))])
    func produceThenFetchReturnsTheProducedBytes(_ versions: (produce: Int16, fetch: Int16)) async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            let batch = kafkaBatch(["one", "two", "three"], key: "k")
            let response = try await client.call(
                .produce, version: versions.produce, Requests.produce("t", records: batch))
            let produced = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
            #expect(try produced.int16("ErrorCode") == 0 && produced.int("BaseOffset") == 0, "\(produced)")
            let fetched = try await client.call(.fetch, version: versions.fetch, Requests.fetch("t", offset: 0))
            let partition = try firstPartition(fetched, topics: "Responses", partitions: "Partitions")
            #expect(try partition.int16("ErrorCode") == 0 && partition.int("HighWatermark") == 3)
            let records = try #require(try partition.bytes("Records"))
            let batches = try KafkaBatch.split(records)
            try #require(batches.count == 1)
            #expect(Array(records[batches[0].range].dropFirst(61)) == Array(batch.dropFirst(61)))
            #expect(batches[0].header.recordCount == 3 && batches[0].header.baseOffset == 0)
        }
    }

    /// Offsets continue across batches, and a fetch from the middle of a batch starts at or
    /// before the offset asked for (whole batches), holding every record from it on.
    @Test func fetchFromTheMiddleCoversTheRequestedOffset() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            var bases: [Int64] = []
            for batch in [kafkaBatch(["a", "b", "c"]), kafkaBatch(["d", "e"])] {
                let response = try await client.call(.produce, version: 9, Requests.produce("t", records: batch))
                bases.append(
                    try firstPartition(response, topics: "Responses", partitions: "PartitionResponses").int(
                        "BaseOffset"))
            }
            #expect(bases == [0, 3])
            let fetched = try await client.call(.fetch, version: 12, Requests.fetch("t", offset: 4))
            let records = try firstPartition(fetched, topics: "Responses", partitions: "Partitions").bytes("Records")
            var values: [String: Int64] = [:]
            for (_, range) in try KafkaBatch.split(records ?? []) {
                let strata = try KafkaBatch.toStrata(Array((records ?? [])[range]), baseOffset: 0)
                let decoded = try BatchCodec.decode(strata)
                let base = Int64(
                    bigEndian: Array((records ?? [])[range]).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
                for (i, record) in decoded.records.enumerated() {
                    values[String(decoding: record.value ?? [], as: UTF8.self)] = base + Int64(i)
                }
            }
            // Whole stored batches: the one holding offset 4 starts at 3.
            #expect(values == ["d": 3, "e": 4], "\(values)")
            #expect(try KafkaBatch.split(records ?? []).first?.header.baseOffset == 3)
        }
    }

    /// librdkafka's frames as captured from confluent-kafka 2.16: Metadata v12 for every topic
    /// carries three bytes after its body, which Kafka's brokers ignore and so does this one.
    @Test func librdkafkaMetadataWithTrailingBytesIsAnswered() async throws {
        try await withServer { server in
            _ = try await server.connect().call(.metadata, version: 12, Requests.metadata(["t"]))
            let client = try server.connect()
            let frame = hex("0003000c00000003000772646b61666b610000000000010000")
            try await client.send(KafkaResponse.framed(frame))
            let response = try #require(try await client.receiveFrame())
            let (id, body) = try KafkaResponse.decode(
                response, api: try #require(KafkaApis.api(.metadata)), version: 12)
            #expect(id == 3)
            #expect(try body.structs("Topics")?.map { try $0.string("Name") } == ["t"])
        }
    }

    /// A batch whose header says maxTimestamp 0 over records from before 1970 (librdkafka) is
    /// stored with the records' true maximum; one with a bad CRC is still refused.
    @Test func maxTimestampOfRecordsBefore1970IsTakenFromTheRecords() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["old"]))
            var batch = kafkaBatch(["a", "b"], timestamps: [-31_536_000_000, -31_535_000_000])
            for i in 35 ..< 43 { batch[i] = 0 }
            let crc = CRC32C.checksum(batch[21...])
            for i in 0 ..< 4 { batch[17 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
            var broken = batch
            broken[broken.count - 1] ^= 1
            let refused = try await client.call(.produce, version: 9, Requests.produce("old", records: broken))
            #expect(
                try firstPartition(refused, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode")
                    == KafkaErrorCode.corruptMessage.rawValue)
            let response = try await client.call(.produce, version: 9, Requests.produce("old", records: batch))
            #expect(
                try firstPartition(response, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode")
                    == 0)
            let records = try await server.lake.topic("old").read(from: 0).records
            #expect(records.map(\.timestamp) == [-31_536_000_000, -31_535_000_000])
        }
    }

    /// Batches librdkafka compressed (formats/vectors/kafka, captured from confluent-kafka) are
    /// stored uncompressed: Fetch returns the records the uncompressed vector holds.
    @Test(arguments: ["gzip", "snappy", "lz4", "zstd"])
    func compressedBatchesAreStoredUncompressed(_ codec: String) async throws {
        let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("formats/vectors/kafka")
        let compressed = [UInt8](
            try Data(contentsOf: vectors.appendingPathComponent("batch-v2-librdkafka-\(codec).bin")))
        let plain = try KafkaBatch.decompressed(compressed, maxBytes: KafkaBatch.decompressedBytesMax)
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["z"]))
            let response = try await client.call(.produce, version: 9, Requests.produce("z", records: compressed))
            let produced = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
            #expect(try produced.int16("ErrorCode") == 0, "\(produced)")
            let fetched = try await client.call(.fetch, version: 12, Requests.fetch("z", offset: 0))
            let records = try #require(
                try firstPartition(fetched, topics: "Responses", partitions: "Partitions").bytes("Records"))
            let batches = try KafkaBatch.split(records)
            #expect(batches.allSatisfy { $0.header.compression == KafkaCompression.none })
            let fetchedRecords = try batches.flatMap { batch in
                try BatchCodec.decode(KafkaBatch.toStrata(Array(records[batch.range]), baseOffset: 0)).records
            }
            let sent = try BatchCodec.decode(KafkaBatch.toStrata(plain, baseOffset: 0)).records
            #expect(fetchedRecords.map(\.value) == sent.map(\.value) && fetchedRecords.map(\.key) == sent.map(\.key))
            #expect(fetchedRecords.map(\.headers) == sent.map(\.headers))
        }
    }

    /// A batch that decompresses past the topic's max.message.bytes is refused, nothing stored.
    @Test func decompressedBatchOverTheTopicLimitIsRefused() async throws {
        let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("formats/vectors/kafka")
        let bomb = [UInt8](try Data(contentsOf: vectors.appendingPathComponent("batch-v2-bomb-zstd.bin")))
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(
                .createTopics, version: 5, Requests.createTopic("small", configs: ["max.message.bytes": "65536"]))
            let response = try await client.call(.produce, version: 9, Requests.produce("small", records: bomb))
            let produced = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
            #expect(try produced.int16("ErrorCode") == KafkaErrorCode.messageTooLarge.rawValue, "\(produced)")
            #expect(try server.lake.topic("small").highWatermark == 0)
        }
    }

    /// Two produced batches come back as the same two batches, records byte for byte.
    @Test func fetchShipsTheStoredBatchesAsProduced() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            let sent = [kafkaBatch(["one", "two"], key: "k"), kafkaBatch(["three"])]
            for batch in sent {
                _ = try await client.call(.produce, version: 9, Requests.produce("t", records: batch))
            }
            let fetched = try await client.call(.fetch, version: 12, Requests.fetch("t", offset: 0))
            let records = try #require(
                try firstPartition(fetched, topics: "Responses", partitions: "Partitions").bytes("Records"))
            let batches = try KafkaBatch.split(records)
            #expect(batches.map(\.header.baseOffset) == [0, 2])
            try #require(batches.count == 2)
            for (batch, original) in zip(batches, sent) {
                #expect(Array(records[batch.range].dropFirst(61)) == Array(original.dropFirst(61)))
            }
        }
    }

    /// An idempotent producer's retry gets its original offset back and stores nothing; a gap in
    /// its sequence is OUT_OF_ORDER_SEQUENCE_NUMBER; producer ids survive a restart of the lake.
    @Test func idempotentProducersAreCheckedThroughProduce() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["idem"]))
            let initialized = try await client.call(
                .initProducerId, version: 4, ["TransactionalId": .string(nil), "TransactionTimeoutMs": .int(60000)])
            let id = try initialized.int("ProducerId")
            let epoch = try initialized.int16("ProducerEpoch")
            func produce(_ values: [String], sequence: Int32) async throws -> (Int16, Int64) {
                let batch = kafkaBatch(values, producer: (id, epoch, sequence))
                let response = try await client.call(.produce, version: 9, Requests.produce("idem", records: batch))
                let partition = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
                return (try partition.int16("ErrorCode"), try partition.int("BaseOffset"))
            }
            #expect(try await produce(["a", "b"], sequence: 0) == (0, 0))
            #expect(try await produce(["c"], sequence: 2) == (0, 2))
            #expect(try await produce(["c"], sequence: 2) == (0, 2))  // a retry
            #expect(try await produce(["x"], sequence: 9).0 == KafkaErrorCode.outOfOrderSequenceNumber.rawValue)
            #expect(try server.lake.topic("idem").highWatermark == 3)
        }
    }

    /// Records offloaded and evicted from the disk come back through Fetch from offset 0 and
    /// ListOffsets finds them by timestamp: the cold tier behind an ordinary Kafka read.
    @Test func evictedRecordsAreFetchedAndListedFromTheColdTier() async throws {
        try await withServer { server in
            let client = try server.connect()
            let created = try await client.call(
                .createTopics, version: 5, Requests.createTopic("cold", configs: ["segment.bytes": "1024"]))
            #expect(try created.structs("Topics")?.first?.int16("ErrorCode") == 0)
            var sent: [[UInt8]] = []
            for i in 0 ..< 20 {
                let batch = kafkaBatch(
                    (0 ..< 5).map { "r\(i)-\($0)-" + String(repeating: "x", count: 40) },
                    timestamps: (0 ..< 5).map { Int64(1_000_000 + i * 10 + $0) })
                sent.append(batch)
                _ = try await client.call(.produce, version: 9, Requests.produce("cold", records: batch))
            }
            let report = try await server.lake.offload(topic: "cold", evict: true)
            #expect(report.segmentsEvicted > 0)
            #expect(try server.lake.topic("cold").localStartOffset > 0)
            var offset: Int64 = 0
            var received: [[UInt8]] = []
            while offset < 100 {
                let fetched = try await client.call(.fetch, version: 12, Requests.fetch("cold", offset: offset))
                let partition = try firstPartition(fetched, topics: "Responses", partitions: "Partitions")
                #expect(try partition.int16("ErrorCode") == 0 && partition.int("LogStartOffset") == 0)
                let records = try #require(try partition.bytes("Records"))
                let batches = try KafkaBatch.split(records)
                try #require(!batches.isEmpty)
                for batch in batches where batch.header.baseOffset >= offset {
                    received.append(Array(records[batch.range].dropFirst(61)))
                }
                offset = batches.last.map { $0.header.baseOffset + Int64($0.header.recordCount) } ?? 100
            }
            #expect(received == sent.map { Array($0.dropFirst(61)) })
            let listed = try await client.call(
                .listOffsets, version: 7, Requests.listOffsets("cold", timestamp: 1_000_021))
            let found = try firstPartition(listed, topics: "Topics", partitions: "Partitions")
            #expect(try found.int("Offset") == 11 && found.int("Timestamp") == 1_000_021)
        }
    }

    /// aiokafka writes base sequence 0 in batches without a producer id; Kafka ignores it, and
    /// so does this broker (stored as -1, what the engine requires without a producer).
    @Test func batchWithoutAProducerButWithASequenceIsStored() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["ak"]))
            let batch = kafkaBatch(["a"], producer: (-1, -1, 0))
            let response = try await client.call(.produce, version: 9, Requests.produce("ak", records: batch))
            let partition = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
            #expect(try partition.int16("ErrorCode") == 0, "\(partition)")
            let stored = try await server.lake.topic("ak").readBatches(from: 0).batches
            #expect(stored.map(\.header.baseSequence) == [-1] && stored.map(\.header.producerId) == [-1])
        }
    }

    @Test func fetchOutsideTheLogIsOffsetOutOfRange() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            _ = try await client.call(.produce, version: 9, Requests.produce("t", records: kafkaBatch(["a"])))
            for offset in [Int64(5), -7] {
                let response = try await client.call(.fetch, version: 12, Requests.fetch("t", offset: offset))
                let partition = try firstPartition(response, topics: "Responses", partitions: "Partitions")
                #expect(try partition.int16("ErrorCode") == KafkaErrorCode.offsetOutOfRange.rawValue)
                #expect(try partition.int("HighWatermark") == 1 && partition.int("LogStartOffset") == 0)
            }
            let unknown = try await client.call(.fetch, version: 12, Requests.fetch("nope", offset: 0))
            #expect(
                try firstPartition(unknown, topics: "Responses", partitions: "Partitions").int16("ErrorCode")
                    == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        }
    }

    /// A fetch at the end of the log waits, and returns as soon as another connection produces.
    @Test func fetchLongPollReturnsWhenDataArrives() async throws {
        try await withServer { server in
            let consumer = try server.connect()
            let producer = try server.connect()
            _ = try await producer.call(.metadata, version: 12, Requests.metadata(["t"]))
            // A wait longer than the socket timeout: only the append can end it in time.
            let (request, id) = try consumer.frame(
                .fetch, version: 12, Requests.fetch("t", offset: 0, maxWaitMs: 60_000))
            try await consumer.send(request)
            let produced = try await producer.call(
                .produce, version: 9, Requests.produce("t", records: kafkaBatch(["late"])))
            #expect(
                try firstPartition(produced, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode")
                    == 0)
            let frame = try #require(try await consumer.receiveFrame())
            let (correlationId, body) = try KafkaResponse.decode(
                frame, api: try #require(KafkaApis.api(.fetch)), version: 12)
            #expect(correlationId == id)
            let partition = try firstPartition(body, topics: "Responses", partitions: "Partitions")
            #expect(try KafkaBatch.split(partition.bytes("Records") ?? []).count == 1)
        }
    }

    @Test func fetchWithNothingNewAnswersEmptyAfterItsWait() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            let response = try await client.call(.fetch, version: 12, Requests.fetch("t", offset: 0, maxWaitMs: 50))
            let partition = try firstPartition(response, topics: "Responses", partitions: "Partitions")
            #expect(try partition.int16("ErrorCode") == 0 && partition.bytes("Records") == [])
            #expect(try response.int32("SessionId") == 0)
        }
    }

    @Test func listOffsetsEarliestLatestAndByTimestamp() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            _ = try await client.call(
                .produce, version: 9,
                Requests.produce("t", records: kafkaBatch(["a", "b", "c"], timestamps: [-5000, 2000, 3000])))
            func list(_ timestamp: Int64, version: Int16 = 7) async throws -> (Int64, Int64, Int16) {
                let response = try await client.call(
                    .listOffsets, version: version, Requests.listOffsets("t", timestamp: timestamp))
                let partition = try firstPartition(response, topics: "Topics", partitions: "Partitions")
                return (try partition.int("Offset"), try partition.int("Timestamp"), try partition.int16("ErrorCode"))
            }
            #expect(try await list(-2) == (0, -1, 0))
            #expect(try await list(-1, version: 1) == (3, -1, 0))
            #expect(try await list(1500) == (1, 2000, 0))
            #expect(try await list(-10_000) == (0, -5000, 0))
            #expect(try await list(9999) == (-1, -1, 0))
            let unknown = try await client.call(.listOffsets, version: 5, Requests.listOffsets("nope", timestamp: -1))
            #expect(
                try firstPartition(unknown, topics: "Topics", partitions: "Partitions").int16("ErrorCode")
                    == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        }
    }

    @Test func produceRefusesCorruptAndTransactionalBatchesAndStoresNothing() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            var corrupt = kafkaBatch(["x"])
            corrupt[corrupt.count - 1] ^= 0xff
            var transactional = kafkaBatch(["x"])
            transactional[22] |= 0x10  // attributes bit 4; the CRC is recomputed below
            let crc = transactional.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
            for i in 0 ..< 4 { transactional[17 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
            let cases: [(KafkaStruct, KafkaErrorCode)] = [
                (Requests.produce("t", records: corrupt), .corruptMessage),
                (Requests.produce("t", records: transactional), .unsupportedForMessageFormat),
                (
                    Requests.produce("t", records: kafkaBatch(["x"]), transactionalId: "tx"),
                    .unsupportedForMessageFormat
                ),
                (Requests.produce("t", records: kafkaBatch(["x"]) + kafkaBatch(["y"])), .invalidRecord),
                (Requests.produce("t", records: nil), .invalidRecord),
                (Requests.produce("t", records: kafkaBatch(["x"]), acks: 2), .invalidRequiredAcks),
                (Requests.produce("t", partition: 3, records: kafkaBatch(["x"])), .unknownTopicOrPartition),
            ]
            for (request, code) in cases {
                let response = try await client.call(.produce, version: 9, request)
                let partition = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
                #expect(try partition.int16("ErrorCode") == code.rawValue, "\(partition)")
                #expect(try partition.int("BaseOffset") == -1)
            }
            #expect(try server.lake.topic("t").highWatermark == 0)
            // The connection still serves.
            let ok = try await client.call(.produce, version: 9, Requests.produce("t", records: kafkaBatch(["fine"])))
            #expect(
                try firstPartition(ok, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode") == 0)
        }
    }

    /// Acks 0 gets no answer at all, yet the records are stored and the next request's answer
    /// is the next frame on the connection.
    @Test func acksZeroIsAnsweredWithNothing() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            let (produce, _) = try client.frame(
                .produce, version: 9, Requests.produce("t", records: kafkaBatch(["a"]), acks: 0))
            try await client.send(produce)
            let versions = try await client.call(.apiVersions, version: 3, [:])
            #expect(try versions.int16("ErrorCode") == 0)
            #expect(try server.lake.topic("t").highWatermark == 1)
            // A failed acks-0 produce closes the connection: the producer's only way to learn.
            var corrupt = kafkaBatch(["b"])
            corrupt[corrupt.count - 1] ^= 1
            let (bad, _) = try client.frame(.produce, version: 9, Requests.produce("t", records: corrupt, acks: 0))
            try await client.send(bad)
            #expect(try await client.isClosedByServer())
            #expect(try server.lake.topic("t").highWatermark == 1)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withServer { server in
            let client = try server.connect()
            let requests = try (0 ..< 5).map { i in
                try client.frame(
                    i % 2 == 0 ? .apiVersions : .metadata, version: 3, i % 2 == 0 ? [:] : Requests.metadata([]))
            }
            try await client.send(requests.flatMap(\.bytes))
            for (_, id) in requests {
                let frame = try #require(try await client.receiveFrame())
                #expect(Int32(bigEndian: frame.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }) == id)
            }
        }
    }

    @Test func initProducerIdGivesIdempotentProducersAnIdAndRefusesTransactions() async throws {
        try await withServer { server in
            let client = try server.connect()
            let first = try await client.call(
                .initProducerId, version: 4, ["TransactionalId": .string(nil), "TransactionTimeoutMs": .int(60000)])
            let second = try await client.call(
                .initProducerId, version: 1, ["TransactionalId": .string(nil), "TransactionTimeoutMs": .int(60000)])
            #expect(try first.int16("ErrorCode") == 0 && second.int16("ErrorCode") == 0)
            #expect(try first.int("ProducerId") >= 0 && first.int("ProducerId") != second.int("ProducerId"))
            let refused = try await client.call(
                .initProducerId, version: 4, ["TransactionalId": .string("tx"), "TransactionTimeoutMs": .int(60000)])
            #expect(try refused.int16("ErrorCode") == KafkaErrorCode.unsupportedForMessageFormat.rawValue)
        }
    }

    @Test func deleteTopicsRemovesTheTopic() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["gone"]))
            let response = try await client.call(
                .deleteTopics, version: 4, ["TopicNames": .strings(["gone", "never"]), "TimeoutMs": .int(5000)])
            let codes = try #require(try response.structs("Responses")).map { try $0.int16("ErrorCode") }
            #expect(codes == [0, KafkaErrorCode.unknownTopicOrPartition.rawValue])
            #expect(try server.lake.topicNames().isEmpty)
        }
    }
}

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index ..< next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}
