/// InitProducerId (key 22), versions 0–4, flexible from 2.
enum InitProducerIdSchema {
    static let request = KafkaStructSchema(
        "InitProducerIdRequest",
        [
            KafkaField("TransactionalId", .string, nullable: .all),
            KafkaField("TransactionTimeoutMs", .int32),
            KafkaField("ProducerId", .int64, .from(3), default: .int(-1)),
            KafkaField("ProducerEpoch", .int16, .from(3), default: .int(-1)),
        ])

    static let response = KafkaStructSchema(
        "InitProducerIdResponse",
        [
            KafkaField("ThrottleTimeMs", .int32),
            KafkaField("ErrorCode", .int16),
            KafkaField("ProducerId", .int64, default: .int(-1)),
            KafkaField("ProducerEpoch", .int16),
        ])
}
