import Foundation
import Strata
import StrataFormat
import StrataKafka
import Testing

@testable import StrataServer

/// Findings of the server review, each pinned: a Fetch's size is the server's to bound, a
/// Fetch cannot name unbounded partitions, long-poll waiters end with their Fetch, a deleted
/// topic ends a long-poll at once, and concurrent creators agree on one partition count.
@Suite struct ServerReviewTests {
    static func produce(_ client: KafkaTestClient, _ topic: String, batches: Int, values: Int) async throws {
        for b in 0 ..< batches {
            let batch = kafkaBatch((0 ..< values).map { "b\(b)-v\($0)-" + String(repeating: "x", count: 200) })
            let response = try await client.call(.produce, version: 9, Requests.produce(topic, records: batch))
            let part = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
            #expect(try part.int16("ErrorCode") == 0)
        }
    }

    @Test func aFetchAnswersAtMostTheServersBoundWhateverItAsks() async throws {
        try await withServer(configure: { $0.fetchBytesMax = 64 * 1024 }) { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            try await Self.produce(client, "t", batches: 40, values: 40)  // ~10 KiB batches, ~400 KiB
            let fetched = try await client.call(
                .fetch, version: 12,
                Requests.fetch("t", offset: 0, maxBytes: Int32.max, partitionMaxBytes: Int32.max))
            let records = try #require(
                try firstPartition(fetched, topics: "Responses", partitions: "Partitions")
                    .bytes("Records"))
            let batches = try KafkaBatch.split(records)
            #expect(records.count <= 64 * 1024 && batches.count >= 1, "\(records.count) bytes")
        }
    }

    /// Only the first partition with data may go past MaxBytes (by its one batch); a later one
    /// that would is answered empty, to be fetched next time.
    @Test func onlyTheFirstPartitionWithDataMayPassMaxBytes() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["m", "n"]))
            try await Self.produce(client, "m", batches: 1, values: 40)  // one ~10 KiB batch each
            try await Self.produce(client, "n", batches: 1, values: 40)
            var request = Requests.fetch("m", offset: 0, maxBytes: 1000)
            let parts: [KafkaStruct] = [
                ["Partition": .int(0), "FetchOffset": .int(0), "PartitionMaxBytes": .int(1 << 20)]
            ]
            request["Topics"] = .structs([
                ["Topic": .string("m"), "Partitions": .structs(parts)],
                ["Topic": .string("n"), "Partitions": .structs(parts)],
            ])
            let fetched = try await client.call(.fetch, version: 12, request)
            let responses = try #require(try fetched.structs("Responses"))
            try #require(responses.count == 2)
            let first = try #require(try responses[0].structs("Partitions")?.first)
            let second = try #require(try responses[1].structs("Partitions")?.first)
            #expect(try KafkaBatch.split(try #require(try first.bytes("Records"))).count == 1)
            #expect((try second.bytes("Records"))?.isEmpty ?? true)
            #expect(try second.int16("ErrorCode") == 0 && second.int("HighWatermark") == 40)
        }
    }

    @Test func aFetchNamingTooManyPartitionsIsRefusedWhole() async throws {
        try await withServer(configure: { $0.fetchPartitionsMax = 100 }) { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            var request = Requests.fetch("t", offset: 0)
            let part: KafkaStruct = [
                "Partition": .int(0), "FetchOffset": .int(0), "PartitionMaxBytes": .int(1024),
            ]
            request["Topics"] = .structs([
                ["Topic": .string("t"), "Partitions": .structs(Array(repeating: part, count: 101))]
            ])
            let fetched = try await client.call(.fetch, version: 12, request)
            #expect(try fetched.int16("ErrorCode") == KafkaErrorCode.invalidRequest.rawValue)
            // The connection still serves.
            let again = try await client.call(.fetch, version: 12, Requests.fetch("t", offset: 0))
            #expect(try again.int16("ErrorCode") == 0)
        }
    }

    @Test func longPollWaitersEndWithTheirFetch() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["a", "b"]))
            // A Fetch of a and b long-polls; data on a answers it.
            var request = Requests.fetch("a", offset: 0, maxWaitMs: 20_000)
            let parts: [KafkaStruct] = [
                ["Partition": .int(0), "FetchOffset": .int(0), "PartitionMaxBytes": .int(1 << 20)]
            ]
            request["Topics"] = .structs([
                ["Topic": .string("a"), "Partitions": .structs(parts)],
                ["Topic": .string("b"), "Partitions": .structs(parts)],
            ])
            let (frame, _) = try client.frame(.fetch, version: 12, request)
            try await client.send(frame)
            let b = try server.lake.topic("b")
            let a = try server.lake.topic("a")
            while b.readWaiterCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            _ = try await a.append([ProducerRecord(value: [1])])
            _ = try #require(try await client.receiveFrame())
            // b's waiter went with the Fetch: no slot of b is held for the rest of its 20 s.
            var spins = 0
            while b.readWaiterCount > 0, spins < 400 {
                try await Task.sleep(for: .milliseconds(5))
                spins += 1
            }
            #expect(b.readWaiterCount == 0)
        }
    }

    @Test func aLongPollOnADeletedTopicAnswersAtOnceWithItsError() async throws {
        try await withServer { server in
            let client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["gone"]))
            let (frame, _) = try client.frame(.fetch, version: 12, Requests.fetch("gone", offset: 0, maxWaitMs: 30_000))
            try await client.send(frame)
            let log = try server.lake.topic("gone")
            while log.readWaiterCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            let started = ContinuousClock.now
            _ = try await server.lake.deleteTopic("gone")
            let answer = try #require(try await client.receiveFrame())
            #expect(ContinuousClock.now - started < .seconds(20))  // not the whole MaxWait
            let api = try #require(KafkaApis.api(.fetch))
            let response = try KafkaResponse.decode(answer, api: api, version: 12).body
            let part = try firstPartition(response, topics: "Responses", partitions: "Partitions")
            #expect(try part.int16("ErrorCode") == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        }
    }

    @Test func concurrentCreatorsAgreeOnOnePartitionCount() async throws {
        try await withServer { server in
            for round in 0 ..< 20 {
                let name = "race\(round)"
                async let created: Void = {
                    _ = try? await server.lake.createTopic(name, config: TopicConfig(), partitions: 8)
                }()
                async let auto = { try? server.lake.topic(name, creatingWith: nil) }()
                _ = await (created, auto)
                let count = try server.lake.partitionCount(name)
                // What a restart would read: the lake's catalog, as a reader opening it now sees it.
                let reader = try Lake.openReadOnly(server.path)
                let stored = try reader.partitionCount(name)
                try await reader.close()
                #expect(stored == count, "\(name): serving \(count), stored \(stored)")
            }
        }
    }
}
