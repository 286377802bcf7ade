/// A record batch read in place: its records are decoded lazily from the batch's bytes, with no
/// allocation per record (no `Record`, no array per key or value). Readers that only look at
/// the bytes (replay, export, counting) use it instead of `RecordBatch`.
///
/// A view is made only over a batch whose CRC was checked and whose records passed every rule
/// `BatchCodec.decode` enforces (`init(bytes:header:offsets:basePosition:)` checks them; the cold
/// tier checks them once when a frame is decoded), so iterating cannot fail.
public struct RecordBatchView: Sendable {
    public let header: BatchHeader
    /// The offsets of the records this view yields: the batch's, or the part a read asked for.
    public let offsets: Range<Int64>
    private let storage: Storage
    /// Where the batch starts in `storage`.
    private let position: Int

    private enum Storage: Sendable {
        case array([UInt8])
        case pooled(PooledBytes)
    }

    /// A view of the CRC-checked batch `bytes` (exactly `header.batchLength` bytes), after
    /// checking its records.
    /// - Parameters:
    ///   - offsets: the records to yield (clamped to the batch's); nil for all.
    ///   - basePosition: position of `bytes[0]` in its file, for errors.
    /// - Throws: `FormatError` naming the record field, as `BatchCodec.decode` does.
    public init(
        bytes: [UInt8], header: BatchHeader, offsets: Range<Int64>? = nil, basePosition: Int = 0
    ) throws(FormatError) {
        try withBytes(bytes) { (raw) throws(FormatError) in
            try BatchCodec.checkRecords(raw, at: 0, header: header, basePosition: basePosition)
        }
        self.init(storage: .array(bytes), position: 0, header: header, offsets: offsets)
    }

    /// A view of the batch at `position` of `bytes`, whose CRC and records the caller has
    /// already checked (`BatchCodec.checkRecords`): the cold tier's frames.
    package init(checkedIn bytes: PooledBytes, at position: Int, header: BatchHeader, offsets: Range<Int64>? = nil) {
        self.init(storage: .pooled(bytes), position: position, header: header, offsets: offsets)
    }

    private init(storage: Storage, position: Int, header: BatchHeader, offsets: Range<Int64>?) {
        self.storage = storage
        self.position = position
        self.header = header
        let all = header.baseOffset ..< header.nextOffset
        self.offsets = offsets.map { $0.clamped(to: all) } ?? all
    }

    /// Records this view yields.
    public var count: Int { offsets.count }

    /// The same batch, yielding only `offsets` (clamped to what this view yields).
    public func restricted(to offsets: Range<Int64>) -> RecordBatchView {
        RecordBatchView(
            storage: storage, position: position, header: header, offsets: offsets.clamped(to: self.offsets))
    }

    /// The whole batch's bytes (header included), valid inside `body` only.
    public func withBatchBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let range = position ..< (position + header.batchLength)
        switch storage {
        case .pooled(let bytes):
            return try bytes.withUnsafeBytes { (raw) throws(E) in try body(UnsafeRawBufferPointer(rebasing: raw[range]))
            }
        case .array(let array):
            let result: Result<R, E> = array.withUnsafeBytes { raw in
                Result { () throws(E) in try body(UnsafeRawBufferPointer(rebasing: raw[range])) }
            }
            return try result.get()
        }
    }

    /// The records, valid inside `body` only (their keys and values point into the batch).
    public func withRecords<R, E: Error>(_ body: (RecordViews) throws(E) -> R) throws(E) -> R {
        let (header, offsets) = (self.header, self.offsets)
        return try withBatchBytes { (raw) throws(E) in
            try body(RecordViews(batch: raw, header: header, offsets: offsets))
        }
    }

    /// The records as values (one allocation per key, value and header, as `RecordBatch` holds).
    public var records: [Record] {
        withRecords { views in
            var out: [Record] = []
            out.reserveCapacity(views.count)
            for view in views { out.append(view.record) }
            return out
        }
    }
}

/// The records of one batch view, in offset order (`RecordBatchView.withRecords`). Inlinable:
/// a reader's loop over them compiles to the varint reads themselves, in the reader's module.
public struct RecordViews: Sequence {
    @usableFromInline let batch: UnsafeRawBufferPointer
    @usableFromInline let header: BatchHeader
    @usableFromInline let offsets: Range<Int64>

    init(batch: UnsafeRawBufferPointer, header: BatchHeader, offsets: Range<Int64>) {
        self.batch = batch
        self.header = header
        self.offsets = offsets
    }

    public var count: Int { offsets.count }

    @inlinable public func makeIterator() -> Iterator { Iterator(self) }

    public struct Iterator: IteratorProtocol {
        @usableFromInline var reader: TrustedReader
        /// Offset of the next record in the batch, then the end of the batch and of the range.
        @usableFromInline var offset: Int64
        @usableFromInline let batchEnd: Int64
        @usableFromInline let lower: Int64
        @usableFromInline let upper: Int64
        @usableFromInline let firstTimestamp: Int64

