/// Metadata (key 3), versions 1–12, flexible from 9.
enum MetadataSchema {
    static let request = KafkaStructSchema(
        "MetadataRequest",
        [
            // A null topic list asks for every topic; an empty one for none.
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "MetadataRequestTopic",
                            [
                                KafkaField("TopicId", .uuid, .from(10)),
                                KafkaField("Name", .string, nullable: .from(10)),
                            ]))), nullable: .from(1)),
            KafkaField("AllowAutoTopicCreation", .bool, .from(4), default: .bool(true)),
            KafkaField("IncludeClusterAuthorizedOperations", .bool, KafkaVersions(8, 10)),
            KafkaField("IncludeTopicAuthorizedOperations", .bool, .from(8)),
        ])

    static let response = KafkaStructSchema(
        "MetadataResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(3)),
            KafkaField(
                "Brokers",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "MetadataResponseBroker",
                            [
                                KafkaField("NodeId", .int32),
                                KafkaField("Host", .string),
                                KafkaField("Port", .int32),
                                KafkaField("Rack", .string, .from(1), nullable: .from(1), default: .string(nil)),
                            ])))),
            KafkaField("ClusterId", .string, .from(2), nullable: .from(2), default: .string(nil)),
            KafkaField("ControllerId", .int32, .from(1), default: .int(-1)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "MetadataResponseTopic",
                            [
                                KafkaField("ErrorCode", .int16),
                                KafkaField("Name", .string, nullable: .from(12)),
                                KafkaField("TopicId", .uuid, .from(10)),
                                KafkaField("IsInternal", .bool, .from(1)),
                                KafkaField(
                                    "Partitions",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "MetadataResponsePartition",
                                                [
                                                    KafkaField("ErrorCode", .int16),
                                                    KafkaField("PartitionIndex", .int32),
                                                    KafkaField("LeaderId", .int32),
                                                    KafkaField("LeaderEpoch", .int32, .from(7), default: .int(-1)),
                                                    KafkaField("ReplicaNodes", .array(.int32)),
                                                    KafkaField("IsrNodes", .array(.int32)),
                                                    KafkaField("OfflineReplicas", .array(.int32), .from(5)),
                                                ])))),
                                KafkaField(
                                    "TopicAuthorizedOperations", .int32, .from(8), default: .int(Int64(Int32.min))),
                            ])))),
            KafkaField("ClusterAuthorizedOperations", .int32, KafkaVersions(8, 10), default: .int(Int64(Int32.min))),
        ])
}
