#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// JSON renderings of decoded content: the descriptions beside the golden vectors
// (formats/vectors/*.json) and the machine output of `strata inspect dump --json`.

/// Bytes in JSON: `{"utf8": "…"}` when they are valid UTF-8, `{"base64": "…"}` otherwise.
public enum BytesDescription: Codable, Sendable, Hashable {
    case utf8(String)
    case base64(String)

    public init(_ bytes: [UInt8]) {
        if let text = String(validating: bytes, as: UTF8.self) {
            self = .utf8(text)
        } else {
            self = .base64(Data(bytes).base64EncodedString())
        }
    }

    /// The bytes described.
    /// - Throws: `FormatError(.invalidValue, field: "base64")` for malformed base64.
    public func bytes() throws(FormatError) -> [UInt8] {
        switch self {
        case .utf8(let text):
            return Array(text.utf8)
        case .base64(let text):
            guard let data = Data(base64Encoded: text) else {
                throw FormatError(.invalidValue, field: "base64", position: 0, "not base64: \(text)")
            }
            return [UInt8](data)
        }
    }

    static func optional(_ bytes: [UInt8]?) -> BytesDescription? { bytes.map { BytesDescription($0) } }

    enum CodingKeys: String, CodingKey { case utf8, base64 }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try c.decodeIfPresent(String.self, forKey: .utf8) {
            self = .utf8(text)
        } else {
            self = .base64(try c.decode(String.self, forKey: .base64))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .utf8(let text): try c.encode(text, forKey: .utf8)
        case .base64(let text): try c.encode(text, forKey: .base64)
        }
    }
}

/// One record header; `value` is written as `null` when absent.
public struct HeaderDescription: Codable, Sendable, Hashable {
    public var key: String
    public var value: BytesDescription?

    public init(_ header: RecordHeader) {
        key = header.key
        value = .optional(header.value)
    }

    enum CodingKeys: String, CodingKey { case key, value }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(value, forKey: .value)
    }
}

/// One record; `key` and `value` are written as `null` when absent.
public struct RecordDescription: Codable, Sendable, Hashable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: BytesDescription?
    public var value: BytesDescription?
    public var headers: [HeaderDescription]

    public init(_ record: Record) {
        offset = record.offset
        timestamp = record.timestamp
        key = .optional(record.key)
        value = .optional(record.value)
        headers = record.headers.map(HeaderDescription.init)
    }

    /// The record described.
    public func record() throws(FormatError) -> Record {
        var recordHeaders: [RecordHeader] = []
        for header in headers {
            recordHeaders.append(RecordHeader(key: header.key, value: try header.value?.bytes()))
        }
        return Record(
            offset: offset, timestamp: timestamp, key: try key?.bytes(), value: try value?.bytes(),
            headers: recordHeaders)
    }

    enum CodingKeys: String, CodingKey { case offset, timestamp, key, value, headers }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(offset, forKey: .offset)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encode(key, forKey: .key)
        try c.encode(value, forKey: .value)
        try c.encode(headers, forKey: .headers)
    }
}

/// A batch's header fields and (optionally) its records.
public struct BatchDescription: Codable, Sendable, Hashable {
    /// Byte position in the segment file (absent for a lone batch).
    public var position: Int?
    public var batchLength: Int
    public var crc: UInt32
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var recordCount: Int32
    public var firstTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var records: [RecordDescription]?

    public init(_ header: BatchHeader, position: Int?, records: [Record]?) {
        self.position = position
        batchLength = header.batchLength
        crc = header.crc
        baseOffset = header.baseOffset
        lastOffset = header.lastOffset
        recordCount = header.recordCount
        firstTimestamp = header.firstTimestamp
        maxTimestamp = header.maxTimestamp
        producerId = header.producerId
        producerEpoch = header.producerEpoch
        baseSequence = header.baseSequence
        self.records = records?.map(RecordDescription.init)
    }

    /// Encodes the described records as a batch (the header fields follow from them).
    /// - Throws: `FormatError(.invalidValue, field: "records")` when there are none.
    public func encode() throws(FormatError) -> [UInt8] {
        guard let records, !records.isEmpty else {
            throw FormatError(.invalidValue, field: "records", position: 0, "a batch needs at least one record")
        }
        var decoded: [Record] = []
        for record in records { decoded.append(try record.record()) }
        return BatchCodec.encode(
            baseOffset: baseOffset, records: decoded, producerId: producerId,
            producerEpoch: producerEpoch, baseSequence: baseSequence)
    }
}

/// A whole hot segment file: its header and every batch with its records.
public struct SegmentDescription: Codable, Sendable, Hashable {
    public var baseOffset: Int64
    public var createdMs: Int64
    public var rawBytes: Int
    public var rawCrc32c: UInt32
    public var batches: [BatchDescription]

    /// Decodes a complete segment file; any problem (including a torn tail) throws.
    public init(decoding segment: [UInt8]) throws(FormatError) {
        let (header, batches) = try withBytes(segment) {
            (raw) throws(FormatError) -> (SegmentHeader, [BatchDescription]) in
            let (header, scan) = try SegmentScanner.scanFile(raw)
            if let error = scan.stopError { throw error }
            var batches: [BatchDescription] = []
            for scanned in scan.batches {
                let batch = try BatchCodec.decode(raw, at: scanned.position)
                batches.append(BatchDescription(batch.header, position: scanned.position, records: batch.records))
            }
            return (header, batches)
        }
        baseOffset = header.baseOffset
        createdMs = header.createdMs
        rawBytes = segment.count
        rawCrc32c = CRC32C.checksum(segment)
        self.batches = batches
    }

    /// Encodes the segment file described (header, then each batch).
    public func encode() throws(FormatError) -> [UInt8] {
        var bytes = SegmentHeader(baseOffset: baseOffset, createdMs: createdMs).encode()
        for batch in batches { bytes.append(contentsOf: try batch.encode()) }
        return bytes
    }
}

/// A cold object vector: how it was made and what its footer says.
public struct ColdObjectDescription: Codable, Sendable, Hashable {
    /// File name of the segment it was made from (beside it).
    public var segmentFile: String
    /// libzstd version that produced the frames: compressed bytes are only stable per version.
    public var zstdVersion: String
    public var index: ColdObjectIndex

    public init(segmentFile: String, zstdVersion: String, index: ColdObjectIndex) {
        self.segmentFile = segmentFile
        self.zstdVersion = zstdVersion
        self.index = index
    }
}
