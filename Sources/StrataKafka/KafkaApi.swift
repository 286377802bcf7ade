/// The Kafka APIs this codec speaks, by their protocol key.
public enum KafkaApiKey: Int16, Sendable, CaseIterable {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case saslHandshake = 17
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case initProducerId = 22
    case describeConfigs = 32
    case saslAuthenticate = 36
    case deleteGroups = 42
}

/// One API: the versions Strata supports, from which version it is flexible (KIP-482), and the
/// schemas of its request and response bodies.
public struct KafkaApi: Sendable {
    public var key: KafkaApiKey
    public var name: String
    public var versions: ClosedRange<Int16>
    /// The first flexible version: compact strings and arrays, tagged fields, header v2/v1.
    public var flexibleFrom: Int16
    public var request: KafkaStructSchema
    public var response: KafkaStructSchema

    public func isFlexible(_ version: Int16) -> Bool { version >= flexibleFrom }

    /// Request header version: 2 for flexible versions, else 1.
    public func requestHeaderVersion(_ version: Int16) -> Int16 { isFlexible(version) ? 2 : 1 }

    /// Response header version: 1 for flexible versions, else 0. ApiVersions always answers
    /// with header v0, so that a client that sent a version the broker does not know can
    /// still read the answer (KIP-511).
    public func responseHeaderVersion(_ version: Int16) -> Int16 {
        key != .apiVersions && isFlexible(version) ? 1 : 0
    }
}

/// The table of supported APIs (issue 13's versions table, and issue 14's group APIs).
public enum KafkaApis {
    public static let all: [KafkaApi] = [
        KafkaApi(
            key: .apiVersions, name: "ApiVersions", versions: 0 ... 3, flexibleFrom: 3,
            request: ApiVersionsSchema.request, response: ApiVersionsSchema.response),
        KafkaApi(
            key: .metadata, name: "Metadata", versions: 1 ... 12, flexibleFrom: 9,
            request: MetadataSchema.request, response: MetadataSchema.response),
        KafkaApi(
            key: .produce, name: "Produce", versions: 3 ... 9, flexibleFrom: 9,
            request: ProduceSchema.request, response: ProduceSchema.response),
        KafkaApi(
            key: .fetch, name: "Fetch", versions: 4 ... 12, flexibleFrom: 12,
            request: FetchSchema.request, response: FetchSchema.response),
        KafkaApi(
            key: .listOffsets, name: "ListOffsets", versions: 1 ... 7, flexibleFrom: 6,
            request: ListOffsetsSchema.request, response: ListOffsetsSchema.response),
        KafkaApi(
            key: .initProducerId, name: "InitProducerId", versions: 0 ... 4, flexibleFrom: 2,
            request: InitProducerIdSchema.request, response: InitProducerIdSchema.response),
        KafkaApi(
            key: .createTopics, name: "CreateTopics", versions: 2 ... 5, flexibleFrom: 5,
            request: CreateTopicsSchema.request, response: CreateTopicsSchema.response),
        KafkaApi(
            key: .deleteTopics, name: "DeleteTopics", versions: 1 ... 4, flexibleFrom: 4,
            request: DeleteTopicsSchema.request, response: DeleteTopicsSchema.response),
        KafkaApi(
            key: .describeConfigs, name: "DescribeConfigs", versions: 1 ... 4, flexibleFrom: 4,
            request: DescribeConfigsSchema.request, response: DescribeConfigsSchema.response),
        KafkaApi(
            key: .findCoordinator, name: "FindCoordinator", versions: 0 ... 4, flexibleFrom: 3,
            request: FindCoordinatorSchema.request, response: FindCoordinatorSchema.response),
        KafkaApi(
            key: .joinGroup, name: "JoinGroup", versions: 0 ... 9, flexibleFrom: 6,
            request: JoinGroupSchema.request, response: JoinGroupSchema.response),
        KafkaApi(
            key: .syncGroup, name: "SyncGroup", versions: 0 ... 5, flexibleFrom: 4,
            request: SyncGroupSchema.request, response: SyncGroupSchema.response),
        KafkaApi(
            key: .heartbeat, name: "Heartbeat", versions: 0 ... 4, flexibleFrom: 4,
            request: HeartbeatSchema.request, response: HeartbeatSchema.response),
        KafkaApi(
            key: .leaveGroup, name: "LeaveGroup", versions: 0 ... 5, flexibleFrom: 4,
            request: LeaveGroupSchema.request, response: LeaveGroupSchema.response),
        KafkaApi(
            key: .offsetCommit, name: "OffsetCommit", versions: 2 ... 8, flexibleFrom: 8,
            request: OffsetCommitSchema.request, response: OffsetCommitSchema.response),
        KafkaApi(
            key: .offsetFetch, name: "OffsetFetch", versions: 1 ... 8, flexibleFrom: 6,
            request: OffsetFetchSchema.request, response: OffsetFetchSchema.response),
        KafkaApi(
            key: .describeGroups, name: "DescribeGroups", versions: 0 ... 5, flexibleFrom: 5,
            request: DescribeGroupsSchema.request, response: DescribeGroupsSchema.response),
        KafkaApi(
            key: .listGroups, name: "ListGroups", versions: 0 ... 4, flexibleFrom: 3,
            request: ListGroupsSchema.request, response: ListGroupsSchema.response),
        KafkaApi(
            key: .deleteGroups, name: "DeleteGroups", versions: 0 ... 2, flexibleFrom: 2,
            request: DeleteGroupsSchema.request, response: DeleteGroupsSchema.response),
        // Never flexible: v0 and v1 are both classic.
        KafkaApi(
            key: .saslHandshake, name: "SaslHandshake", versions: 0 ... 1, flexibleFrom: .max,
            request: SaslHandshakeSchema.request, response: SaslHandshakeSchema.response),
        KafkaApi(
            key: .saslAuthenticate, name: "SaslAuthenticate", versions: 0 ... 2, flexibleFrom: 2,
            request: SaslAuthenticateSchema.request, response: SaslAuthenticateSchema.response),
    ]

    /// The API with this key, or nil.
    public static func api(_ key: KafkaApiKey) -> KafkaApi? { all.first { $0.key == key } }

    /// The API with this raw key, or nil for a key this codec does not know.
    public static func api(rawKey: Int16) -> KafkaApi? { KafkaApiKey(rawValue: rawKey).flatMap(api) }

    /// `ApiKeys` entries of an ApiVersions response: every supported API and its version range.
    public static var apiVersionsEntries: KafkaValue {
        .structs(
            all.map { api in
                [
                    "ApiKey": .int(Int64(api.key.rawValue)), "MinVersion": .int(Int64(api.versions.lowerBound)),
                    "MaxVersion": .int(Int64(api.versions.upperBound)),
                ]
            })
    }
}
