import Foundation
import Strata
import StrataKafka
import StrataTesting
import Testing

@testable import StrataServer

/// Requests of the group APIs, built from the schemas' field names.
enum GroupRequests {
    /// Wire tests run on the real clock and send no heartbeats between their calls: the session
    /// (5 minutes) must outlast a whole test on a loaded machine, or the member expires mid-test
    /// (it did, at 10 s, in a full run under load). Expiry itself is tested with a manual clock
    /// in `GroupCoordinatorTests`.
    static func join(
        _ group: String, memberId: String = "", instance: String? = nil, sessionMs: Int32 = 300_000,
        protocols: [(String, [UInt8])] = [("range", [0, 1, 2])]
    ) -> KafkaStruct {
        [
            "GroupId": .string(group), "SessionTimeoutMs": .int(Int64(sessionMs)), "RebalanceTimeoutMs": .int(20_000),
            "MemberId": .string(memberId), "GroupInstanceId": .string(instance), "ProtocolType": .string("consumer"),
            "Protocols": .structs(protocols.map { ["Name": .string($0.0), "Metadata": .bytes($0.1)] }),
        ]
    }

    static func sync(
        _ group: String, generation: Int32, memberId: String, assignments: [(String, [UInt8])] = []
    ) -> KafkaStruct {
        [
            "GroupId": .string(group), "GenerationId": .int(Int64(generation)), "MemberId": .string(memberId),
            "ProtocolType": .string("consumer"), "ProtocolName": .string("range"),
            "Assignments": .structs(assignments.map { ["MemberId": .string($0.0), "Assignment": .bytes($0.1)] }),
        ]
    }

    static func heartbeat(_ group: String, generation: Int32, memberId: String) -> KafkaStruct {
        ["GroupId": .string(group), "GenerationId": .int(Int64(generation)), "MemberId": .string(memberId)]
    }

    static func commit(
        _ group: String, generation: Int32 = -1, memberId: String = "",
        _ offsets: [(topic: String, partition: Int32, offset: Int64, metadata: String?)]
    ) -> KafkaStruct {
        var topics: [String] = []
        for entry in offsets where !topics.contains(entry.topic) { topics.append(entry.topic) }
        return [
            "GroupId": .string(group), "GenerationIdOrMemberEpoch": .int(Int64(generation)),
            "MemberId": .string(memberId),
            "Topics": .structs(
                topics.map { topic in
                    [
                        "Name": .string(topic),
                        "Partitions": .structs(
                            offsets.filter { $0.topic == topic }.map {
                                [
                                    "PartitionIndex": .int(Int64($0.partition)), "CommittedOffset": .int($0.offset),
                                    "CommittedLeaderEpoch": .int(3), "CommittedMetadata": .string($0.metadata),
                                ]
                            }),
                    ]
                }),
        ]
    }

    static func fetch(_ group: String, _ topics: [String: [Int32]]?) -> KafkaStruct {
        let list: KafkaValue =
            topics.map { map in
                .structs(
                    map.sorted { $0.key < $1.key }.map {
                        ["Name": .string($0.key), "PartitionIndexes": .ints($0.value)]
                    })
            } ?? .array(nil)
        return ["GroupId": .string(group), "Topics": list]
    }
}

/// Error codes of a response's topics' partitions, flattened in order.
func partitionErrors(_ response: KafkaStruct) throws -> [Int16] {
    var codes: [Int16] = []
    for topic in try response.structs("Topics") ?? [] {
        for partition in try topic.structs("Partitions") ?? [] { codes.append(try partition.int16("ErrorCode")) }
    }
    return codes
}

/// The group APIs over a real connection (issue 14): what the handlers own — FindCoordinator,
/// the checks made before the coordinator, versions' shapes, the hidden topic's refusals.
@Suite
struct ServerGroupTests {
    static let groupApis: [(KafkaApiKey, ClosedRange<Int16>)] = [
        (.findCoordinator, 0 ... 4), (.joinGroup, 0 ... 9), (.syncGroup, 0 ... 5), (.heartbeat, 0 ... 4),
        (.leaveGroup, 0 ... 5), (.offsetCommit, 2 ... 8), (.offsetFetch, 1 ... 8), (.describeGroups, 0 ... 5),
        (.listGroups, 0 ... 4), (.deleteGroups, 0 ... 2),
    ]

