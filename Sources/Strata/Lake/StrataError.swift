@_exported import StrataFormat

/// The one error type of the engine. `code` tells the caller what to do; the other fields say
/// where it happened so an operator can find the bytes.
public struct StrataError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The caller passed something wrong (name, size, range). Nothing was changed.
        case invalidArgument
        /// The topic (or file, or object) does not exist.
        case notFound
        /// The offset is outside [logStartOffset, highWatermark]; see `validRange`.
        case offsetOutOfRange
        /// A record or batch exceeds its configured limit.
        case tooLarge
        /// Stored bytes failed a check (CRC, magic, continuity).
        case corrupt
        /// The operating system or the blob store failed.
        case io
        /// Another process holds the lake.
        case locked
        /// The lake or topic is closed (or failed and must be reopened).
        case closed
        /// Another writer committed a newer manifest: this one must stop writing the topic.
        case fenced
        /// The lake was opened with `Lake.openReadOnly`: it refuses every write (append, topic
        /// creation, offload, retention, repair). Open it with `Lake.open` to write.
        case readOnly
        /// A bounded queue (appends waiting for fsync, long-polling readers) is full. Nothing was
        /// changed: retry later.
        case busy
        /// An idempotent producer's batch does not continue its sequence (a gap, or a new epoch
        /// not starting at 0). Nothing was stored. Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER.
        case outOfOrderSequence
        /// An idempotent producer's batch carries an epoch older than the one the log knows (a
        /// zombie producer). Nothing was stored. Kafka: INVALID_PRODUCER_EPOCH.
        case invalidProducerEpoch
        /// An idempotent producer the log does not know sent a batch not starting at sequence 0
        /// (its state was dropped, or the lake was recovered). Nothing was stored. Kafka:
        /// UNKNOWN_PRODUCER_ID.
        case unknownProducerId
    }

    public var code: Code
    public var message: String
    public var topic: String?
    /// File path or object key concerned.
    public var file: String?
    /// Byte position in `file`.
    public var position: Int?
    /// For `offsetOutOfRange`: the readable range `[logStartOffset, highWatermark]`.
    public var validRange: ClosedRange<Int64>?
    public var cause: String?

    public init(
        _ code: Code, _ message: String, topic: String? = nil, file: String? = nil, position: Int? = nil,
        validRange: ClosedRange<Int64>? = nil, cause: String? = nil
    ) {
        self.code = code
        self.message = message
        self.topic = topic
        self.file = file
        self.position = position
        self.validRange = validRange
        self.cause = cause
    }

    /// Wraps a format error found in `file` (positions are already absolute in the file).
    /// A missing key (an encrypted object's key id not in the key ring) is the caller's to fix:
    /// `invalidArgument`, not `corrupt`.
    public init(_ error: FormatError, topic: String?, file: String) {
        self.init(
            error.code == .missingKey ? .invalidArgument : .corrupt, "\(error.field): \(error.message)", topic: topic, file: file, position: error.position,
            cause: error.code.rawValue)
    }

    public var description: String {
        var parts = ["\(code.rawValue): \(message)"]
        if let topic { parts.append("topic=\(topic)") }
        if let file { parts.append("file=\(file)") }
        if let position { parts.append("position=\(position)") }
        if let validRange { parts.append("valid=[\(validRange.lowerBound), \(validRange.upperBound)]") }
        if let cause { parts.append("cause=\(cause)") }
        return parts.joined(separator: " ")
    }
}
