/// The Kafka protocol error codes Strata's server answers with (a subset of Kafka's table; the
/// numbers are the protocol's and never change).
public enum KafkaErrorCode: Int16, Sendable, CaseIterable {
    case unknownServerError = -1
    case none = 0
    case offsetOutOfRange = 1
    /// A batch's CRC did not match, or its records are malformed.
    case corruptMessage = 2
    case unknownTopicOrPartition = 3
    case invalidFetchSize = 4
    case leaderNotAvailable = 5
    case notLeaderOrFollower = 6
    case requestTimedOut = 7
    case messageTooLarge = 10
    case invalidTopic = 17
    case recordListTooLarge = 18
    case invalidRequiredAcks = 21
    case invalidTimestamp = 32
    /// The API key or version is not supported; ApiVersions answers it with the supported list.
    case unsupportedVersion = 35
    case topicAlreadyExists = 36
    case invalidPartitions = 37
    case invalidReplicationFactor = 38
    case invalidConfig = 40
    /// The request could not be decoded.
    case invalidRequest = 42
    /// A batch uses a feature the log does not support (transactional or control batches).
    case unsupportedForMessageFormat = 43
    case policyViolation = 44
    case outOfOrderSequenceNumber = 45
    case duplicateSequenceNumber = 46
    case invalidProducerEpoch = 47
    case invalidTransactionTimeout = 50
    case kafkaStorageError = 56
    case unknownProducerId = 59
    case unsupportedCompressionType = 76
    case invalidRecord = 87
    case producerFenced = 90
    case unknownTopicId = 100
}
