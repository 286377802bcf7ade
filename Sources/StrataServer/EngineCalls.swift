import Strata
import StrataKafka

// Every engine call the server makes goes through this file: the partitions, whole-batch
// append and read, producer ids and decompression the Kafka front door needs, in one place.

/// What a whole-batch read of one partition returns.
struct PartitionRead: Sendable {
    /// Strata batches, oldest first; the first contains the requested offset. Each one's header
    /// and CRC were checked by the read.
    var batches: [StoredBatch]
    var highWatermark: Int64
    var logStartOffset: Int64
}

enum EngineCalls {
    /// How many partitions topic `name` has.
    /// - Throws: `notFound` without the topic; `invalidArgument` for a bad name.
    static func partitionCount(_ lake: Lake, _ name: String) throws(StrataError) -> Int32 {
        try lake.partitionCount(name)
    }

    /// The log of partition `index` of topic `name`.
    /// - Throws: `notFound` for a missing topic or partition.
    static func partition(_ lake: Lake, _ name: String, _ index: Int32) throws(StrataError) -> Topic {
        try lake.partition(name, index)
    }

    /// Creates topic `name` with `partitions` partitions.
    /// - Throws: what `Lake.createTopic` throws (`invalidArgument` for a bad count, an existing topic).
    static func createTopic(
        _ lake: Lake, _ name: String, config: TopicConfig, partitions: Int32
    ) async throws(StrataError) {
        _ = try await lake.createTopic(name, config: config, partitions: partitions)
    }

    /// The config a topic gets when a request does not say (auto-created topics, CreateTopics).
    static func defaultTopicConfig(_ lake: Lake) -> TopicConfig { lake.defaultTopicConfig }

    /// Appends one Strata batch (from `KafkaBatch.toStrata`); returns the offset of its first
    /// record. An idempotent producer's retry of a stored batch returns the stored offset.
    /// - Throws: the engine's errors (`corrupt`, `tooLarge`, sequence and epoch errors, `busy`,
    ///   `io`, `closed`); nothing is stored then.
    static func appendBatch(_ topic: Topic, _ strataBatch: [UInt8]) async throws(StrataError) -> Int64 {
        try await topic.appendBatch(strataBatch).firstOffset
    }

    /// Whole batches from the one holding `offset` on, at least one when `offset` is below the
    /// high watermark (hot or cold).
    /// - Throws: `offsetOutOfRange` with the valid range; `corrupt`; `io`.
    static func readBatches(
        _ topic: Topic, from offset: Int64, maxBytes: Int
    ) async throws(StrataError) -> PartitionRead {
        let read = try await topic.readBatches(from: offset, maxBytes: max(maxBytes, 1))
        return PartitionRead(
            batches: read.batches, highWatermark: read.highWatermark, logStartOffset: read.logStartOffset)
    }

    /// A new idempotent producer id and its epoch (ids survive restarts: `<lake>/producer-ids`).
    static func allocateProducerId(_ lake: Lake) async throws(StrataError) -> (producerId: Int64, epoch: Int16) {
        try lake.allocateProducerId()
    }

    /// A Kafka batch as the engine stores it: uncompressed (formats/kafka.md "Compression"),
    /// at most `maxBytes` once decompressed.
    /// - Throws: `unsupportedCompression`, `recordsTooLarge`, `corruptRecords` naming the codec.
    static func decompressed(
        _ kafkaBatch: [UInt8], maxBytes: Int, crcChecked: Bool
    ) throws(KafkaDecodeError) -> [UInt8] {
        try KafkaBatch.decompressed(kafkaBatch, maxBytes: maxBytes, crcChecked: crcChecked)
    }
}
