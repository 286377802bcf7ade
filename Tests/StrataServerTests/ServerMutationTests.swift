import Foundation
import Strata
import StrataKafka
import Testing

@testable import StrataServer

/// Valid requests of every API with random bytes of their bodies changed: whatever decodes is
/// handled, whatever does not is answered or closed, and the server never crashes and keeps
/// serving (issue 13 §3). The request decoder alone is fuzzed by Fuzz/KafkaRequestDecode.swift.
@Suite
struct ServerMutationTests {
    /// SplitMix64, seeded: the same mutations every run.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let requests: [(KafkaApiKey, Int16, KafkaStruct)] = [
        (.apiVersions, 3, ["ClientSoftwareName": .string("m"), "ClientSoftwareVersion": .string("1")]),
        (.metadata, 12, Requests.metadata(["t", "m1"])),
        (.metadata, 4, Requests.metadata(["t"])),
        (.createTopics, 5, Requests.createTopic("m2", partitions: 2, configs: ["retention.ms": "1000"])),
        (.deleteTopics, 4, ["TopicNames": .strings(["m2"]), "TimeoutMs": .int(100)]),
        (.produce, 9, Requests.produce("t", records: kafkaBatch(["a", "b"], key: "k"))),
        (.produce, 3, Requests.produce("t", records: kafkaBatch(["c"]))),
        (.fetch, 12, Requests.fetch("t", offset: 0, maxWaitMs: 10)),
        (.fetch, 4, Requests.fetch("t", offset: 1, maxWaitMs: 10)),
        (.listOffsets, 7, Requests.listOffsets("t", timestamp: 1_700_000_000_000)),
        (.initProducerId, 4, ["TransactionalId": .string(nil), "TransactionTimeoutMs": .int(1000)]),
        (
            .describeConfigs, 4,
            [
                "Resources": .structs([
                    ["ResourceType": .int(2), "ResourceName": .string("t"), "ConfigurationKeys": .array(nil)]
                ])
            ]
        ),
        // The group APIs, but JoinGroup: a valid join may rightly wait out a rebalance.
        (.findCoordinator, 4, ["KeyType": .int(0), "CoordinatorKeys": .strings(["g"])]),
        (.syncGroup, 5, GroupRequests.sync("g", generation: 1, memberId: "m", assignments: [("m", [1, 2])])),
        (.heartbeat, 4, GroupRequests.heartbeat("g", generation: 1, memberId: "m")),
        (.leaveGroup, 5, ["GroupId": .string("g"), "Members": .structs([["MemberId": .string("m")]])]),
        (.offsetCommit, 8, GroupRequests.commit("g", [("t", 0, 5, "meta")])),
        (.offsetCommit, 2, GroupRequests.commit("g", [("t", 0, 6, nil)])),
        (.offsetFetch, 8, ["Groups": .structs([["GroupId": .string("g"), "Topics": .array(nil)]])]),
        (.offsetFetch, 1, GroupRequests.fetch("g", ["t": [0]])),
        (.describeGroups, 5, ["Groups": .strings(["g"])]),
        (.listGroups, 4, ["StatesFilter": .strings(["Empty"])]),
        (.deleteGroups, 2, ["GroupsNames": .strings(["g"])]),
    ]

    @Test func mutatedRequestsNeverStopTheServer() async throws {
        try await withServer(configure: { $0.fetchWaitMsMax = 20 }) { server in
            var generator = Generator(state: 0x5EED_0013)
            var client = try server.connect()
            _ = try await client.call(.metadata, version: 12, Requests.metadata(["t"]))
            var answered = 0
            var closed = 0
            for round in 0 ..< 1200 {
                let (key, version, body) = Self.requests[round % Self.requests.count]
                var (frame, _) = try client.frame(key, version: version, body)
                // Keep the size prefix and the header's key and version: mutate what follows.
                for _ in 0 ..< 1 + Int(generator.next() % 3) {
                    let index = 8 + Int(generator.next() % UInt64(frame.count - 8))
                    frame[index] =
                        generator.next() % 2 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : frame[index] ^ 1
                }
                // A probe after each request: its answer ends the round, whatever the mutated
                // request got (an answer, none for acks 0, or a closed connection).
                let (probe, probeId) = try client.frame(.apiVersions, version: 0, [:])
                try await client.send(frame + probe)
                var outcome: Bool? = nil
                while outcome == nil {
                    guard let response = try await client.receiveFrame() else {
                        outcome = false
                        break
                    }
                    let id = Int32(bigEndian: response.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) })
                    if id == probeId { outcome = true }
                }
                if outcome == true {
                    answered += 1
                } else {
                    closed += 1
                    client = try server.connect()
                }
            }
            #expect(answered > 100 && closed > 100, "\(answered) answered, \(closed) closed")
            // A request that decoded is always answered: failing to encode an answer is a bug.
            #expect(!server.log.contains("cannot answer"), "\(server.log.all.filter { $0.contains("cannot answer") })")
            // Still serving, and every record stored reads back through the engine's decoder.
            let fresh = try server.connect()
            #expect(try await fresh.call(.apiVersions, version: 3, [:]).int16("ErrorCode") == 0)
            for name in try server.lake.topicNames() {
                for partition in 0 ..< (try server.lake.partitionCount(name)) {
                    let log = try server.lake.partition(name, partition)
                    var offset = try await log.logStartOffset()
                    while offset < log.highWatermark {
                        offset = try await log.read(from: offset).nextOffset
                    }
                }
            }
        }
    }
}
