/// SyncGroup (key 14), versions 0–5, flexible from 4. v3 adds GroupInstanceId, v5 the protocol
/// type and name both ways (KIP-559).
enum SyncGroupSchema {
    static let request = KafkaStructSchema(
        "SyncGroupRequest",
        [
            KafkaField("GroupId", .string),
            KafkaField("GenerationId", .int32),
            KafkaField("MemberId", .string),
            KafkaField("GroupInstanceId", .string, .from(3), nullable: .all, default: .string(nil)),
            KafkaField("ProtocolType", .string, .from(5), nullable: .all, default: .string(nil)),
            KafkaField("ProtocolName", .string, .from(5), nullable: .all, default: .string(nil)),
            KafkaField(
                "Assignments",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "SyncGroupRequestAssignment",
                            [
                                KafkaField("MemberId", .string),
                                KafkaField("Assignment", .bytes),
                            ])))),
        ])

    static let response = KafkaStructSchema(
        "SyncGroupResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField("ErrorCode", .int16),
            KafkaField("ProtocolType", .string, .from(5), nullable: .all, default: .string(nil)),
            KafkaField("ProtocolName", .string, .from(5), nullable: .all, default: .string(nil)),
            KafkaField("Assignment", .bytes),
        ])
}
