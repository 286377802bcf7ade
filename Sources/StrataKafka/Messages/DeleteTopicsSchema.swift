/// DeleteTopics (key 20), versions 1–4, flexible from 4.
enum DeleteTopicsSchema {
    static let request = KafkaStructSchema(
        "DeleteTopicsRequest",
        [
            KafkaField("TopicNames", .array(.string)),
            KafkaField("TimeoutMs", .int32),
        ])

    static let response = KafkaStructSchema(
        "DeleteTopicsResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField(
                "Responses",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "DeletableTopicResult",
                            [
                                KafkaField("Name", .string),
                                KafkaField("ErrorCode", .int16),
                            ])))),
        ])
}