    /// ApiVersions advertises every group API with at least issue 14's ranges.
    @Test func apiVersionsAdvertisesTheGroupApis() async throws {
        try await withServer { server in
            let keys = try #require(try await server.connect().call(.apiVersions, version: 3, [:]).structs("ApiKeys"))
            for (api, versions) in Self.groupApis {
                let entry = try #require(try keys.first { try $0.int16("ApiKey") == api.rawValue }, "\(api)")
                #expect(try entry.int16("MinVersion") == versions.lowerBound, "\(api)")
                #expect(try entry.int16("MaxVersion") == versions.upperBound, "\(api)")
            }
        }
    }

    /// Every version answers with this node at the advertised address; v4 once per key.
    @Test func findCoordinatorAnswersThisNode() async throws {
        try await withServer(configure: {
            $0.advertisedHost = "127.0.0.9"; $0.advertisedPort = 19092
        }) { server in
            let client = try server.connect()
            for version in Int16(0) ... 3 {
                let response = try await client.call(
                    .findCoordinator, version: version, ["Key": .string("billing"), "KeyType": .int(0)])
                #expect(try response.int16("ErrorCode") == 0, "v\(version)")
                #expect(try response.int32("NodeId") == KafkaServerOptions.nodeId)
                #expect(try response.string("Host") == "127.0.0.9" && response.int32("Port") == 19092)
            }
            let batch = try await client.call(
                .findCoordinator, version: 4,
                ["KeyType": .int(0), "CoordinatorKeys": .strings(["billing", "audit"])])
            let coordinators = try #require(try batch.structs("Coordinators"))
            #expect(try coordinators.map { try $0.string("Key") } == ["billing", "audit"])
            for entry in coordinators {
                #expect(try entry.int16("ErrorCode") == 0 && entry.int32("NodeId") == 1 && entry.int32("Port") == 19092)
            }
        }
    }

