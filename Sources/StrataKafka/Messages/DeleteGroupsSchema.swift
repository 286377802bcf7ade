/// DeleteGroups (key 42), versions 0–2, flexible from 2.
enum DeleteGroupsSchema {
    static let request = KafkaStructSchema(
        "DeleteGroupsRequest",
        [
            KafkaField("GroupsNames", .array(.string))
        ])

    static let response = KafkaStructSchema(
        "DeleteGroupsResponse",
        [
            KafkaField("ThrottleTimeMs", .int32),
            KafkaField(
                "Results",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "DeletableGroupResult",
                            [
                                KafkaField("GroupId", .string),
                                KafkaField("ErrorCode", .int16),
                            ])))),
        ])
}
