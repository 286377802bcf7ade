/// DescribeGroups (key 15), versions 0–5, flexible from 5. v3 adds authorized operations, v4
/// members' GroupInstanceId.
enum DescribeGroupsSchema {
    static let request = KafkaStructSchema(
        "DescribeGroupsRequest",
        [
            KafkaField("Groups", .array(.string)),
            KafkaField("IncludeAuthorizedOperations", .bool, .from(3)),
        ])

    static let response = KafkaStructSchema(
        "DescribeGroupsResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField(
                "Groups",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "DescribedGroup",
                            [
                                KafkaField("ErrorCode", .int16),
                                KafkaField("GroupId", .string),
                                KafkaField("GroupState", .string),
                                KafkaField("ProtocolType", .string),
                                // The chosen protocol (assignor) name.
                                KafkaField("ProtocolData", .string),
                                KafkaField(
                                    "Members",
                                    .array(
                                        .structure(
                                            KafkaStructSchema(
                                                "DescribedGroupMember",
                                                [
                                                    KafkaField("MemberId", .string),
                                                    KafkaField(
                                                        "GroupInstanceId", .string, .from(4), nullable: .all,
                                                        default: .string(nil)),
                                                    KafkaField("ClientId", .string),
                                                    KafkaField("ClientHost", .string),
                                                    KafkaField("MemberMetadata", .bytes),
                                                    KafkaField("MemberAssignment", .bytes),
                                                ])))),
                                // A bitfield; INT32_MIN when not asked for.
                                KafkaField("AuthorizedOperations", .int32, .from(3), default: .int(-2_147_483_648)),
                            ])))),
        ])
}
