/// ListOffsets (key 2), versions 1–7, flexible from 6.
enum ListOffsetsSchema {
    static let request = KafkaStructSchema(
        "ListOffsetsRequest",
        [
            KafkaField("ReplicaId", .int32),
            KafkaField("IsolationLevel", .int8, .from(2)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "ListOffsetsTopic",
                            [
                                KafkaField("Name", .string),
                                KafkaField(
                                    "Partitions",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "ListOffsetsPartition",
                                                [
                                                    KafkaField("PartitionIndex", .int32),
                                                    KafkaField(
                                                        "CurrentLeaderEpoch", .int32, .from(4), default: .int(-1)),
                                                    // -2 earliest, -1 latest, -3 max timestamp, else a timestamp in ms.
                                                    KafkaField("Timestamp", .int64),
                                                ])))),
                            ])))),
        ])

    static let response = KafkaStructSchema(
        "ListOffsetsResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(2)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "ListOffsetsTopicResponse",
                            [
                                KafkaField("Name", .string),
                                KafkaField(
                                    "Partitions",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "ListOffsetsPartitionResponse",
                                                [
                                                    KafkaField("PartitionIndex", .int32),
                                                    KafkaField("ErrorCode", .int16),
                                                    KafkaField("Timestamp", .int64, default: .int(-1)),
                                                    KafkaField("Offset", .int64, default: .int(-1)),
                                                    KafkaField("LeaderEpoch", .int32, .from(4), default: .int(-1)),
                                                ])))),
                            ])))),
        ])
}
