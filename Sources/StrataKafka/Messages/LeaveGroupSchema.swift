/// LeaveGroup (key 13), versions 0–5, flexible from 4. v0–2 name one member by id; v3+ a batch
/// of members, each by id and/or instance id, with an error per member; v5 adds a reason each.
enum LeaveGroupSchema {
    static let request = KafkaStructSchema(
        "LeaveGroupRequest",
        [
            KafkaField("GroupId", .string),
            KafkaField("MemberId", .string, KafkaVersions(0, 2)),
            KafkaField(
                "Members",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "MemberIdentity",
                            [
                                KafkaField("MemberId", .string),
                                KafkaField("GroupInstanceId", .string, nullable: .all, default: .string(nil)),
                                KafkaField("Reason", .string, .from(5), nullable: .all, default: .string(nil)),
                            ]))), .from(3)),
        ])

    static let response = KafkaStructSchema(
        "LeaveGroupResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField("ErrorCode", .int16),
            KafkaField(
                "Members",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "MemberResponse",
                            [
                                KafkaField("MemberId", .string),
                                KafkaField("GroupInstanceId", .string, nullable: .all, default: .string(nil)),
                                KafkaField("ErrorCode", .int16),
                            ]))), .from(3)),
        ])
}
