/// JoinGroup (key 11), versions 0–9, flexible from 6. v1 adds RebalanceTimeoutMs, v4 the
/// MEMBER_ID_REQUIRED second join, v5 GroupInstanceId (static members), v7 ProtocolType in the
/// response, v8 Reason, v9 SkipAssignment.
enum JoinGroupSchema {
    static let request = KafkaStructSchema(
        "JoinGroupRequest",
        [
            KafkaField("GroupId", .string),
            KafkaField("SessionTimeoutMs", .int32),
            // Absent in v0: the session timeout stands in for it.
            KafkaField("RebalanceTimeoutMs", .int32, .from(1), default: .int(-1)),
            KafkaField("MemberId", .string),
            KafkaField("GroupInstanceId", .string, .from(5), nullable: .all, default: .string(nil)),
            KafkaField("ProtocolType", .string),
            KafkaField(
                "Protocols",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "JoinGroupRequestProtocol",
                            [
                                KafkaField("Name", .string),
                                KafkaField("Metadata", .bytes),
                            ])))),
            KafkaField("Reason", .string, .from(8), nullable: .all, default: .string(nil)),
        ])

    static let response = KafkaStructSchema(
        "JoinGroupResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(2)),
            KafkaField("ErrorCode", .int16),
            KafkaField("GenerationId", .int32, default: .int(-1)),
            KafkaField("ProtocolType", .string, .from(7), nullable: .all, default: .string(nil)),
            KafkaField("ProtocolName", .string, nullable: .from(7)),
            KafkaField("Leader", .string),
            KafkaField("SkipAssignment", .bool, .from(9)),
            KafkaField("MemberId", .string),
            KafkaField(
                "Members",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "JoinGroupResponseMember",
                            [
                                KafkaField("MemberId", .string),
                                KafkaField("GroupInstanceId", .string, .from(5), nullable: .all, default: .string(nil)),
                                KafkaField("Metadata", .bytes),
                            ])))),
        ])
}
