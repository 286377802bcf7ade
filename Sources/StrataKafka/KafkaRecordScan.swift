/// Checks the records section of a batch against every rule Strata's record decoder enforces
/// (formats/batch.md, "What a reader must reject") without building `Record` values: decoding
/// them allocated each key and value and ran at a third of the engine's append speed.
///
/// `KafkaBatchTests` and the fuzz target check it accepts nothing `BatchCodec.decode` rejects.
struct KafkaRecordScan {
    private let buffer: UnsafeRawBufferPointer
    private var position: Int
    /// Added to positions in errors: where `buffer` starts in the Kafka batch.
    private let basePosition: Int

    /// Scans `count` records filling all of `buffer`; timestamps are `baseTimestamp &+ delta`.
    /// - Throws: `.corruptRecords` naming the record field (`record.offsetDelta`, …) and its
    ///   position in the batch (`basePosition` + position in `buffer`).
    static func check(
        _ buffer: UnsafeRawBufferPointer, basePosition: Int, count: Int32, baseTimestamp: Int64, maxTimestamp: Int64
    ) throws(KafkaDecodeError) {
        var scan = KafkaRecordScan(buffer: buffer, position: 0, basePosition: basePosition)
        var maxSeen = Int64.min
        for index in 0 ..< count {
            let timestamp = try scan.record(index: index, baseTimestamp: baseTimestamp)
            if index == 0, timestamp != baseTimestamp {
                throw scan.fail(
                    "record.timestampDelta", at: 0,
                    "the first record's timestamp is not the base timestamp")
            }
            maxSeen = max(maxSeen, timestamp)
        }
        guard scan.position == buffer.count else {
            throw scan.fail(
                "batch.batchLength", at: scan.position,
                "\(buffer.count - scan.position) bytes follow the last record")
        }
        guard maxSeen == maxTimestamp else {
            throw scan.fail("batch.maxTimestamp", at: 0, "max timestamp \(maxTimestamp), the records' is \(maxSeen)")
        }
    }

    private func fail(_ field: String, at position: Int, _ message: String) -> KafkaDecodeError {
        KafkaDecodeError(.corruptRecords, field: "RecordBatch." + field, position: basePosition + position, message)
    }

    /// One record; returns its timestamp.
    private mutating func record(index: Int32, baseTimestamp: Int64) throws(KafkaDecodeError) -> Int64 {
        let lengthAt = position
        let length = try varint32("record.length")
        // 6 bytes is the smallest body: attributes and five one-byte varints.
        guard length >= 6, Int(length) <= buffer.count - position else {
            throw fail(
                "record.length", at: lengthAt,
                "record \(index) length \(length) outside [6, \(buffer.count - position)]")
        }
        let end = position + Int(length)
        guard buffer[position] == 0 else { throw fail("record.attributes", at: position, "must be 0") }
        position += 1
        let timestamp = baseTimestamp &+ (try varint64("record.timestampDelta", end: end))
        let deltaAt = position
        guard try varint32("record.offsetDelta", end: end) == index else {
            throw fail("record.offsetDelta", at: deltaAt, "record \(index): offsets must be dense")
        }
        try skipNullable("record.keyLength", end: end)
        try skipNullable("record.valueLength", end: end)
        let countAt = position
        let headerCount = try varint32("record.headerCount", end: end)
        guard headerCount >= 0, Int(headerCount) * 2 <= end - position else {
            throw fail(
                "record.headerCount", at: countAt,
                "\(headerCount) headers cannot fit in \(end - position) bytes")
        }
        for _ in 0 ..< headerCount {
            let keyAt = position
            let keyLength = try varint32("header.keyLength", end: end)
            guard keyLength >= 0, Int(keyLength) <= end - position else {
                throw fail(
                    "header.keyLength", at: keyAt,
                    keyLength == -1
                        ? "header key may not be null"
                        : "length \(keyLength) past the record")
            }
            let key = UnsafeRawBufferPointer(rebasing: buffer[position ..< (position + Int(keyLength))])
            guard String(validating: key, as: UTF8.self) != nil else {
                throw fail("header.key", at: keyAt, "header key is not UTF-8")
            }
            position += Int(keyLength)
            try skipNullable("header.valueLength", end: end)
        }
        guard position == end else {
            throw fail(
                "record.length", at: lengthAt,
                "record \(index) declares \(length) bytes, its fields end elsewhere")
        }
        return timestamp
    }

    private mutating func skipNullable(_ field: String, end: Int) throws(KafkaDecodeError) {
        let at = position
        let length = try varint32(field, end: end)
        if length == -1 { return }
        guard length >= 0, Int(length) <= end - position else {
            throw fail(field, at: at, "length \(length) outside [-1, \(end - position)]")
        }
        position += Int(length)
    }

    private mutating func varint32(_ field: String, end: Int? = nil) throws(KafkaDecodeError) -> Int32 {
        let at = position
        let value = try varint64(field, end: end ?? buffer.count)
        guard let narrow = Int32(exactly: value) else { throw fail(field, at: at, "\(value) does not fit in 32 bits") }
        return narrow
    }

    /// Zigzag LEB128 of at most 10 bytes, as Strata's reader takes it.
    private mutating func varint64(_ field: String, end: Int) throws(KafkaDecodeError) -> Int64 {
        let at = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw fail(field, at: at, "varint runs past the record") }
            let byte = buffer[position]
            position += 1
            if shift == 63 && byte > 1 { throw fail(field, at: at, "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1))) }
            shift += 7
        }
    }
}
