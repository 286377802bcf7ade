// Message bodies are described once, field by field, in Strata's own table form: name, wire
// type, the versions the field exists in, where it may be null, and its tag if it is tagged.
// Only versions up to the highest one Strata supports are described.

/// ApiVersions (key 18), versions 0–3, flexible from 3.
enum ApiVersionsSchema {
    static let request = KafkaStructSchema(
        "ApiVersionsRequest",
        [
            KafkaField("ClientSoftwareName", .string, .from(3)),
            KafkaField("ClientSoftwareVersion", .string, .from(3)),
        ])

    static let response = KafkaStructSchema(
        "ApiVersionsResponse",
        [
            KafkaField("ErrorCode", .int16),
            KafkaField(
                "ApiKeys",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "ApiVersion",
                            [
                                KafkaField("ApiKey", .int16),
                                KafkaField("MinVersion", .int16),
                                KafkaField("MaxVersion", .int16),
                            ])))),
            KafkaField("ThrottleTimeMs", .int32, .from(1)),
            KafkaField(
                "SupportedFeatures",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "SupportedFeatureKey",
                            [
                                KafkaField("Name", .string),
                                KafkaField("MinVersion", .int16),
                                KafkaField("MaxVersion", .int16),
                            ]))), .from(3), tag: 0),
            KafkaField("FinalizedFeaturesEpoch", .int64, .from(3), tag: 1, default: .int(-1)),
            KafkaField(
                "FinalizedFeatures",
                .array(
                    .structure(
                        KafkaStructSchema(
                            "FinalizedFeatureKey",
                            [
                                KafkaField("Name", .string),
                                KafkaField("MaxVersionLevel", .int16),
                                KafkaField("MinVersionLevel", .int16),
                            ]))), .from(3), tag: 2),
            KafkaField("ZkMigrationReady", .bool, .from(3), tag: 3),
        ])
}
