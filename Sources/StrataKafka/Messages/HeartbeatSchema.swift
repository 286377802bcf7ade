/// Heartbeat (key 12), versions 0–4, flexible from 4. v3 adds GroupInstanceId.
enum HeartbeatSchema {
    static let request = KafkaStructSchema(
        "HeartbeatRequest",
        [
            KafkaField("GroupId", .string),
            KafkaField("GenerationId", .int32),
            KafkaField("MemberId", .string),
            KafkaField("GroupInstanceId", .string, .from(3), nullable: .all, default: .string(nil)),
        ])

    static let response = KafkaStructSchema(
        "HeartbeatResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField("ErrorCode", .int16),
        ])
}
