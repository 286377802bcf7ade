import Foundation
import Testing

@testable import Strata

/// `strata inspect groups` through the binary, beside the lake's writer (which holds the lock, as
/// `strata serve` does): members, decoded assignments, committed offsets and lag.
@Suite(.serialized) struct GroupInspectCLITests {
    /// Kafka's ConsumerProtocol Assignment v0, big-endian, written from Kafka's schema.
    static func assignment(_ topics: [(String, [Int32])], userData: [UInt8]?) -> [UInt8] {
        func int16(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        func int32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        var out = int16(0) + int32(Int32(topics.count))
        for (topic, partitions) in topics {
            out += int16(Int16(topic.utf8.count)) + Array(topic.utf8) + int32(Int32(partitions.count))
            for partition in partitions { out += int32(partition) }
        }
        if let userData { out += int32(Int32(userData.count)) + userData } else { out += int32(-1) }
        return out
    }

    static let members = [
        GroupMemberRecord(
            memberId: "m-0", groupInstanceId: "pod-0", clientId: "rdkafka", clientHost: "/127.0.0.1",
            rebalanceTimeoutMs: 300_000, sessionTimeoutMs: 45_000, subscription: [],
            assignment: assignment([("orders", [0, 1])], userData: [0, 255])),
        GroupMemberRecord(
            memberId: "m-1", clientId: "kp", clientHost: "/10.0.0.2", rebalanceTimeoutMs: 60_000,
            sessionTimeoutMs: 10_000, subscription: [], assignment: [1, 2, 3]),
    ]

    func tp(_ topic: String, _ partition: Int32) -> GroupTopicPartition {
        GroupTopicPartition(topic: topic, partition: partition)
    }

    func objects(_ outcome: CLIRun.Outcome) throws -> [[String: Any]] {
        try outcome.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test func groupsMembersOffsetsAndLagInTextAndJSONBesideTheWriter() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            _ = try lake.topic("orders", creatingWith: nil, partitions: 2)
            try await lake.partition("orders", 0).append(offsetRecords(from: 0, count: 15))
            try await lake.partition("orders", 1).append(offsetRecords(from: 0, count: 3))
            let store = try await GroupStore.open(lake)
            let ms: Int64 = 1_700_000_000_000
            try await store.commitOffsets(
                "app",
                [
                    tp("orders", 0): CommittedOffset(
                        offset: 10, leaderEpoch: 2, metadata: "m=1", commitTimestampMs: ms),
                    tp("orders", 1): CommittedOffset(offset: 5, commitTimestampMs: ms),
                    // A partition the topic does not have (the store keeps what it is given).
                    tp("orders", 5): CommittedOffset(offset: 1, commitTimestampMs: ms),
                ])
            try await store.storeMetadata(
                "app",
                GroupMetadataRecord(
                    protocolType: "consumer", generation: 3, protocolName: "range", leader: "m-0",
                    stateTimestampMs: ms, members: Self.members))
            try await store.commitOffsets("solo", [tp("orders", 1): CommittedOffset(offset: 1, commitTimestampMs: ms)])

            let json = try CLIRun.strata(["inspect", "groups", "--lake", dir, "--json"])
            #expect(json.status == 0, "\(json)")
            let groups = try objects(json)
            #expect(groups.map { $0["group"] as? String } == ["app", "solo"])
            let app = try #require(groups.first)
            #expect(app["state"] as? String == "Stable" && app["generation"] as? Int == 3)
            #expect(app["protocol"] as? String == "range" && app["leader"] as? String == "m-0")
            #expect(app["lag"] as? Int == 5)
            let members = try #require(app["members"] as? [[String: Any]])
            #expect(members.map { $0["memberId"] as? String } == ["m-0", "m-1"])
            #expect(members[0]["groupInstanceId"] as? String == "pod-0" && members[1]["groupInstanceId"] is NSNull)
            let decoded = try #require(members[0]["assignment"] as? [String: Any])
            let partitions = try #require(decoded["partitions"] as? [[String: Any]])
            #expect(partitions.first?["topic"] as? String == "orders")
            #expect(partitions.first?["partitions"] as? [Int] == [0, 1])
            #expect(decoded["userDataHex"] as? String == "00ff")
            #expect((members[1]["assignment"] as? [String: Any])?["hex"] as? String == "010203")
            let offsets = try #require(app["offsets"] as? [[String: Any]])
            #expect(
                offsets.map { "\($0["topic"] ?? "")/\($0["partition"] ?? "")" } == ["orders/0", "orders/1", "orders/5"])
            #expect(offsets[0]["highWatermark"] as? Int == 15 && offsets[0]["lag"] as? Int == 5)
            #expect(offsets[0]["metadata"] as? String == "m=1" && offsets[0]["leaderEpoch"] as? Int == 2)
            #expect(offsets[0]["commitTimestampMs"] as? Int == Int(ms))
            #expect(offsets[1]["highWatermark"] as? Int == 3 && offsets[1]["lag"] as? Int == 0, "never negative")
            #expect(offsets[2]["highWatermark"] is NSNull && offsets[2]["lag"] is NSNull, "a partition the topic does not have")
            let solo = groups[1]
            #expect(solo["state"] as? String == "Empty" && solo["generation"] is NSNull)

            let text = try CLIRun.strata(["inspect", "groups", "--lake", dir])
            #expect(text.status == 0, "\(text)")
            let out = text.stdout
            #expect(out.contains("group app: Stable, generation 3, protocol consumer/range, leader m-0, 2 members"))
            #expect(out.contains("lag 5"))
            #expect(out.contains("orders[0,1] userData=00ff") && out.contains("hex:010203"))
            let lines = out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(lines.contains { $0.starts(with: ["orders", "0", "10", "15", "5", "2", "\"m=1\""]) }, "\(out)")
            #expect(lines.contains { $0.starts(with: ["orders", "1", "5", "3", "0"]) }, "\(out)")
            #expect(lines.contains { $0.starts(with: ["orders", "5", "1", "-", "-"]) }, "\(out)")
            #expect(out.contains("group solo: Empty, no membership stored (offsets only)"))

            // The writer goes on; the next look sees its commit.
            try await store.commitOffsets("solo", [tp("orders", 1): CommittedOffset(offset: 3, commitTimestampMs: ms)])
            let one = try CLIRun.strata(["inspect", "groups", "--lake", dir, "--group", "solo", "--json"])
            let only = try objects(one)
            #expect(only.count == 1 && (only.first?["offsets"] as? [[String: Any]])?.first?["offset"] as? Int == 3)
            let unknown = try CLIRun.strata(["inspect", "groups", "--lake", dir, "--group", "nobody"])
            #expect(unknown.status == 2 && unknown.stderr.contains("no group 'nobody'"), "\(unknown)")
            await store.close()
            try await lake.close()
        }
    }

    @Test func aLakeWithoutGroupsSaysSoAndHelpExplainsLag() async throws {
        try await withTempDirectory { dir in
            try await Lake.open(dir, options: lakeOptions()).close()
            let empty = try CLIRun.strata(["inspect", "groups", "--lake", dir])
            #expect(empty.status == 0 && empty.stdout.contains("no consumer groups"), "\(empty)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + GroupStore.topicName))
            let json = try CLIRun.strata(["inspect", "groups", "--lake", dir, "--json"])
            #expect(json.status == 0 && json.stdout.isEmpty)
            let help = try CLIRun.strata(["inspect", "groups", "--help"])
            #expect(help.stdout.contains("USAGE: strata inspect groups") && help.stdout.contains("LAG"), "\(help)")
            let missing = try CLIRun.strata(["inspect", "groups", "--lake", dir + "/nope"])
            #expect(missing.status == 2)
        }
    }

    /// Only serve writes the groups' topic: a line produced into it would stop the next start.
    @Test func produceRefusesTheGroupsTopicAndCreatesNothing() async throws {
        try await withTempDirectory { dir in
            try await Lake.open(dir, options: lakeOptions()).close()
            let produced = try CLIRun.strata(["produce", "--lake", dir, GroupStore.topicName], stdin: "junk\n")
            #expect(produced.status == 2 && produced.stderr.contains("consumer groups"), "\(produced)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/" + GroupStore.topicName))
        }
    }
}
