import StrataFormat

/// The one error type of the Kafka codec layer: what was wrong, in which field, at which byte.
///
/// Every decoder in `StrataKafka` reports bad input with this type and never traps. The server
/// turns each code into a Kafka error code or a closed connection (`kafkaErrorCode`).
public struct KafkaDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Input ended before the structure did.
        case truncated
        /// A length or count is out of its allowed bounds (negative, or larger than the bytes left).
        case outOfBounds
        /// A field holds a value the protocol forbids (bad UTF-8, null where not nullable, …).
        case invalidValue
        /// Bytes were left over after the message ended.
        case trailingBytes
        /// The request's API key is not one this codec knows.
        case unsupportedApi
        /// The API is known but not at this version.
        case unsupportedVersion
        /// A record batch's CRC-32C does not match its bytes.
        case checksumMismatch
        /// A record batch's records are malformed or do not decompress, or (from `fromStrata`) a
        /// Strata batch fails its checks, with the `FormatError` as `cause`.
        case corruptRecords
        /// A record batch uses a feature not supported yet (transactions, control batches; a
        /// compressed batch given to `toStrata` before `decompressed`).
        case unsupportedFeature
        /// A record batch names a compression codec Kafka does not define (attributes bits 0–2 = 5–7).
        case unsupportedCompression
        /// A compressed batch's records, decompressed, would exceed the caller's bound (a
        /// compression bomb, or a batch larger than the server accepts): found while decompressing.
        case recordsTooLarge
        /// A schema accessor asked for a field the message does not have (a bug, not bad input).
        case missingField
    }

    public var code: Code
    /// The field that was wrong, as a path: `Produce.TopicData[0].PartitionData[1].Records`.
    public var field: String
    /// Byte position of that field in the input being decoded (the frame after its size prefix).
    public var position: Int
    public var message: String
    /// The format-layer error behind this one, when a Strata batch check failed.
    public var cause: FormatError?
    /// The request's header, when it was readable before the failure: the server answers with
    /// its correlation id (and, for an unsupported version, with ApiVersions' supported list).
    public var requestHeader: KafkaRequestHeader?

    public init(_ code: Code, field: String, position: Int, _ message: String, cause: FormatError? = nil) {
        self.code = code
        self.field = field
        self.position = position
        self.message = message
        self.cause = cause
    }

    public var description: String { "\(code.rawValue) in \(field) at byte \(position): \(message)" }

    /// The Kafka error code a server answers with for this failure.
    public var kafkaErrorCode: KafkaErrorCode {
        switch code {
        case .unsupportedApi, .unsupportedVersion: return .unsupportedVersion
        case .checksumMismatch, .corruptRecords: return .corruptMessage
        case .unsupportedFeature: return .unsupportedForMessageFormat
        case .unsupportedCompression: return .unsupportedCompressionType
        case .recordsTooLarge: return .recordListTooLarge
        case .truncated, .outOfBounds, .invalidValue, .trailingBytes, .missingField: return .invalidRequest
        }
    }
}
