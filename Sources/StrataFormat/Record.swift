/// One record header: a UTF-8 key and a nullable value, as in Kafka.
public struct RecordHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// One record of a topic. `offset` is assigned by the engine on append.
public struct Record: Sendable, Hashable {
    public var offset: Int64
    /// Milliseconds since the Unix epoch; may be negative (before 1970).
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(offset: Int64 = 0, timestamp: Int64, key: [UInt8]? = nil, value: [UInt8]?, headers: [RecordHeader] = [])
    {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// Upper bound of the bytes this record adds to a batch once encoded. The body is measured
    /// with one-byte deltas, so add what the real deltas and the length prefix can take at most:
    /// 5 bytes of length varint, 9 more for the timestamp delta, 4 more for the offset delta.
    public var encodedSize: Int {
        RecordCodec.bodyBytes(self, timestampDelta: 0, offsetDelta: 0) + 18
    }
}

/// Kafka record v2 layout of one record (see formats/batch.md).
enum RecordCodec {
    static func encode(_ record: Record, timestampDelta: Int64, offsetDelta: Int32, into writer: inout ByteWriter) {
        // The length prefix is computed, not measured: encoding the body into a scratch writer
        // first cost an allocation and a copy of every value (a quarter of append's CPU).
        writer.varint(Int64(bodyBytes(record, timestampDelta: timestampDelta, offsetDelta: offsetDelta)))
        encodeBody(record, timestampDelta: timestampDelta, offsetDelta: offsetDelta, into: &writer)
    }

    /// The size `encodeBody` writes, without writing it.
    static func bodyBytes(_ record: Record, timestampDelta: Int64, offsetDelta: Int32) -> Int {
        var total = 1 + varintBytes(timestampDelta) + varintBytes(Int64(offsetDelta))
        total += nullableBytes(record.key) + nullableBytes(record.value) + varintBytes(Int64(record.headers.count))
        for header in record.headers {
            let keyCount = header.key.utf8.count
            total += varintBytes(Int64(keyCount)) + keyCount + nullableBytes(header.value)
        }
        return total
    }

    /// Bytes of `ByteWriter.varint(v)`: zigzag, then 7 bits per byte.
    static func varintBytes(_ v: Int64) -> Int {
        let zigzag = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        return max(1, (64 - zigzag.leadingZeroBitCount + 6) / 7)
    }

    private static func nullableBytes(_ bytes: [UInt8]?) -> Int {
        guard let bytes else { return varintBytes(-1) }
        return varintBytes(Int64(bytes.count)) + bytes.count
    }

    static func encodeBody(_ record: Record, timestampDelta: Int64, offsetDelta: Int32, into w: inout ByteWriter) {
        w.u8(0)  // record attributes, unused
        w.varint(timestampDelta)
        w.varint(Int64(offsetDelta))
        writeNullable(record.key, into: &w)
        writeNullable(record.value, into: &w)
        w.varint(Int64(record.headers.count))
        for header in record.headers {
            let keyBytes = Array(header.key.utf8)
            w.varint(Int64(keyBytes.count))
            w.raw(keyBytes)
            writeNullable(header.value, into: &w)
        }
    }

    private static func writeNullable(_ bytes: [UInt8]?, into w: inout ByteWriter) {
        guard let bytes else {
            w.varint(-1)
            return
        }
        w.varint(Int64(bytes.count))
        w.raw(bytes)
    }

    /// Where the fields of one record lie in the buffer a `ByteReader` reads (positions relative
    /// to that buffer): what `parse` finds, checked, before anything is copied.
    struct Fields {
        var timestamp: Int64
        var key: Range<Int>?
        var value: Range<Int>?
        var headerCount: Int32
        /// The header bytes: `headerCount` (key, value) pairs, checked.
        var headers: Range<Int>
    }