    /// Transactions have no coordinator here (COORDINATOR_NOT_AVAILABLE); an unknown key type
    /// is INVALID_REQUEST.
    @Test func findCoordinatorRefusesOtherKeyTypes() async throws {
        try await withServer { server in
            let client = try server.connect()
            let txn = try await client.call(
                .findCoordinator, version: 3, ["Key": .string("txn-1"), "KeyType": .int(1)])
            #expect(try txn.int16("ErrorCode") == KafkaErrorCode.coordinatorNotAvailable.rawValue)
            #expect(try txn.int32("NodeId") == -1 && txn.string("ErrorMessage")?.contains("transactions") == true)
            let odd = try await client.call(
                .findCoordinator, version: 4, ["KeyType": .int(7), "CoordinatorKeys": .strings(["x"])])
            #expect(
                try odd.structs("Coordinators")?.first?.int16("ErrorCode") == KafkaErrorCode.invalidRequest.rawValue)
        }
    }

    /// JoinGroup, SyncGroup, Heartbeat and LeaveGroup need a group id (INVALID_GROUP_ID), at
    /// their oldest and newest versions.
    @Test func emptyGroupIdIsInvalid() async throws {
        try await withServer { server in
            let client = try server.connect()
            let invalid = KafkaErrorCode.invalidGroupId.rawValue
            for version: Int16 in [0, 4, 9] {
                let join = try await client.call(.joinGroup, version: version, GroupRequests.join(""))
                #expect(try join.int16("ErrorCode") == invalid, "join v\(version)")
                #expect(try join.int32("GenerationId") == -1)
            }
            for version: Int16 in [0, 5] {
                let sync = try await client.call(
                    .syncGroup, version: version, GroupRequests.sync("", generation: 1, memberId: "m"))
                #expect(try sync.int16("ErrorCode") == invalid, "sync v\(version)")
            }
            for version: Int16 in [0, 4] {
                let beat = try await client.call(
                    .heartbeat, version: version, GroupRequests.heartbeat("", generation: 1, memberId: "m"))
                #expect(try beat.int16("ErrorCode") == invalid, "heartbeat v\(version)")
            }
            let leaveV0 = try await client.call(
                .leaveGroup, version: 0, ["GroupId": .string(""), "MemberId": .string("m")])
            #expect(try leaveV0.int16("ErrorCode") == invalid)
            let leaveV5 = try await client.call(
                .leaveGroup, version: 5,
                ["GroupId": .string(""), "Members": .structs([["MemberId": .string("m")]])])
            #expect(try leaveV5.int16("ErrorCode") == invalid)
        }
    }

    /// OffsetCommit: partitions of a missing topic, a missing partition or a bad name get
    /// UNKNOWN_TOPIC_OR_PARTITION and metadata over the bound OFFSET_METADATA_TOO_LARGE, each in
    /// the request's order; the others are the coordinator's.
    @Test func offsetCommitChecksPartitionsAndMetadata() async throws {
        try await withServer(configure: { $0.groupOffsetMetadataBytesMax = 8 }) { server in
            _ = try await server.lake.createTopic("orders", config: TopicConfig(), partitions: 2)
            let client = try server.connect()
            for version: Int16 in [2, 8] {
                let response = try await client.call(
                    .offsetCommit, version: version,
                    GroupRequests.commit(
                        "billing",
                        [
                            ("orders", 0, 10, "ok"), ("orders", 2, 10, nil), ("absent", 0, 1, nil),
                            ("orders", 1, 10, "123456789"), ("bad name", 0, 1, nil),
                        ]))
                let codes = try partitionErrors(response)
                #expect(codes.count == 5)
                // Grouped by topic as sent: orders 0, 2, 1; absent 0; bad name 0.
                let (unknown, tooLarge) = (
                    KafkaErrorCode.unknownTopicOrPartition.rawValue, KafkaErrorCode.offsetMetadataTooLarge.rawValue
                )
                #expect(Array(codes[1...]) == [unknown, tooLarge, unknown, unknown], "v\(version): \(codes)")
                #expect(codes[0] != unknown && codes[0] != tooLarge)
                let names = try #require(try response.structs("Topics")).map { try $0.string("Name") }
                #expect(names == ["orders", "absent", "bad name"])
            }
        }
    }

    /// A commit whose every partition is refused here never reaches the coordinator, and
    /// committing to the hidden topic is refused like a missing one.
    @Test func offsetCommitOfOnlyUnknownPartitions() async throws {
        try await withServer { server in
            _ = try await server.lake.createTopic(RequestDispatcher.groupsTopic, config: TopicConfig(), partitions: 1)
            let response = try await server.connect().call(
                .offsetCommit, version: 8,
                GroupRequests.commit("billing", [("absent", 0, 1, nil), (RequestDispatcher.groupsTopic, 0, 1, nil)]))
            #expect(try partitionErrors(response) == [3, 3])
        }
    }

    /// `__consumer_offsets` is not Kafka's: Metadata does not list it (and names it
    /// INVALID_TOPIC without creating anything), Produce, CreateTopics and DeleteTopics refuse it.
    @Test func internalTopicIsHiddenAndRefused() async throws {
        try await withServer { server in
            let hidden = RequestDispatcher.groupsTopic
            _ = try await server.lake.createTopic(hidden, config: TopicConfig(), partitions: 1)
            _ = try await server.lake.createTopic("orders", config: TopicConfig(), partitions: 1)
            let client = try server.connect()
            let all = try await client.call(.metadata, version: 12, Requests.metadata(nil))
            #expect(try all.structs("Topics")?.map { try $0.string("Name") } == ["orders"])
            let named = try await client.call(.metadata, version: 1, Requests.metadata([hidden]))
            #expect(try named.structs("Topics")?.first?.int16("ErrorCode") == KafkaErrorCode.invalidTopic.rawValue)
            let produce = try await client.call(
                .produce, version: 9, Requests.produce(hidden, records: kafkaBatch(["forged"])))
            #expect(
                try firstPartition(produce, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode")
                    == KafkaErrorCode.invalidTopic.rawValue)
            #expect(try server.lake.partition(hidden, 0).highWatermark == 0)
            let create = try await client.call(.createTopics, version: 5, Requests.createTopic(hidden))
            #expect(try create.structs("Topics")?.first?.int16("ErrorCode") == KafkaErrorCode.invalidTopic.rawValue)
            let delete = try await client.call(
                .deleteTopics, version: 4, ["TopicNames": .strings([hidden]), "TimeoutMs": .int(1000)])
            #expect(try delete.structs("Responses")?.first?.int16("ErrorCode") == KafkaErrorCode.invalidTopic.rawValue)
            #expect(try server.lake.topicNames().contains(hidden))
        }
    }

    /// A malformed body of an API with a top-level error is answered INVALID_REQUEST with the
    /// request's correlation id; of one without (OffsetCommit), the connection closes.
    @Test func malformedGroupRequests() async throws {
        try await withServer { server in
            for (key, version, answered) in [
                (KafkaApiKey.joinGroup, Int16(5), true), (.heartbeat, 4, true), (.offsetFetch, 7, true),
                (.offsetCommit, 8, false), (.describeGroups, 5, false),
            ] {
                let client = try server.connect()
                var w = KafkaWriter()
                w.int16(key.rawValue)
                w.int16(version)
                w.int32(41)
                try w.string("bad", compact: false)
                if KafkaApis.api(key)!.isFlexible(version) { w.unsignedVarint(0) }
                w.raw([0x7f, 0xff, 0x01])
                try await client.send(KafkaResponse.framed(w.bytes))
                if answered {
                    let frame = try #require(try await client.receiveFrame(), "\(key) v\(version)")
                    let (id, body) = try KafkaResponse.decode(frame, api: KafkaApis.api(key)!, version: version)
                    #expect(id == 41)
                    #expect(try body.int16("ErrorCode") == KafkaErrorCode.invalidRequest.rawValue, "\(key)")
                } else {
                    #expect(try await client.isClosedByServer(), "\(key) v\(version)")
                }
            }
            #expect(try await server.connect().call(.apiVersions, version: 3, [:]).int16("ErrorCode") == 0)
        }
    }

    /// Kafka's client host: the peer address without its port, after a slash.
    @Test func clientHostFromPeer() {
        #expect(RequestDispatcher.clientHost("[IPv4]127.0.0.1/127.0.0.1:54321") == "/127.0.0.1")
        #expect(RequestDispatcher.clientHost("[IPv6]::1/::1:9092") == "/::1")
        #expect(RequestDispatcher.clientHost("unknown peer") == "/unknown peer")
    }

    /// The group options are checked before anything is bound.
    @Test func groupOptionsAreValidated() {
        var options = KafkaServerOptions()
        #expect(throws: Never.self) { try options.validate() }
        for change: (inout KafkaServerOptions) -> Void in [
            { $0.groupInitialRebalanceDelayMs = -1 }, { $0.groupSessionTimeoutMsMin = 0 },
            {
                $0.groupSessionTimeoutMsMin = 10_000; $0.groupSessionTimeoutMsMax = 9_999
            },
            { $0.groupMembersMax = 0 }, { $0.groupOffsetMetadataBytesMax = -1 },
        ] {
            options = KafkaServerOptions()
            change(&options)
            #expect(throws: KafkaServerError.self) { try options.validate() }
        }
        options = KafkaServerOptions()
        options.groupInitialRebalanceDelayMs = 0
        options.groupMembersMax = 7
        options.groupSessionTimeoutMsMin = 100
        let coordinator = options.groupCoordinator
        #expect(coordinator.initialRebalanceDelayMs == 0 && coordinator.groupMembersMax == 7)
        #expect(coordinator.sessionTimeoutMsMin == 100 && coordinator.sessionTimeoutMsMax == 1_800_000)
    }
}