        @inlinable init(_ views: RecordViews) {
            reader = TrustedReader(views.batch, position: BatchHeader.size)
            offset = views.header.baseOffset
            batchEnd = views.header.nextOffset
            lower = views.offsets.lowerBound
            upper = views.offsets.upperBound
            firstTimestamp = views.header.firstTimestamp
        }

        @inlinable public mutating func next() -> RecordView? {
            while offset < batchEnd && offset < upper {
                let current = offset
                offset += 1
                let length = reader.varint()
                let end = reader.end(afterLength: length)
                guard current >= lower else {
                    reader.position = end  // below the range asked for: skipped by its length
                    continue
                }
                reader.position += 1  // attributes
                let timestamp = firstTimestamp &+ reader.varint()
                _ = reader.varint()  // offset delta: checked to equal the index
                let key = reader.nullable()
                let value = reader.nullable()
                let headerCount = Int32(truncatingIfNeeded: reader.varint())
                let headers = reader.bytes(upTo: end)
                return RecordView(
                    offset: current, timestamp: timestamp, key: key, value: value,
                    headers: RecordHeaderViews(headers, count: headerCount))
            }
            return nil
        }
    }
}

/// One record read in place: its key, value and headers point into the batch's bytes and are
/// valid only inside the `withRecords` call that yielded it.
public struct RecordView {
    public let offset: Int64
    /// Milliseconds since the Unix epoch.
    public let timestamp: Int64
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer?
    public let headers: RecordHeaderViews

    @usableFromInline
    init(
        offset: Int64, timestamp: Int64, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: RecordHeaderViews
    ) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The record as a value (copies key, value and headers).
    public var record: Record {
        Record(
            offset: offset, timestamp: timestamp, key: key.map { [UInt8]($0) }, value: value.map { [UInt8]($0) },
            headers: headers.map(\.header))
    }
}

/// The headers of one record read in place.
public struct RecordHeaderViews: Sequence {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    public let count: Int

    /// `bytes`: exactly the `count` checked (key, value) pairs.
    @usableFromInline init(_ bytes: UnsafeRawBufferPointer, count: Int32) {
        self.bytes = bytes
        self.count = Int(count)
    }

    @inlinable public func makeIterator() -> Iterator {
        Iterator(reader: TrustedReader(bytes, position: 0), remaining: count)
    }

    public struct Iterator: IteratorProtocol {
        @usableFromInline var reader: TrustedReader
        @usableFromInline var remaining: Int

        @inlinable init(reader: TrustedReader, remaining: Int) {
            self.reader = reader
            self.remaining = remaining
        }

        @inlinable public mutating func next() -> RecordHeaderView? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            let key = reader.nullable() ?? UnsafeRawBufferPointer(start: nil, count: 0)
            return RecordHeaderView(key: key, value: reader.nullable())
        }
    }
}

/// One header read in place: a UTF-8 key (checked) and a nullable value.
public struct RecordHeaderView {
    public let key: UnsafeRawBufferPointer
    public let value: UnsafeRawBufferPointer?

    @usableFromInline init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) {
        self.key = key
        self.value = value
    }

    public var keyString: String { String(decoding: key, as: UTF8.self) }
    public var header: RecordHeader { RecordHeader(key: keyString, value: value.map { [UInt8]($0) }) }
}

/// Reads varints from bytes already checked by `RecordCodec.parse`: no error paths, and it
/// never reads outside its buffer whatever the bytes say.
@usableFromInline
struct TrustedReader {
    @usableFromInline let buffer: UnsafeRawBufferPointer
    @usableFromInline var position: Int

    @inlinable init(_ buffer: UnsafeRawBufferPointer, position: Int) {
        self.buffer = buffer
        self.position = position
    }

    /// A zigzag varint.
    @inlinable
    mutating func varint() -> Int64 {
        if position < buffer.count, case let byte = buffer[position], byte < 0x80 {
            position += 1
            return Int64(byte >> 1) ^ -Int64(byte & 1)
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < buffer.count {
            let byte = buffer[position]
            position += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
    }

    /// Length-prefixed bytes; nil for length -1.
    @inlinable
    mutating func nullable() -> UnsafeRawBufferPointer? {
        let length = varint()
        guard length >= 0 else { return nil }
        let start = min(position, buffer.count)
        position = end(afterLength: length)
        return UnsafeRawBufferPointer(rebasing: buffer[start ..< position])
    }

    /// The bytes from here to `end` (kept inside the buffer); moves to `end`.
    @inlinable
    mutating func bytes(upTo end: Int) -> UnsafeRawBufferPointer {
        let start = min(position, buffer.count)
        position = max(start, min(end, buffer.count))
        return UnsafeRawBufferPointer(rebasing: buffer[start ..< position])
    }

    /// The position `length` bytes on, kept inside the buffer.
    @inlinable
    func end(afterLength length: Int64) -> Int {
        let start = min(position, buffer.count)
        return start + Int(min(max(0, length), Int64(buffer.count - start)))
    }
}
