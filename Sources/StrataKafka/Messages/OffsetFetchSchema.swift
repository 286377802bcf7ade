/// OffsetFetch (key 9), versions 1–8, flexible from 6 (v0 is gone from Kafka 4.0). v2 allows a
/// null topic list (every committed partition) and adds the top-level error, v5 the leader
/// epoch, v7 RequireStable; v8 batches groups: `Groups` in and out replace the single group's
/// `GroupId`/`Topics`/`ErrorCode`.
enum OffsetFetchSchema {
    static let partitionResponse = KafkaStructSchema(
        "OffsetFetchResponsePartition",
        [
            KafkaField("PartitionIndex", .int32),
            KafkaField("CommittedOffset", .int64),
            KafkaField("CommittedLeaderEpoch", .int32, .from(5), default: .int(-1)),
            KafkaField("Metadata", .string, nullable: .all),
            KafkaField("ErrorCode", .int16),
        ])

    static let topicResponse = KafkaStructSchema(
        "OffsetFetchResponseTopic",
        [
            KafkaField("Name", .string),
            KafkaField("Partitions", .array(.structure(partitionResponse))),
        ])

    static let request = KafkaStructSchema(
        "OffsetFetchRequest",
        [
            KafkaField("GroupId", .string, KafkaVersions(0, 7)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "OffsetFetchRequestTopic",
                            [
                                KafkaField("Name", .string),
                                KafkaField("PartitionIndexes", .array(.int32)),
                            ]))), KafkaVersions(0, 7), nullable: .from(2)),
            KafkaField(
                "Groups",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "OffsetFetchRequestGroup",
                            [
                                KafkaField("GroupId", .string),
                                KafkaField(
                                    "Topics",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "OffsetFetchRequestTopics",
                                                [
                                                    KafkaField("Name", .string),
                                                    KafkaField("PartitionIndexes", .array(.int32)),
                                                ]))), nullable: .all),
                            ]))), .from(8)),
            KafkaField("RequireStable", .bool, .from(7)),
        ])

    static let response = KafkaStructSchema(
        "OffsetFetchResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(3)),
            KafkaField("Topics", .array(.structure(topicResponse)), KafkaVersions(0, 7)),
            KafkaField("ErrorCode", .int16, KafkaVersions(2, 7)),
            KafkaField(
                "Groups",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "OffsetFetchResponseGroup",
                            [
                                KafkaField("GroupId", .string),
                                KafkaField("Topics", .array(.structure(topicResponse))),
                                KafkaField("ErrorCode", .int16),
                            ]))), .from(8)),
        ])
}