/// The server's group responses, at every supported version, read by kafka-python's response
/// classes (another implementation): each must decode and re-encode to exactly the bytes sent.
@Suite
struct ServerGroupResponsesReadByKafkaPython {
    static let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
    static let kafkaPython = runToEnd("/usr/bin/env", [python, "-c", "import kafka.protocol.consumer"]).status == 0

    /// Decodes `name-v<N>.bin` with kafka-python's response class; prints one JSON line per file.
    static let script = """
        import json, os, sys
        from kafka.protocol.admin import DeleteGroupsResponse, DescribeGroupsResponse, ListGroupsResponse
        from kafka.protocol.consumer import (HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse,
            OffsetCommitResponse, OffsetFetchResponse, SyncGroupResponse)
        from kafka.protocol.metadata import FindCoordinatorResponse
        classes = {c.__name__[:-len("Response")]: c for c in (FindCoordinatorResponse, JoinGroupResponse,
            SyncGroupResponse, HeartbeatResponse, LeaveGroupResponse, OffsetCommitResponse, OffsetFetchResponse,
            DescribeGroupsResponse, ListGroupsResponse, DeleteGroupsResponse)}
        out = {}
        for name in sorted(os.listdir(sys.argv[1])):
            api, version = name[:-4].split("-v")
            data = open(os.path.join(sys.argv[1], name), "rb").read()
            message = classes[api][int(version)].decode(data, header=True)
            message.with_header(correlation_id=message.header.correlation_id)
            again = message.encode(header=True)
            out[name] = {"same": bytes(again) == data, "body": message.to_dict()}
        print(json.dumps(out, default=repr))
        """

