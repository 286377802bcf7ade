/// The lake-level topic catalog's byte layout (formats/catalog.md): a 16-byte file header, then
/// CRC32C-framed records back to back. Pure: no I/O.
public enum CatalogFormat {
    /// `SCAT` in file order.
    public static let fileMagic: UInt32 = 0x5441_4353
    public static let fileVersion: UInt16 = 1
    public static let fileHeaderSize = SequencedFileHeader.size
    /// crc (u32), length (u32), kind (u8).
    public static let recordHeaderSize = 9
    /// The CRC covers the record from this byte on (its length, kind and payload).
    public static let recordCrcCoverageStart = 4
    /// Largest record (a config's JSON, with a value schema, is the only big one).
    public static let recordBytesMax = 4 * 1024 * 1024
    /// Longest topic name a record carries (TopicName allows far fewer).
    public static let nameBytesMax = 1024

    /// The 16-byte header every catalog file starts with.
    public static func encodeFileHeader(sequence: UInt64) -> [UInt8] {
        SequencedFileHeader.encode(magic: fileMagic, version: fileVersion, sequence: sequence)
    }

    /// The sequence number in a catalog file's header.
    /// - Throws: `truncated`, `badMagic`, `unsupportedVersion`, `invalidValue` (reserved bits set).
    public static func decodeFileHeader(_ buffer: UnsafeRawBufferPointer) throws(FormatError) -> UInt64 {
        try SequencedFileHeader.decode(buffer, magic: fileMagic, version: fileVersion, field: "catalog", what: "catalog")
    }

