/// SaslHandshake (key 17), versions 0–1, never flexible. v0: the SASL tokens that follow are
/// raw length-prefixed frames; v1: they travel in SaslAuthenticate requests (KIP-152).
enum SaslHandshakeSchema {
    static let request = KafkaStructSchema(
        "SaslHandshakeRequest",
        [
            KafkaField("Mechanism", .string)
        ])

    static let response = KafkaStructSchema(
        "SaslHandshakeResponse",
        [
            KafkaField("ErrorCode", .int16),
            KafkaField("Mechanisms", .array(.string)),
        ])
}

/// SaslAuthenticate (key 36), versions 0–2, flexible from 2. v1 adds SessionLifetimeMs.
enum SaslAuthenticateSchema {
    static let request = KafkaStructSchema(
        "SaslAuthenticateRequest",
        [
            KafkaField("AuthBytes", .bytes)
        ])

    static let response = KafkaStructSchema(
        "SaslAuthenticateResponse",
        [
            KafkaField("ErrorCode", .int16),
            KafkaField("ErrorMessage", .string, nullable: .all, default: .string(nil)),
            KafkaField("AuthBytes", .bytes),
            KafkaField("SessionLifetimeMs", .int64, .from(1)),
        ])
}