    /// One representative request per API: every field the version has, set. Each version joins
    /// a group of its own (a second member joining one group would wait for the first to rejoin).
    static func request(_ key: KafkaApiKey, version: Int16) -> KafkaStruct {
        switch key {
        case .findCoordinator:
            return ["Key": .string("billing"), "KeyType": .int(0), "CoordinatorKeys": .strings(["billing", "x"])]
        case .joinGroup: return GroupRequests.join("join-v\(version)", instance: "i-1")
        case .syncGroup: return GroupRequests.sync("billing", generation: 1, memberId: "m-1")
        case .heartbeat: return GroupRequests.heartbeat("billing", generation: 1, memberId: "m-1")
        case .leaveGroup:
            return [
                "GroupId": .string("billing"), "MemberId": .string("m-1"),
                "Members": .structs([["MemberId": .string("m-1")], ["GroupInstanceId": .string("i-2")]]),
            ]
        case .offsetCommit: return GroupRequests.commit("billing", [("orders", 0, 5, "m"), ("absent", 1, 2, nil)])
        case .offsetFetch:
            var body = GroupRequests.fetch("billing", ["orders": [0, 1]])
            body["Groups"] = .structs([
                ["GroupId": .string("billing"), "Topics": body["Topics"]!],
                ["GroupId": .string("other"), "Topics": .array(nil)],
            ])
            return body
        case .describeGroups:
            return ["Groups": .strings(["billing", "absent"]), "IncludeAuthorizedOperations": .bool(true)]
        case .listGroups: return ["StatesFilter": .strings([])]
        case .deleteGroups: return ["GroupsNames": .strings(["absent"])]
        default: return [:]
        }
    }

    @Test(.enabled(if: kafkaPython, "needs python3 with kafka-python 3"))
    func everyVersionDecodes() async throws {
        let directory = NSTemporaryDirectory() + "strata-group-responses-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var expectedErrors: [String: Int16] = [:]
        try await withServer(configure: { $0.groupInitialRebalanceDelayMs = 0 }) { server in
            _ = try await server.lake.createTopic("orders", config: TopicConfig(), partitions: 2)
            let client = try server.connect()
            for (key, versions) in ServerGroupTests.groupApis {
                let api = try #require(KafkaApis.api(key))
                for version in versions {
                    let (bytes, _) = try client.frame(key, version: version, Self.request(key, version: version))
                    try await client.send(bytes)
                    let frame = try #require(try await client.receiveFrame(), "\(api.name) v\(version)")
                    let name = "\(api.name)-v\(version).bin"
                    try Data(frame).write(to: URL(fileURLWithPath: directory + "/" + name))
                    let body = try KafkaResponse.decode(frame, api: api, version: version).body
                    if let code = try? body.int16("ErrorCode"),
                        api.response.fields.contains(where: {
                            $0.name == "ErrorCode" && $0.versions.contains(version)
                        })
                    {
                        expectedErrors[name] = code
                    }
                }
            }
        }
        // Python takes seconds here: wait on a Dispatch thread, not on the cooperative pool
        // every other suite's server shares. Its stderr goes to a file the failure message shows.
        let errors = directory + ".stderr"
        defer { try? FileManager.default.removeItem(atPath: errors) }
        let (status, output): (Int32, [UInt8]) = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: runToEnd(
                        "/bin/sh", ["-c", "exec \"$0\" -c \"$1\" \"$2\" 2>\"$3\"", Self.python, Self.script, directory, errors]))
            }
        }
        let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        #expect(status == 0, "kafka-python could not decode a response: \(stderr)")
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(output)) as? [String: [String: Any]])
        #expect(decoded.count == ServerGroupTests.groupApis.reduce(0) { $0 + $1.1.count })
        for (name, entry) in decoded {
            #expect(entry["same"] as? Bool == true, "\(name): kafka-python re-encodes other bytes")
            if let code = expectedErrors[name] {
                let body = try #require(entry["body"] as? [String: Any])
                #expect(body["error_code"] as? Int == Int(code), "\(name)")
            }
        }
    }
}

