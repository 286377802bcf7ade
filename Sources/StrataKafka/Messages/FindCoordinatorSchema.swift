/// FindCoordinator (key 10), versions 0–4, flexible from 3. v4 batches keys (KIP-699):
/// `CoordinatorKeys` in, one `Coordinators` entry per key out; v0–3 name one `Key`.
enum FindCoordinatorSchema {
    static let request = KafkaStructSchema(
        "FindCoordinatorRequest",
        [
            KafkaField("Key", .string, KafkaVersions(0, 3)),
            // 0 = group, 1 = transaction.
            KafkaField("KeyType", .int8, .from(1)),
            KafkaField("CoordinatorKeys", .array(.string), .from(4)),
        ])

    static let response = KafkaStructSchema(
        "FindCoordinatorResponse",
        [
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField("ErrorCode", .int16, KafkaVersions(0, 3)),
            KafkaField("ErrorMessage", .string, KafkaVersions(1, 3), nullable: .all, default: .string(nil)),
            KafkaField("NodeId", .int32, KafkaVersions(0, 3)),
            KafkaField("Host", .string, KafkaVersions(0, 3)),
            KafkaField("Port", .int32, KafkaVersions(0, 3)),
            KafkaField(
                "Coordinators",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "Coordinator",
                            [
                                KafkaField("Key", .string),
                                KafkaField("NodeId", .int32),
                                KafkaField("Host", .string),
                                KafkaField("Port", .int32),
                                KafkaField("ErrorCode", .int16),
                                KafkaField("ErrorMessage", .string, nullable: .all, default: .string(nil)),
                            ]))), .from(4)),
        ])
}
