import Glibc
import Strata
import StrataKafka
import Synchronization

// Every engine call the server makes goes through this file, so the APIs other branches are
// still delivering (partitions, whole-batch append and read, producer ids, decompression) change
// in one place when they land. Until then each has a stand-in built on today's engine, named
// as such below.

/// What a whole-batch read of one partition returns.
struct PartitionRead: Sendable {
    /// Strata batches, oldest first; the first contains the requested offset.
    var batches: [[UInt8]]
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

    /// Appends one Strata batch (from `KafkaBatch.toStrata`); returns the offset of its first record.
    /// - Throws: the engine's errors (`tooLarge`, `busy`, `io`, `closed`, sequence errors).
    static func appendBatch(_ topic: Topic, _ strataBatch: [UInt8]) async throws(StrataError) -> Int64 {
        // Stand-in until `Topic.appendBatch` lands: decode and append the records (producer id
        // and sequence are not kept, so idempotent retries are not detected yet).
        let batch: RecordBatch
        do throws(FormatError) { batch = try BatchCodec.decode(strataBatch) } catch {
            throw StrataError(.invalidArgument, "\(error)", topic: topic.name)
        }
        let records = batch.records.map {
            ProducerRecord(key: $0.key, value: $0.value, headers: $0.headers, timestamp: $0.timestamp)
        }
        do {
            return try await topic.append(records).firstOffset
        } catch let error as StrataError {
            throw error
        } catch {
            throw StrataError(.io, "\(error)", topic: topic.name)
        }
    }

    /// Whole batches from `offset` on, at least one when `offset` is below the high watermark.
    /// - Throws: `offsetOutOfRange` with the valid range; `corrupt`; `io`.
    static func readBatches(
        _ topic: Topic, from offset: Int64, maxBytes: Int
    ) async throws(StrataError) -> PartitionRead {
        // Stand-in until `Topic.readBatches` lands: records re-encoded as one batch.
        let result = try await topic.read(from: offset, maxBytes: max(maxBytes, 1))
        var batches: [[UInt8]] = []
        if let first = result.records.first {
            batches.append(BatchCodec.encode(baseOffset: first.offset, records: result.records))
        }
        return PartitionRead(
            batches: batches, highWatermark: result.highWatermark, logStartOffset: try await topic.logStartOffset())
    }

    /// A new idempotent producer id and its epoch.
    static func allocateProducerId(_ lake: Lake) async throws(StrataError) -> (producerId: Int64, epoch: Int16) {
        // Stand-in until `Lake.allocateProducerId` lands: ids from the clock, not persisted.
        let id = producerIds.next()
        return (id, 0)
    }

    private static let producerIds = ProducerIdStandIn()

    /// A Kafka batch as the engine stores it: uncompressed (formats/kafka.md "Compression"),
    /// at most `maxBytes` once decompressed.
    /// - Throws: `unsupportedCompression`, `recordsTooLarge`, `corruptRecords` naming the codec.
    static func decompressed(_ kafkaBatch: [UInt8], maxBytes: Int) throws(KafkaDecodeError) -> [UInt8] {
        try KafkaBatch.decompressed(kafkaBatch, maxBytes: maxBytes)
    }
}

/// Producer ids for the stand-in `allocateProducerId`: unique within this process.
private final class ProducerIdStandIn: Sendable {
    private let last: Mutex<Int64>

    init() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        last = Mutex(Int64(now.tv_sec) * 1000)
    }

    func next() -> Int64 {
        last.withLock {
            $0 += 1; return $0
        }
    }
}
