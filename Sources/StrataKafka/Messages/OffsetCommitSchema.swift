/// OffsetCommit (key 8), versions 2–8, flexible from 8 (v0–1 are gone from Kafka 4.0). v2–4
/// carry RetentionTimeMs (read and ignored, as Kafka 2.1+ does), v6+ CommittedLeaderEpoch, v7+
/// GroupInstanceId.
enum OffsetCommitSchema {
    static let request = KafkaStructSchema(
        "OffsetCommitRequest",
        [
            KafkaField("GroupId", .string),
            // The generation (classic protocol); -1 with an empty member id from a consumer
            // outside any generation.
            KafkaField("GenerationIdOrMemberEpoch", .int32, default: .int(-1)),
            KafkaField("MemberId", .string),
            KafkaField("GroupInstanceId", .string, .from(7), nullable: .all, default: .string(nil)),
            KafkaField("RetentionTimeMs", .int64, KafkaVersions(2, 4), default: .int(-1)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "OffsetCommitRequestTopic",
                            [
                                KafkaField("Name", .string),
                                KafkaField(
                                    "Partitions",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "OffsetCommitRequestPartition",
                                                [
                                                    KafkaField("PartitionIndex", .int32),
                                                    KafkaField("CommittedOffset", .int64),
                                                    KafkaField(
                                                        "CommittedLeaderEpoch", .int32, .from(6), default: .int(-1)),
                                                    KafkaField("CommittedMetadata", .string, nullable: .all),
                                                ])))),
                            ])))),
        ])

    static let response = KafkaStructSchema(
        "OffsetCommitResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(3)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "OffsetCommitResponseTopic",
                            [
                                KafkaField("Name", .string),
                                KafkaField(
                                    "Partitions",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "OffsetCommitResponsePartition",
                                                [
                                                    KafkaField("PartitionIndex", .int32),
                                                    KafkaField("ErrorCode", .int16),
                                                ])))),
                            ])))),
        ])
}