/// A member that joined and synced: its id and generation.
struct JoinedMember {
    var memberId: String
    var generation: Int32
}

extension KafkaTestClient {
    /// JoinGroup v5 twice (MEMBER_ID_REQUIRED, then with the id), then SyncGroup as the leader
    /// assigning `assignment` to itself.
    func joinAndSync(_ group: String, assignment: [UInt8] = [9, 9]) async throws -> JoinedMember {
        let first = try await call(.joinGroup, version: 5, GroupRequests.join(group))
        #expect(try first.int16("ErrorCode") == KafkaErrorCode.memberIdRequired.rawValue)
        let memberId = try #require(try first.string("MemberId"))
        #expect(!memberId.isEmpty)
        let join = try await call(.joinGroup, version: 5, GroupRequests.join(group, memberId: memberId))
        #expect(try join.int16("ErrorCode") == 0, "\(join)")
        let generation = try join.int32("GenerationId")
        let sync = try await call(
            .syncGroup, version: 5,
            GroupRequests.sync(group, generation: generation, memberId: memberId, assignments: [(memberId, assignment)])
        )
        #expect(try sync.int16("ErrorCode") == 0, "\(sync)")
        #expect(try sync.bytes("Assignment") == assignment)
        return JoinedMember(memberId: memberId, generation: generation)
    }
}

/// Join → sync → heartbeat → commit → fetch → leave over the wire, with the real coordinator.
@Suite
struct ServerGroupFlowTests {
    static func noDelay(_ options: inout KafkaServerOptions) { options.groupInitialRebalanceDelayMs = 0 }

