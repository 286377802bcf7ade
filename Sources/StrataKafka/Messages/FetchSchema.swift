/// Fetch (key 1), versions 4–12, flexible from 12.
enum FetchSchema {
    static let request = KafkaStructSchema(
        "FetchRequest",
        [
            KafkaField("ClusterId", .string, .from(12), nullable: .all, tag: 0, default: .string(nil)),
            KafkaField("ReplicaId", .int32, default: .int(-1)),
            KafkaField("MaxWaitMs", .int32),
            KafkaField("MinBytes", .int32),
            KafkaField("MaxBytes", .int32, .from(3), default: .int(Int64(Int32.max))),
            KafkaField("IsolationLevel", .int8, .from(4)),
            KafkaField("SessionId", .int32, .from(7)),
            KafkaField("SessionEpoch", .int32, .from(7), default: .int(-1)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "FetchTopic",
                            [
                                KafkaField("Topic", .string),
                                KafkaField(
                                    "Partitions",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "FetchPartition",
                                                [
                                                    KafkaField("Partition", .int32),
                                                    KafkaField(
                                                        "CurrentLeaderEpoch", .int32, .from(9), default: .int(-1)),
                                                    KafkaField("FetchOffset", .int64),
                                                    KafkaField(
                                                        "LastFetchedEpoch", .int32, .from(12), default: .int(-1)),
                                                    KafkaField("LogStartOffset", .int64, .from(5), default: .int(-1)),
                                                    KafkaField("PartitionMaxBytes", .int32),
                                                ])))),
                            ])))),
            KafkaField(
                "ForgottenTopicsData",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "ForgottenTopic",
                            [
                                KafkaField("Topic", .string),
                                KafkaField("Partitions", .array(.int32)),
                            ]))), .from(7)),
            KafkaField("RackId", .string, .from(11)),
        ])

    private static let epochEndOffset = KafkaStructSchema(
        "EpochEndOffset",
        [
            KafkaField("Epoch", .int32, default: .int(-1)),
            KafkaField("EndOffset", .int64, default: .int(-1)),
        ])
    private static let leaderIdAndEpoch = KafkaStructSchema(
        "LeaderIdAndEpoch",
        [
            KafkaField("LeaderId", .int32, default: .int(-1)),
            KafkaField("LeaderEpoch", .int32, default: .int(-1)),
        ])
    private static let snapshotId = KafkaStructSchema(
        "SnapshotId",
        [
            KafkaField("EndOffset", .int64, default: .int(-1)),
            KafkaField("Epoch", .int32, default: .int(-1)),
        ])

    static let response = KafkaStructSchema(
        "FetchResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField("ErrorCode", .int16, .from(7)),
            KafkaField("SessionId", .int32, .from(7)),
            KafkaField(
                "Responses",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "FetchableTopicResponse",
                            [
                                KafkaField("Topic", .string),
                                KafkaField(
                                    "Partitions",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "PartitionData",
                                                [
                                                    KafkaField("PartitionIndex", .int32),
                                                    KafkaField("ErrorCode", .int16),
                                                    KafkaField("HighWatermark", .int64),
                                                    KafkaField("LastStableOffset", .int64, .from(4), default: .int(-1)),
                                                    KafkaField("LogStartOffset", .int64, .from(5), default: .int(-1)),
                                                    KafkaField(
                                                        "DivergingEpoch", .structure(epochEndOffset), .from(12), tag: 0),
                                                    KafkaField(
                                                        "CurrentLeader", .structure(leaderIdAndEpoch), .from(12), tag: 1
                                                    ),
                                                    KafkaField("SnapshotId", .structure(snapshotId), .from(12), tag: 2),
                                                    KafkaField(
                                                        "AbortedTransactions",
                                                        .array(
                                                            .structure(
                                                                KafkaStructSchema(
                                                                    "AbortedTransaction",
                                                                    [
                                                                        KafkaField("ProducerId", .int64),
                                                                        KafkaField("FirstOffset", .int64),
                                                                    ]))), .from(4), nullable: .from(4)),
                                                    KafkaField(
                                                        "PreferredReadReplica", .int32, .from(11), default: .int(-1)),
                                                    // Whole v2 record batches, back to back; a client
                                                    // ignores a partial last one.
                                                    KafkaField("Records", .records, nullable: .all),
                                                ])))),
                            ])))),
        ])
}
