/// DescribeConfigs (key 32), versions 1–4, flexible from 4.
enum DescribeConfigsSchema {
    static let request = KafkaStructSchema(
        "DescribeConfigsRequest",
        [
            KafkaField(
                "Resources",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "DescribeConfigsResource",
                            [
                                // 2 = topic, 4 = broker.
                                KafkaField("ResourceType", .int8),
                                KafkaField("ResourceName", .string),
                                // Null asks for every config.
                                KafkaField("ConfigurationKeys", .array(.string), nullable: .all),
                            ])))),
            KafkaField("IncludeSynonyms", .bool, .from(1)),
            KafkaField("IncludeDocumentation", .bool, .from(3)),
        ])

    static let response = KafkaStructSchema(
        "DescribeConfigsResponse",
        [
            KafkaField("ThrottleTimeMs", .int32),
            KafkaField(
                "Results",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "DescribeConfigsResult",
                            [
                                KafkaField("ErrorCode", .int16),
                                KafkaField("ErrorMessage", .string, nullable: .all, default: .string(nil)),
                                KafkaField("ResourceType", .int8),
                                KafkaField("ResourceName", .string),
                                KafkaField(
                                    "Configs",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "DescribeConfigsResourceResult",
                                                [
                                                    KafkaField("Name", .string),
                                                    KafkaField("Value", .string, nullable: .all),
                                                    KafkaField("ReadOnly", .bool),
                                                    KafkaField("ConfigSource", .int8, .from(1), default: .int(-1)),
                                                    KafkaField("IsSensitive", .bool),
                                                    KafkaField(
                                                        "Synonyms",
                                                        .array(
                                                            .structure(
                                                                KafkaStructSchema(
                                                                    "DescribeConfigsSynonym",
                                                                    [
                                                                        KafkaField("Name", .string),
                                                                        KafkaField("Value", .string, nullable: .all),
                                                                        KafkaField("Source", .int8),
                                                                    ]))), .from(1)),
                                                    KafkaField("ConfigType", .int8, .from(3)),
                                                    KafkaField(
                                                        "Documentation", .string, .from(3), nullable: .all,
                                                        default: .string(nil)),
                                                ])))),
                            ])))),
        ])
}