    @Test func joinSyncHeartbeatCommitFetchLeave() async throws {
        try await withServer(configure: Self.noDelay) { server in
            _ = try await server.lake.createTopic("orders", config: TopicConfig(), partitions: 2)
            let client = try server.connect()
            // The leader sees itself with its subscription.
            let first = try await client.call(.joinGroup, version: 9, GroupRequests.join("billing"))
            let memberId = try #require(try first.string("MemberId"))
            let join = try await client.call(.joinGroup, version: 9, GroupRequests.join("billing", memberId: memberId))
            #expect(try join.int16("ErrorCode") == 0)
            #expect(try join.string("Leader") == memberId && join.string("ProtocolName") == "range")
            #expect(try join.string("ProtocolType") == "consumer" && !join.bool("SkipAssignment"))
            let members = try #require(try join.structs("Members"))
            #expect(try members.map { try $0.string("MemberId") } == [memberId])
            #expect(try members.first?.bytes("Metadata") == [0, 1, 2])
            let generation = try join.int32("GenerationId")
            let sync = try await client.call(
                .syncGroup, version: 5,
                GroupRequests.sync(
                    "billing", generation: generation, memberId: memberId, assignments: [(memberId, [7])]))
            #expect(try sync.int16("ErrorCode") == 0 && sync.bytes("Assignment") == [7])
            #expect(try sync.string("ProtocolName") == "range")
            for version: Int16 in [0, 4] {
                let beat = try await client.call(
                    .heartbeat, version: version,
                    GroupRequests.heartbeat("billing", generation: generation, memberId: memberId))
                #expect(try beat.int16("ErrorCode") == 0)
            }
            let stale = try await client.call(
                .heartbeat, version: 4,
                GroupRequests.heartbeat("billing", generation: generation + 5, memberId: memberId))
            #expect(try stale.int16("ErrorCode") == KafkaErrorCode.illegalGeneration.rawValue)
            let stranger = try await client.call(
                .heartbeat, version: 4, GroupRequests.heartbeat("billing", generation: generation, memberId: "nobody"))
            #expect(try stranger.int16("ErrorCode") == KafkaErrorCode.unknownMemberId.rawValue)
            // Commit with the generation (v8), and a stale one refused.
            let commit = try await client.call(
                .offsetCommit, version: 8,
                GroupRequests.commit(
                    "billing", generation: generation, memberId: memberId,
                    [("orders", 0, 42, "checkpoint"), ("orders", 1, 7, nil)]))
            #expect(try partitionErrors(commit) == [0, 0])
            let old = try await client.call(
                .offsetCommit, version: 8,
                GroupRequests.commit("billing", generation: generation - 1, memberId: memberId, [("orders", 0, 1, nil)])
            )
            #expect(try partitionErrors(old) == [KafkaErrorCode.illegalGeneration.rawValue])
            // Fetched back at every shape: v1 (no top-level error), v5 (leader epoch), v7, v8 (grouped).
            for version: Int16 in [1, 5, 7] {
                let fetched = try await client.call(
                    .offsetFetch, version: version, GroupRequests.fetch("billing", ["orders": [0, 1]]))
                let partitions = try #require(try fetched.structs("Topics")?.first?.structs("Partitions"))
                #expect(try partitions.map { try $0.int("CommittedOffset") } == [42, 7], "v\(version)")
                #expect(try partitions.map { try $0.string("Metadata") } == ["checkpoint", ""])
                #expect(try partitions[0].int32("CommittedLeaderEpoch") == (version >= 5 ? 3 : -1))
            }
            let grouped = try await client.call(
                .offsetFetch, version: 8,
                [
                    "Groups": .structs([
                        ["GroupId": .string("billing"), "Topics": .array(nil)],
                        ["GroupId": .string("nobody"), "Topics": .array(nil)],
                    ]), "RequireStable": .bool(true),
                ])
            let groups = try #require(try grouped.structs("Groups"))
            #expect(try groups.map { try $0.string("GroupId") } == ["billing", "nobody"])
            let all = try #require(try groups[0].structs("Topics")?.first?.structs("Partitions"))
            #expect(try all.map { try $0.int("CommittedOffset") }.sorted() == [7, 42])
            #expect(try groups[1].structs("Topics")?.isEmpty == true && groups[1].int16("ErrorCode") == 0)
            // Described and listed as Stable, with the peer as client host.
            let described = try await client.call(.describeGroups, version: 5, ["Groups": .strings(["billing"])])
            let group = try #require(try described.structs("Groups")?.first)
            #expect(try group.string("GroupState") == "Stable" && group.string("ProtocolData") == "range")
            let member = try #require(try group.structs("Members")?.first)
            #expect(try member.string("ClientHost") == "/127.0.0.1" && member.string("ClientId") == "test")
            #expect(try member.bytes("MemberAssignment") == [7])
            let listed = try await client.call(.listGroups, version: 4, ["StatesFilter": .strings(["Stable"])])
            #expect(try listed.structs("Groups")?.map { try $0.string("GroupId") } == ["billing"])
            // A group with a member cannot be deleted; after leaving it can, and its offsets go.
            let busy = try await client.call(.deleteGroups, version: 2, ["GroupsNames": .strings(["billing"])])
            #expect(try busy.structs("Results")?.first?.int16("ErrorCode") == KafkaErrorCode.nonEmptyGroup.rawValue)
            let leave = try await client.call(
                .leaveGroup, version: 5,
                ["GroupId": .string("billing"), "Members": .structs([["MemberId": .string(memberId)]])])
            #expect(try leave.int16("ErrorCode") == 0)
            #expect(try leave.structs("Members")?.map { try $0.int16("ErrorCode") } == [0])
            let empty = try await client.call(.describeGroups, version: 0, ["Groups": .strings(["billing"])])
            #expect(try empty.structs("Groups")?.first?.string("GroupState") == "Empty")
            let deleted = try await client.call(.deleteGroups, version: 0, ["GroupsNames": .strings(["billing"])])
            #expect(try deleted.structs("Results")?.first?.int16("ErrorCode") == 0)
            let gone = try await client.call(.offsetFetch, version: 7, GroupRequests.fetch("billing", ["orders": [0]]))
            #expect(try gone.structs("Topics")?.first?.structs("Partitions")?.first?.int("CommittedOffset") == -1)
        }
    }

