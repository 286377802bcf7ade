import Strata
import StrataKafka

/// Kafka error codes the protocol has that `KafkaErrorCode` does not list yet.
enum ExtraKafkaErrorCode {
    /// A fetch named a session this broker never created (Strata answers sessionless fetches).
    static let fetchSessionIdNotFound: Int16 = 70
}

/// The one place engine errors become Kafka error codes (issue 13 §2). A handler that knows
/// better for its API (CreateTopics' INVALID_CONFIG, Metadata's INVALID_TOPIC_EXCEPTION) checks
/// first and falls back to this table.
enum ErrorMapping {
    /// The Kafka code for an engine error. Retriable Kafka codes are used where a retry can
    /// succeed (`busy`, `closed`, `fenced`), so clients back off instead of failing.
    static func kafkaCode(_ code: StrataError.Code) -> KafkaErrorCode {
        switch code {
        case .invalidArgument: return .invalidRequest
        case .notFound: return .unknownTopicOrPartition
        case .offsetOutOfRange: return .offsetOutOfRange
        case .tooLarge: return .messageTooLarge
        case .corrupt, .io: return .kafkaStorageError
        case .locked, .readOnly: return .unknownServerError
        // The lake is closing, or another writer took the topic over: the client looks again.
        case .closed, .fenced: return .notLeaderOrFollower
        case .busy: return .requestTimedOut
        case .outOfOrderSequence: return .outOfOrderSequenceNumber
        case .invalidProducerEpoch: return .invalidProducerEpoch
        case .unknownProducerId: return .unknownProducerId
        }
    }

    /// The Kafka code for an engine error of `appendBatch`: a batch the engine refused as
    /// corrupt or inconsistent is the producer's, not the storage's.
    static func appendCode(_ code: StrataError.Code) -> KafkaErrorCode {
        switch code {
        case .corrupt: return .corruptMessage
        case .invalidArgument: return .invalidRecord
        default: return kafkaCode(code)
        }
    }

    /// The Kafka code for a failure to read a produced batch (`KafkaBatch.toStrata`).
    static func produceCode(_ error: KafkaDecodeError) -> KafkaErrorCode {
        switch error.code {
        case .checksumMismatch, .corruptRecords, .truncated: return .corruptMessage
        // Transactional and control batches, delete horizons.
        case .unsupportedFeature, .unsupportedVersion: return .unsupportedForMessageFormat
        case .unsupportedCompression: return .unsupportedCompressionType
        // Kafka's answer to a batch over max.message.bytes, which clients know.
        case .recordsTooLarge: return .messageTooLarge
        case .outOfBounds where error.field.hasSuffix("batchLength") || error.message.contains("limit"):
            return .messageTooLarge
        case .outOfBounds, .invalidValue, .trailingBytes, .unsupportedApi, .missingField: return .invalidRecord
        }
    }
}
