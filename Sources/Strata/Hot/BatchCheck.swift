/// Checking an incoming batch as a reader will check it, without decoding it: `BatchCodec.verify`
/// for the header and CRC, then a walk over the records that applies `BatchCodec.decode`'s
/// record rules (formats/batch.md "What a reader must reject") but copies no key, value or
/// header. Decoding allocated every key and value and made `appendBatch` slower than `append`
/// of the same records; `BatchCheckTests` pins that this walk accepts exactly what `decode`
/// accepts.
enum BatchCheck {
    /// The checked header and the largest record's encoded size (length prefix included).
    /// - Throws: the `FormatError` `BatchCodec.decode` would throw (same field, same position).
    static func check(_ buffer: UnsafeRawBufferPointer) throws(FormatError) -> (BatchHeader, recordBytesMax: Int) {
        let header = try BatchCodec.verify(buffer)
        let end = header.batchLength
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[..<end]), position: BatchHeader.size)
        var maxSeen = Int64.min
        var firstSeen = Int64.min
        var largest = 0
        for index in 0 ..< header.recordCount {
            let start = r.position
            let timestamp = try walkRecord(&r, index: index, firstTimestamp: header.firstTimestamp)
            if index == 0 { firstSeen = timestamp }
            maxSeen = max(maxSeen, timestamp)
            largest = max(largest, r.position - start)
        }
        guard r.position == end else {
            throw r.error(.invalidValue, "batch.batchLength", at: 4, "\(end - r.position) bytes follow the last record")
        }
        guard maxSeen == header.maxTimestamp, firstSeen == header.firstTimestamp else {
            throw r.error(.invalidValue, "batch.maxTimestamp", at: 40, "header timestamps disagree with the records")
        }
        return (header, largest)
    }

    /// Walks one record (`RecordCodec.decode`'s checks); returns its timestamp.
    private static func walkRecord(
        _ r: inout ByteReader, index: Int32, firstTimestamp: Int64
    ) throws(FormatError) -> Int64 {
        let lengthAt = r.absolutePosition
        let length = try r.varint32("record.length")
        guard length >= Int32(FormatLimits.recordBytesMin - 1), Int(length) <= r.remaining else {
            throw FormatError(
                .outOfBounds, field: "record.length", position: lengthAt,
                "record \(index) length \(length) outside [6, \(r.remaining)]")
        }
        let end = r.position + Int(length)
        let attributes = try r.u8("record.attributes")
        guard attributes == 0 else {
            throw r.error(.invalidValue, "record.attributes", at: r.position - 1, "must be 0, is \(attributes)")
        }
        let timestamp = firstTimestamp &+ (try r.varint("record.timestampDelta"))
        let deltaAt = r.absolutePosition
        let offsetDelta = try r.varint32("record.offsetDelta")
        guard offsetDelta == index else {
            throw FormatError(
                .invalidValue, field: "record.offsetDelta", position: deltaAt,
                "record \(index) has offset delta \(offsetDelta); offsets must be dense")
        }
        _ = try skipNullable(&r, "record.key", lengthField: "record.keyLength", limit: end)
        _ = try skipNullable(&r, "record.value", lengthField: "record.valueLength", limit: end)
        try walkHeaders(&r, limit: end)
        guard r.position == end else {
            throw FormatError(
                .invalidValue, field: "record.length", position: lengthAt,
                "record \(index) declares \(length) bytes but its fields use \(length - Int32(end - r.position))")
        }
        return timestamp
    }

    /// Skips a nullable byte field; returns its position and length (nil for null).
    private static func skipNullable(
        _ r: inout ByteReader, _ field: String, lengthField: String, limit: Int
    ) throws(FormatError) -> (position: Int, count: Int)? {
        let at = r.absolutePosition
        let length = try r.varint32(lengthField)
        if length == -1 { return nil }
        guard length >= 0, Int(length) <= limit - r.position else {
            throw FormatError(
                .outOfBounds, field: lengthField, position: at, "length \(length) outside [-1, \(limit - r.position)]")
        }
        let position = r.position
        try r.skip(Int(length), field)
        return (position, Int(length))
    }

    private static func walkHeaders(_ r: inout ByteReader, limit: Int) throws(FormatError) {
        let at = r.absolutePosition
        let count = try r.varint32("record.headerCount")
        guard count >= 0, Int(count) * 2 <= limit - r.position else {
            throw FormatError(
                .outOfBounds, field: "record.headerCount", position: at,
                "header count \(count) cannot fit in \(limit - r.position) bytes")
        }
        for _ in 0 ..< count {
            let keyAt = r.absolutePosition
            guard let key = try skipNullable(&r, "header.key", lengthField: "header.keyLength", limit: limit) else {
                throw FormatError(
                    .invalidValue, field: "header.keyLength", position: keyAt, "header key may not be null")
            }
            let keyBytes = UnsafeRawBufferPointer(rebasing: r.buffer[key.position ..< (key.position + key.count)])
            guard validUTF8(keyBytes) else {
                throw FormatError(.invalidValue, field: "header.key", position: keyAt, "header key is not UTF-8")
            }
            _ = try skipNullable(&r, "header.value", lengthField: "header.valueLength", limit: limit)
        }
    }

    private static func validUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
