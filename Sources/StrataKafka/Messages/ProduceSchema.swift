/// Produce (key 0), versions 3–9, flexible from 9.
enum ProduceSchema {
    static let request = KafkaStructSchema(
        "ProduceRequest",
        [
            KafkaField("TransactionalId", .string, nullable: .all, default: .string(nil)),
            KafkaField("Acks", .int16),
            KafkaField("TimeoutMs", .int32),
            KafkaField(
                "TopicData",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "TopicProduceData",
                            [
                                KafkaField("Name", .string),
                                KafkaField(
                                    "PartitionData",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "PartitionProduceData",
                                                [
                                                    KafkaField("Index", .int32),
                                                    // One or more v2 record batches, back to back (KafkaBatch).
                                                    KafkaField("Records", .records, nullable: .all),
                                                ])))),
                            ])))),
        ])

    static let response = KafkaStructSchema(
        "ProduceResponse",
        [
            KafkaField(
                "Responses",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "TopicProduceResponse",
                            [
                                KafkaField("Name", .string),
                                KafkaField(
                                    "PartitionResponses",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "PartitionProduceResponse",
                                                [
                                                    KafkaField("Index", .int32),
                                                    KafkaField("ErrorCode", .int16),
                                                    KafkaField("BaseOffset", .int64),
                                                    KafkaField("LogAppendTimeMs", .int64, .from(2), default: .int(-1)),
                                                    KafkaField("LogStartOffset", .int64, .from(5), default: .int(-1)),
                                                    KafkaField(
                                                        "RecordErrors",
                                                        .array(
                                                            .structure(
                                                                KafkaStructSchema(
                                                                    "BatchIndexAndErrorMessage",
                                                                    [
                                                                        KafkaField("BatchIndex", .int32),
                                                                        KafkaField(
                                                                            "BatchIndexErrorMessage", .string,
                                                                            nullable: .all, default: .string(nil)),
                                                                    ]))), .from(8)),
                                                    KafkaField(
                                                        "ErrorMessage", .string, .from(8), nullable: .all,
                                                        default: .string(nil)),
                                                ])))),
                            ])))),
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
        ])
}
