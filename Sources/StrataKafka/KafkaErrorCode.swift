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
    case offsetMetadataTooLarge = 12
    /// The coordinator is still loading the groups it keeps (at start).
    case coordinatorLoadInProgress = 14
    case coordinatorNotAvailable = 15
    case notCoordinator = 16
    case invalidTopic = 17
    case recordListTooLarge = 18
    case invalidRequiredAcks = 21
    /// A group request named a generation other than the group's current one.
    case illegalGeneration = 22
    /// A member's protocol type or protocols do not match the group's.
    case inconsistentGroupProtocol = 23
    case invalidGroupId = 24
    case unknownMemberId = 25
    case invalidSessionTimeout = 26
    /// The group is rebalancing: the member must rejoin.
    case rebalanceInProgress = 27
    case invalidCommitOffsetSize = 28
    case topicAuthorizationFailed = 29
    case groupAuthorizationFailed = 30
    case clusterAuthorizationFailed = 31
    case invalidTimestamp = 32
    /// SaslHandshake named a mechanism this broker does not enable.
    case unsupportedSaslMechanism = 33
    /// A SASL request out of order (SaslAuthenticate before SaslHandshake, a second handshake).
    case illegalSaslState = 34
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
    /// Wrong user name or password (one answer for both).
    case saslAuthenticationFailed = 58
    case unknownProducerId = 59
    /// DeleteGroups on a group that still has members.
    case nonEmptyGroup = 68
    case groupIdNotFound = 69
    /// JoinGroup v4+ without a member id: the answer carries the id to join with.
    case memberIdRequired = 79
    case groupMaxSizeReached = 81
    /// A static member's instance id is held by a newer member id.
    case fencedInstanceId = 82
    case unsupportedCompressionType = 76
    case invalidRecord = 87
    case unstableOffsetCommit = 88
    case producerFenced = 90
    case unknownTopicId = 100
}