    /// One framed record.
    public static func encode(_ record: CatalogRecord) -> [UInt8] {
        var w = ByteWriter(capacity: 32)
        w.u32(0)
        w.u32(0)
        w.u8(record.kind.rawValue)
        switch record {
        case .config(let id, let json):
            w.u32(id)
            w.raw(json)
        case .topicCreated(let name, let configID, let partitions):
            name16(&w, name)
            w.u32(configID)
            w.i32(partitions)
        case .configChanged(let name, let configID):
            name16(&w, name)
            w.u32(configID)
        case .partitionsGrown(let name, let partitions):
            name16(&w, name)
            w.i32(partitions)
        case .logStartMoved(let name, let partition, let offset), .startOffsetSet(let name, let partition, let offset):
            name16(&w, name)
            w.i32(partition)
            w.i64(offset)
        case .deleteBegun(let name), .deleteFinished(let name):
            name16(&w, name)
        case .snapshotEnd(let topicCount):
            w.u64(topicCount)
        }
        w.patchU32(UInt32(w.count), at: 4)
        let crc = w.bytes.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[recordCrcCoverageStart...]))
        }
        w.patchU32(crc, at: 0)
        return w.bytes
    }

    private static func name16(_ w: inout ByteWriter, _ name: String) {
        let bytes = Array(name.utf8)
        precondition(!bytes.isEmpty && bytes.count <= nameBytesMax, "topic name out of bounds for a catalog record")
        w.u16(UInt16(bytes.count))
        w.raw(bytes)
    }

    /// Parses the record at `position` of `buffer`, checking its CRC and every field.
    /// - Returns: the record and its length in bytes.
    /// - Throws: `truncated` when the buffer ends inside the record; `checksumMismatch`,
    ///   `outOfBounds` or `invalidValue` otherwise, naming the field and its byte (positions are
    ///   shifted by `basePosition`).
    public static func parse(
        _ buffer: UnsafeRawBufferPointer, at position: Int, basePosition: Int = 0
    ) throws(FormatError) -> (record: CatalogRecord, length: Int) {
        let at = basePosition + position
        var r = ByteReader(buffer, position: position, basePosition: basePosition)
        let crc = try r.u32("catalogRecord.crc")
        let length = Int(try r.u32("catalogRecord.length"))
        guard length >= recordHeaderSize, length <= recordBytesMax else {
            throw FormatError(
                .outOfBounds, field: "catalogRecord.length", position: at + 4,
                "record of \(length) bytes (\(recordHeaderSize)...\(recordBytesMax))")
        }
        guard buffer.count - position >= length else {
            throw FormatError(
                .truncated, field: "catalogRecord", position: at,
                "record of \(length) bytes, \(buffer.count - position) left")
        }
        let covered = UnsafeRawBufferPointer(rebasing: buffer[(position + recordCrcCoverageStart) ..< (position + length)])
        let actual = CRC32C.checksum(covered)
        guard actual == crc else {
            throw FormatError(
                .checksumMismatch, field: "catalogRecord.crc", position: at, "stored \(crc), computed \(actual)")
        }
        let body = UnsafeRawBufferPointer(rebasing: buffer[position ..< (position + length)])
        var p = ByteReader(body, position: recordHeaderSize - 1, basePosition: at)
        let kindByte = try p.u8("catalogRecord.kind")
        guard let kind = CatalogRecord.Kind(rawValue: kindByte) else {
            throw FormatError(.invalidValue, field: "catalogRecord.kind", position: at + 8, "unknown kind \(kindByte)")
        }
        let record = try parseBody(kind, &p)
        guard p.remaining == 0 else {
            throw FormatError(
                .outOfBounds, field: "catalogRecord.length", position: at + 4,
                "\(p.remaining) bytes left after a \(kind) record")
        }
        return (record, length)
    }

    private static func parseBody(_ kind: CatalogRecord.Kind, _ p: inout ByteReader) throws(FormatError)
        -> CatalogRecord
    {
        switch kind {
        case .config:
            let id = try p.u32("catalogRecord.configID")
            return .config(id: id, json: try p.bytes(p.remaining, "catalogRecord.configJSON"))
        case .topicCreated:
            let name = try readName(&p)
            let configID = try p.u32("catalogRecord.configID")
            return .topicCreated(name: name, configID: configID, partitions: try partitions(&p))
        case .configChanged:
            let name = try readName(&p)
            return .configChanged(name: name, configID: try p.u32("catalogRecord.configID"))
        case .partitionsGrown:
            let name = try readName(&p)
            return .partitionsGrown(name: name, partitions: try partitions(&p))
        case .logStartMoved, .startOffsetSet:
            let name = try readName(&p)
            let partitionAt = p.absolutePosition
            let partition = try p.i32("catalogRecord.partition")
            guard partition >= 0, partition < FormatLimits.partitionsMax else {
                throw FormatError(
                    .outOfBounds, field: "catalogRecord.partition", position: partitionAt, "partition \(partition)")
            }
            let offsetAt = p.absolutePosition
            let offset = try p.i64("catalogRecord.offset")
            guard offset >= 0 else {
                throw FormatError(.invalidValue, field: "catalogRecord.offset", position: offsetAt, "offset \(offset)")
            }
            return kind == .logStartMoved
                ? .logStartMoved(name: name, partition: partition, offset: offset)
                : .startOffsetSet(name: name, partition: partition, offset: offset)
        case .deleteBegun: return .deleteBegun(name: try readName(&p))
        case .deleteFinished: return .deleteFinished(name: try readName(&p))
        case .snapshotEnd: return .snapshotEnd(topicCount: try p.u64("catalogRecord.topicCount"))
        }
    }

    private static func readName(_ p: inout ByteReader) throws(FormatError) -> String {
        let at = p.absolutePosition
        let count = Int(try p.u16("catalogRecord.nameLength"))
        guard count >= 1, count <= nameBytesMax else {
            throw FormatError(.outOfBounds, field: "catalogRecord.nameLength", position: at, "name of \(count) bytes")
        }
        let bytes = try p.bytes(count, "catalogRecord.name")
        guard let name = String(validating: bytes, as: UTF8.self) else {
            throw FormatError(.invalidValue, field: "catalogRecord.name", position: at + 2, "not UTF-8")
        }
        return name
    }

    private static func partitions(_ p: inout ByteReader) throws(FormatError) -> Int32 {
        let at = p.absolutePosition
        let count = try p.i32("catalogRecord.partitions")
        guard count >= 1, count <= FormatLimits.partitionsMax else {
            throw FormatError(
                .outOfBounds, field: "catalogRecord.partitions", position: at,
                "\(count) partitions (1...\(FormatLimits.partitionsMax))")
        }
        return count
    }

    /// Walks a whole catalog file image: its header, then every record until the first that
    /// does not parse. Never throws on damage: `CatalogScan` says where the valid records end
    /// and whether a valid record follows the damage (corruption) or not (a torn tail).
    /// - Parameter visit: called with each valid record and its position, in file order.
    public static func scan(
        _ buffer: UnsafeRawBufferPointer, from start: Int = fileHeaderSize,
        _ visit: (CatalogRecord, Int) -> Void
    ) -> CatalogScan {
        var result = CatalogScan()
        if start == fileHeaderSize || start == 0 {
            do throws(FormatError) { result.sequence = try decodeFileHeader(buffer) } catch {
                result.stopError = error
                return result
            }
        }
        var position = max(start, fileHeaderSize)
        while position < buffer.count {
            do throws(FormatError) {
                let (record, length) = try parse(buffer, at: position)
                visit(record, position)
                if case .snapshotEnd = record { result.snapshotEnd = position + length }
                position += length
            } catch {
                result.stopError = error
                break
            }
        }
        result.validEnd = position
        if result.stopError != nil { result.resumePosition = findRecord(buffer, after: position) }
        return result
    }

    /// The first position after `position` where a whole valid record starts, if any: a torn
    /// write leaves none behind it, so one found means the damage is corruption.
    public static func findRecord(_ buffer: UnsafeRawBufferPointer, after position: Int) -> Int? {
        var q = position + 1
        while q + recordHeaderSize <= buffer.count {
            if (try? parse(buffer, at: q)) != nil { return q }
            q += 1
        }
        return nil
    }
}

