/// ListGroups (key 16), versions 0–4, flexible from 3. v4 adds the states filter and each
/// group's state (KIP-518).
enum ListGroupsSchema {
    static let request = KafkaStructSchema(
        "ListGroupsRequest",
        [
            // Empty: every group.
            KafkaField("StatesFilter", .array(.string), .from(4))
        ])

    static let response = KafkaStructSchema(
        "ListGroupsResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField("ErrorCode", .int16),
            KafkaField(
                "Groups",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "ListedGroup",
                            [
                                KafkaField("GroupId", .string),
                                KafkaField("ProtocolType", .string),
                                KafkaField("GroupState", .string, .from(4)),
                            ])))),
        ])
}
