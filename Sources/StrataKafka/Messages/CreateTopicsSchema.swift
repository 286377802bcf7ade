/// CreateTopics (key 19), versions 2–5, flexible from 5.
enum CreateTopicsSchema {
    static let request = KafkaStructSchema(
        "CreateTopicsRequest",
        [
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "CreatableTopic",
                            [
                                KafkaField("Name", .string),
                                // -1 asks for the broker's default.
                                KafkaField("NumPartitions", .int32),
                                KafkaField("ReplicationFactor", .int16),
                                KafkaField(
                                    "Assignments",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "CreatableReplicaAssignment",
                                                [
                                                    KafkaField("PartitionIndex", .int32),
                                                    KafkaField("BrokerIds", .array(.int32)),
                                                ])))),
                                KafkaField(
                                    "Configs",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "CreatableTopicConfig",
                                                [
                                                    KafkaField("Name", .string),
                                                    KafkaField("Value", .string, nullable: .all),
                                                ])))),
                            ])))),
            KafkaField("TimeoutMs", .int32, default: .int(60000)),
            KafkaField("ValidateOnly", .bool, .from(1)),
        ])

    static let response = KafkaStructSchema(
        "CreateTopicsResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(2)),
            KafkaField(
                "Topics",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "CreatableTopicResult",
                            [
                                KafkaField("Name", .string),
                                KafkaField("ErrorCode", .int16),
                                KafkaField("ErrorMessage", .string, .from(1), nullable: .all, default: .string(nil)),
                                KafkaField("TopicConfigErrorCode", .int16, .from(5), tag: 0),
                                KafkaField("NumPartitions", .int32, .from(5), default: .int(-1)),
                                KafkaField("ReplicationFactor", .int16, .from(5), default: .int(-1)),
                                KafkaField(
                                    "Configs",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "CreatableTopicConfigs",
                                                [
                                                    KafkaField("Name", .string),
                                                    KafkaField("Value", .string, nullable: .all),
                                                    KafkaField("ReadOnly", .bool),
                                                    KafkaField("ConfigSource", .int8, default: .int(-1)),
                                                    KafkaField("IsSensitive", .bool),
                                                ]))), .from(5), nullable: .from(5)),
                            ])))),
        ])
}