/// One record of the topic catalog (formats/catalog.md, "Records").
public enum CatalogRecord: Sendable, Equatable {
    /// A topic config's JSON, named by `id` for the records that use it (stored once however
    /// many topics share it).
    case config(id: UInt32, json: [UInt8])
    /// Topic `name` exists with config `configID` and `partitions` partitions.
    case topicCreated(name: String, configID: UInt32, partitions: Int32)
    case configChanged(name: String, configID: UInt32)
    case partitionsGrown(name: String, partitions: Int32)
    /// Delete-records moved the log start of partition `partition` of `name` to `offset`.
    case logStartMoved(name: String, partition: Int32, offset: Int64)
    /// `recover` set where partition `partition` of `name` starts (its cold tier's end).
    case startOffsetSet(name: String, partition: Int32, offset: Int64)
    /// `deleteTopic` began: the topic is gone for every reader; a delete run again finishes it.
    case deleteBegun(name: String)
    case deleteFinished(name: String)
    /// Ends the snapshot a catalog file starts with; a file without it is not used.
    case snapshotEnd(topicCount: UInt64)

    public enum Kind: UInt8, Sendable {
        case config = 1
        case topicCreated = 2
        case configChanged = 3
        case partitionsGrown = 4
        case logStartMoved = 5
        case startOffsetSet = 6
        case deleteBegun = 7
        case deleteFinished = 8
        case snapshotEnd = 9
    }

    public var kind: Kind {
        switch self {
        case .config: .config
        case .topicCreated: .topicCreated
        case .configChanged: .configChanged
        case .partitionsGrown: .partitionsGrown
        case .logStartMoved: .logStartMoved
        case .startOffsetSet: .startOffsetSet
        case .deleteBegun: .deleteBegun
        case .deleteFinished: .deleteFinished
        case .snapshotEnd: .snapshotEnd
        }
    }
}

/// What `CatalogFormat.scan` found in a catalog file.
public struct CatalogScan: Sendable {
    /// The file header's sequence number (nil when the header itself is damaged or cut).
    public var sequence: UInt64?
    /// One past the last valid record.
    public var validEnd = 0
    /// One past the end-of-snapshot record, nil when the file has none (an unfinished compaction).
    public var snapshotEnd: Int?
    /// Why the scan stopped before the file's end.
    public var stopError: FormatError?
    /// Position of a valid record after the damage: the damage is corruption, not a torn tail.
    public var resumePosition: Int?
}