    /// Checks the record at the reader's position against every rule of formats/batch.md and
    /// moves past it, copying nothing: `decode` and `RecordBatchView` share these checks.
    static func parse(
        _ reader: inout ByteReader, index: Int32, firstTimestamp: Int64
    ) throws(FormatError) -> Fields {
        let lengthAt = reader.absolutePosition
        let length = try reader.varint32("record.length")
        guard length >= Int32(FormatLimits.recordBytesMin - 1), Int(length) <= reader.remaining else {
            throw FormatError(
                .outOfBounds, field: "record.length", position: lengthAt,
                "record \(index) length \(length) outside [6, \(reader.remaining)]")
        }
        let end = reader.position + Int(length)
        let attributes = try reader.u8("record.attributes")
        guard attributes == 0 else {
            throw reader.error(
                .invalidValue, "record.attributes", at: reader.position - 1, "must be 0, is \(attributes)")
        }
        // The writer computes the delta with wrapping subtraction, so wrapping addition restores
        // every Int64 timestamp exactly (formats/batch.md).
        let timestamp = firstTimestamp &+ (try reader.varint("record.timestampDelta"))
        let deltaAt = reader.absolutePosition
        let offsetDelta = try reader.varint32("record.offsetDelta")
        guard offsetDelta == index else {
            throw FormatError(
                .invalidValue, field: "record.offsetDelta", position: deltaAt,
                "record \(index) has offset delta \(offsetDelta); offsets must be dense")
        }
        let key = try readNullable(&reader, "record.key", lengthField: "record.keyLength", limit: end)
        let value = try readNullable(&reader, "record.value", lengthField: "record.valueLength", limit: end)
        let (headerCount, headers) = try checkHeaders(&reader, limit: end)
        guard reader.position == end else {
            throw FormatError(
                .invalidValue, field: "record.length", position: lengthAt,
                "record \(index) declares \(length) bytes but its fields use \(length - Int32(end - reader.position))")
        }
        return Fields(timestamp: timestamp, key: key, value: value, headerCount: headerCount, headers: headers)
    }

    /// `lengthField` is passed in, not built from `field`: concatenating it for every record
    /// was 9% of a cold replay. Returns where the bytes are (nil for null).
    private static func readNullable(
        _ reader: inout ByteReader, _ field: String, lengthField: String, limit: Int
    ) throws(FormatError) -> Range<Int>? {
        let at = reader.absolutePosition
        let length = try reader.varint32(lengthField)
        if length == -1 { return nil }
        guard length >= 0, Int(length) <= limit - reader.position else {
            throw FormatError(
                .outOfBounds, field: lengthField, position: at,
                "length \(length) outside [-1, \(limit - reader.position)]")
        }
        let start = reader.position
        try reader.skip(Int(length), field)
        return start ..< reader.position
    }

    /// Checks the headers (keys present and UTF-8); returns their count and bytes.
    private static func checkHeaders(
        _ reader: inout ByteReader, limit: Int
    ) throws(FormatError) -> (Int32, Range<Int>) {
        let at = reader.absolutePosition
        let count = try reader.varint32("record.headerCount")
        // Each header takes at least 2 bytes: bound the count before walking.
        guard count >= 0, Int(count) * 2 <= limit - reader.position else {
            throw FormatError(
                .outOfBounds, field: "record.headerCount", position: at,
                "header count \(count) cannot fit in \(limit - reader.position) bytes")
        }
        let start = reader.position
        for _ in 0 ..< count {
            let keyAt = reader.absolutePosition
            guard let key = try readNullable(&reader, "header.key", lengthField: "header.keyLength", limit: limit)
            else {
                throw FormatError(
                    .invalidValue, field: "header.keyLength", position: keyAt, "header key may not be null")
            }
            guard isUTF8(UnsafeRawBufferPointer(rebasing: reader.buffer[key])) else {
                throw FormatError(.invalidValue, field: "header.key", position: keyAt, "header key is not UTF-8")
            }
            _ = try readNullable(&reader, "header.value", lengthField: "header.valueLength", limit: limit)
        }
        return (count, start ..< reader.position)
    }

    /// Whether `bytes` are valid UTF-8 (what `String(validating:)` accepts), allocating nothing.
    static func isUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if !bytes.contains(where: { $0 >= 0x80 }) { return true }
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
