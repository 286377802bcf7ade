import Foundation
import Strata
import StrataKafka
import Testing

@testable import StrataServer

/// Shutdown, restart, the cluster id, partitions, and the error table.
@Suite
struct ServerLifecycleTests {
    /// Shutdown answers the request in flight, closes idle connections, and leaves a lake that
    /// closes cleanly and reopens with every acknowledged record.
    @Test func gracefulShutdownFinishesInFlightRequestsAndLeavesTheLakeReopenable() async throws {
        let path = NSTemporaryDirectory() + "strata-serve-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try await TestServer.start(path: path)
        let idle = try server.connect()
        let busy = try server.connect()
        _ = try await busy.call(.metadata, version: 12, Requests.metadata(["t"]))
        let produced = try await busy.call(.produce, version: 9, Requests.produce("t", records: kafkaBatch(["kept"])))
        #expect(
            try firstPartition(produced, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode") == 0)
        let (fetch, id) = try busy.frame(.fetch, version: 12, Requests.fetch("t", offset: 1, maxWaitMs: 300))
        try await busy.send(fetch)
        // The fetch is waiting (or about to): shut down under it.
        async let stopped: Void = server.stop()
        let frame = try #require(try await busy.receiveFrame(), "the request in flight was not answered")
        let (correlationId, _) = try KafkaResponse.decode(frame, api: try #require(KafkaApis.api(.fetch)), version: 12)
        #expect(correlationId == id)
        try await stopped
        #expect(try await idle.isClosedByServer())
        #expect(try await busy.isClosedByServer())
        // New connections are refused once stopped.
        #expect(throws: SocketError.self) { try server.connect() }
        let reopened = try Lake.open(path)
        let records = try await reopened.topic("t").read(from: 0).records
        #expect(records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["kept"])
        try await reopened.close()
    }

    @Test func clusterIdIsStablePerLake() async throws {
        let path = NSTemporaryDirectory() + "strata-serve-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var ids: [String] = []
        for _ in 0 ..< 2 {
            let server = try await TestServer.start(path: path)
            let response = try await server.connect().call(.metadata, version: 12, Requests.metadata([]))
            ids.append(try response.string("ClusterId") ?? "")
            try await server.stop()
        }
        #expect(ids[0] == ids[1] && ClusterIdentity.isValid(ids[0]))
        let stored = try String(contentsOfFile: path + "/" + ClusterIdentity.fileName, encoding: .utf8)
        #expect(stored == ids[0] + "\n")
        // A damaged file is reported, never overwritten.
        try "not an id\n".write(toFile: path + "/" + ClusterIdentity.fileName, atomically: true, encoding: .utf8)
        #expect(throws: KafkaServerError.self) { try ClusterIdentity.load(lakePath: path) }
        #expect(try String(contentsOfFile: path + "/" + ClusterIdentity.fileName, encoding: .utf8) == "not an id\n")
    }

    @Test func partitionsAreIndependentLogs() async throws {
        try await withServer(configure: { $0.defaultPartitions = 3 }) { server in
            let client = try server.connect()
            let created = try await client.call(.createTopics, version: 5, Requests.createTopic("p4", partitions: 4))
            #expect(try created.structs("Topics")?.first?.int16("ErrorCode") == 0)
            let metadata = try await client.call(.metadata, version: 12, Requests.metadata(["p4", "auto"]))
            let counts = try #require(try metadata.structs("Topics")).map { try $0.structs("Partitions")?.count }
            #expect(counts == [4, 3])
            for partition in Int32(0) ..< 4 {
                let values = (0 ... partition).map { "p\(partition)-\($0)" }
                let response = try await client.call(
                    .produce, version: 9, Requests.produce("p4", partition: partition, records: kafkaBatch(values)))
                let result = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
                #expect(try result.int16("ErrorCode") == 0 && result.int("BaseOffset") == 0)
            }
            for partition in Int32(0) ..< 4 {
                let response = try await client.call(
                    .fetch, version: 12, Requests.fetch("p4", partition: partition, offset: 0))
                let result = try firstPartition(response, topics: "Responses", partitions: "Partitions")
                #expect(try result.int("HighWatermark") == Int64(partition) + 1)
                #expect(try server.lake.partition("p4", partition).highWatermark == Int64(partition) + 1)
            }
            let beyond = try await client.call(
                .produce, version: 9, Requests.produce("p4", partition: 4, records: kafkaBatch(["x"])))
            #expect(
                try firstPartition(beyond, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode")
                    == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        }
    }

    /// One produce request naming several partitions: a bad one fails alone.
    @Test func producePartitionsFailIndependently() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.createTopics, version: 5, Requests.createTopic("two", partitions: 2))
            var corrupt = kafkaBatch(["bad"])
            corrupt[corrupt.count - 1] ^= 1
            let parts: [KafkaStruct] = [
                ["Index": .int(0), "Records": .bytes(kafkaBatch(["good"]))],
                ["Index": .int(1), "Records": .bytes(corrupt)],
            ]
            let request: KafkaStruct = [
                "TransactionalId": .string(nil), "Acks": .int(1), "TimeoutMs": .int(5000),
                "TopicData": .structs([["Name": .string("two"), "PartitionData": .structs(parts)]]),
            ]
            let response = try await client.call(.produce, version: 8, request)
            let results = try #require(try response.structs("Responses")?.first?.structs("PartitionResponses"))
            #expect(try results.map { try $0.int16("ErrorCode") } == [0, KafkaErrorCode.corruptMessage.rawValue])
            #expect(try results[1].string("ErrorMessage")?.contains("crc") == true)
            #expect(try server.lake.partition("two", 0).highWatermark == 1)
            #expect(try server.lake.partition("two", 1).highWatermark == 0)
        }
    }

    /// The engine-to-Kafka table: retriable codes where a retry can succeed.
    @Test func engineErrorsMapToKafkaCodes() {
        let table: [(StrataError.Code, KafkaErrorCode)] = [
            (.invalidArgument, .invalidRequest), (.notFound, .unknownTopicOrPartition),
            (.offsetOutOfRange, .offsetOutOfRange), (.tooLarge, .messageTooLarge), (.corrupt, .kafkaStorageError),
            (.io, .kafkaStorageError), (.locked, .unknownServerError), (.readOnly, .unknownServerError),
            (.closed, .notLeaderOrFollower), (.fenced, .notLeaderOrFollower), (.busy, .requestTimedOut),
            (.outOfOrderSequence, .outOfOrderSequenceNumber), (.invalidProducerEpoch, .invalidProducerEpoch),
            (.unknownProducerId, .unknownProducerId),
        ]
        for (code, expected) in table { #expect(ErrorMapping.kafkaCode(code) == expected, "\(code)") }
        // Produce: a batch the engine refuses is the producer's fault, not the storage's.
        #expect(ErrorMapping.appendCode(.corrupt) == .corruptMessage)
        #expect(ErrorMapping.appendCode(.invalidArgument) == .invalidRecord)
        #expect(ErrorMapping.appendCode(.io) == .kafkaStorageError)
    }

    @Test func optionsOutOfRangeAreRefusedBeforeBinding() async throws {
        var options = KafkaServerOptions()
        for change: (inout KafkaServerOptions) -> Void in [
            { $0.listenPort = 70000 }, { $0.defaultPartitions = 0 }, { $0.maxRequestBytes = 10 },
            { $0.maxConnections = 0 }, { $0.idleTimeoutMs = 0 }, { $0.advertisedPort = 0 },
        ] {
            options = KafkaServerOptions()
            change(&options)
            #expect(throws: KafkaServerError.self) { try options.validate() }
        }
    }
}
