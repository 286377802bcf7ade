import StrataFormat
import StrataKafka

/// Header fields of produced batches that clients write differently from what Strata stores,
/// made what Kafka's brokers take them to mean.
///
/// librdkafka writes a batch's `maxTimestamp` as 0 when every record is from before 1970 (it
/// starts its maximum at 0). Kafka's brokers take the records' own maximum for CreateTime
/// batches, so clients never notice; Strata's batch must hold the true maximum (formats/batch.md).
/// This proposes that maximum for a batch whose CRC already checked; `KafkaBatch.toStrata`
/// then checks the patched batch in full, so nothing unchecked is stored.
enum ProducedBatchRepair {
    static let maxTimestampPosition = 35
    static let baseTimestampPosition = 27
    static let recordCountPosition = 57

    /// `batch` with its header's `maxTimestamp` set to its records' maximum and the CRC resealed,
    /// or nil when the records cannot be walked (the caller reports its original error).
    static func patched(_ batch: [UInt8]) -> [UInt8]? {
        guard batch.count > KafkaBatchHeader.size else { return nil }
        guard let base = bigEndian(batch, at: baseTimestampPosition, Int64.self),
            let count = bigEndian(batch, at: recordCountPosition, Int32.self), count >= 1
        else { return nil }
        var position = KafkaBatchHeader.size
        var maxSeen = Int64.min
        for _ in 0 ..< count {
            guard let (length, bodyStart) = varlong(batch, at: position), length >= 2,
                bodyStart + Int(length) <= batch.count,
                let (delta, _) = varlong(batch, at: bodyStart + 1)  // after the attributes byte
            else { return nil }
            maxSeen = max(maxSeen, base &+ delta)
            position = bodyStart + Int(length)
        }
        var out = batch
        for i in 0 ..< 8 { out[maxTimestampPosition + i] = UInt8(truncatingIfNeeded: maxSeen >> (56 - 8 * i)) }
        let crc = CRC32C.checksum(out[KafkaBatchHeader.crcCoverageStart...])
        for i in 0 ..< 4 { out[KafkaBatchHeader.crcPosition + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
        return out
    }

    /// `batch` with the producer epoch and base sequence set to -1 when it has no producer id
    /// (-1), the CRC resealed; nil when they already are -1. aiokafka and others write
    /// sequence 0 without a producer; Kafka ignores both fields then, and Strata's engine keeps
    /// them consistent (all -1). Only a batch whose CRC checks is resealed: checked here unless
    /// `crcChecked` says the caller did; the new CRC is the new header's combined with the
    /// records' share of the old one (`KafkaBatch.crc(headerCRC:recordsOf:header:)`), not a pass
    /// over the records.
    static func withoutProducerFields(_ batch: [UInt8], crcChecked: Bool = false) throws(KafkaDecodeError) -> [UInt8]? {
        let header = try KafkaBatch.parseHeader(batch, checksCRC: !crcChecked)
        guard header.producerId == -1, header.producerEpoch != -1 || header.baseSequence != -1 else { return nil }
        var out = batch
        for i in producerEpochPosition ..< recordCountPosition { out[i] = 0xff }
        let crc = KafkaBatch.crc(
            headerCRC: CRC32C.checksum(out[KafkaBatchHeader.crcCoverageStart ..< KafkaBatchHeader.size]),
            recordsOf: batch, header: header)
        for i in 0 ..< 4 { out[KafkaBatchHeader.crcPosition + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
        return out
    }

    static let producerEpochPosition = 51

    private static func bigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at position: Int, _: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard position >= 0, position + size <= bytes.count else { return nil }
        var value: T = 0
        for i in 0 ..< size { value = value << 8 | T(truncatingIfNeeded: bytes[position + i]) }
        return value
    }

    /// A zigzag varint of at most 10 bytes at `position`: its value and the position after it.
    private static func varlong(_ bytes: [UInt8], at position: Int) -> (Int64, Int)? {
        var raw: UInt64 = 0
        var at = position
        for shift in stride(from: 0, to: 70, by: 7) {
            guard at < bytes.count else { return nil }
            let byte = bytes[at]
            at += 1
            raw |= UInt64(byte & 0x7f) << UInt64(shift)
            if byte & 0x80 == 0 { return (Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))), at) }
        }
        return nil
    }
}