    /// LeaveGroup v0–2 has no member errors: an unknown member is the top-level error.
    @Test func leaveV0ReportsTheMemberErrorAtTheTop() async throws {
        try await withServer(configure: Self.noDelay) { server in
            let client = try server.connect()
            _ = try await client.joinAndSync("billing")
            let leave = try await client.call(
                .leaveGroup, version: 1, ["GroupId": .string("billing"), "MemberId": .string("nobody")])
            #expect(try leave.int16("ErrorCode") == KafkaErrorCode.unknownMemberId.rawValue)
        }
    }

    /// A standalone consumer commits with generation -1 and no member id (also under the
    /// empty group id, as Kafka allows); DeleteTopics drops those offsets.
    @Test func standaloneCommitsAndDeleteTopicsDropsOffsets() async throws {
        try await withServer { server in
            _ = try await server.lake.createTopic("orders", config: TopicConfig(), partitions: 1)
            _ = try await server.lake.createTopic("clicks", config: TopicConfig(), partitions: 1)
            let client = try server.connect()
            for group in ["solo", ""] {
                let commit = try await client.call(
                    .offsetCommit, version: 2,
                    GroupRequests.commit(group, [("orders", 0, 11, "m"), ("clicks", 0, 5, nil)]))
                #expect(try partitionErrors(commit) == [0, 0], "group '\(group)'")
            }
            let deleted = try await client.call(
                .deleteTopics, version: 4, ["TopicNames": .strings(["orders"]), "TimeoutMs": .int(1000)])
            #expect(try deleted.structs("Responses")?.first?.int16("ErrorCode") == 0)
            for group in ["solo", ""] {
                let fetched = try await client.call(.offsetFetch, version: 2, GroupRequests.fetch(group, nil))
                let topics = try #require(try fetched.structs("Topics"))
                #expect(try topics.map { try $0.string("Name") } == ["clicks"], "group '\(group)'")
            }
        }
    }

    /// A JoinGroup the coordinator holds (waiting out the initial rebalance delay) is answered
    /// when the server shuts down, and the shutdown does not wait for the delay.
    @Test func shutdownAnswersAHeldJoin() async throws {
        let path = NSTemporaryDirectory() + "strata-serve-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try await TestServer.start(path: path) { $0.groupInitialRebalanceDelayMs = 600_000 }
        let joiner = try server.connect()
        let first = try await joiner.call(.joinGroup, version: 5, GroupRequests.join("slow"))
        let memberId = try #require(try first.string("MemberId"))
        let (held, _) = try joiner.frame(.joinGroup, version: 5, GroupRequests.join("slow", memberId: memberId))
        try await joiner.send(held)
        // The join is held once the group shows its member while preparing the rebalance.
        let observer = try server.connect()
        var state = ""
        for _ in 0 ..< 10_000 where state != "PreparingRebalance" {
            let described = try await observer.call(.describeGroups, version: 5, ["Groups": .strings(["slow"])])
            state = try described.structs("Groups")?.first?.string("GroupState") ?? ""
        }
        #expect(state == "PreparingRebalance")
        let started = ContinuousClock.now
        try await server.stop()
        #expect(ContinuousClock.now - started < .seconds(60))
        let frame = try #require(try await joiner.receiveFrame(), "the held join was never answered")
        let (_, body) = try KafkaResponse.decode(frame, api: KafkaApis.api(.joinGroup)!, version: 5)
        #expect(try body.int16("ErrorCode") != 0)
    }
}
