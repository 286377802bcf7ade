// strata-vectors DIR: writes the golden vectors of formats/ and their JSON descriptions.
// The content is fixed here; everything else (bytes, CRCs, frame index) follows from the codecs.
import Foundation
import StrataExport
import StrataFormat
import StrataParquet

let topic = "orders.v1"
let createdMs: Int64 = 1_700_000_000_000
let segmentBaseOffset: Int64 = 1000
/// Small enough that the 4-batch segment is cut into several frames.
let frameRawBytesTarget = 256

func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The lone batch vector: null key, null value, headers, a zero-length value.
func batchRecords() -> [Record] {
    [
        Record(
            timestamp: 1_700_000_000_123, key: utf8("user-17"), value: utf8(#"{"amount":12.5}"#),
            headers: [RecordHeader(key: "trace-id", value: utf8("4bf92f35")), RecordHeader(key: "retry", value: nil)]),
        Record(timestamp: 1_700_000_000_124, key: nil, value: utf8("no key")),
        Record(timestamp: 1_700_000_000_120, key: utf8("user-17"), value: nil),
        Record(timestamp: 1_700_000_000_125, key: utf8(""), value: []),
    ]
}

/// The segment vector's batches: pre-1970 timestamps, non-ASCII and binary bytes, headers,
/// producer fields, out-of-order timestamps inside a batch.
func segmentBatches() -> [(records: [Record], producerId: Int64, producerEpoch: Int16, baseSequence: Int32)] {
    [
        (
            [
                Record(
                    timestamp: 1_700_000_000_000, key: utf8("user-1"), value: utf8(#"{"event":"created"}"#),
                    headers: [RecordHeader(key: "content-type", value: utf8("application/json"))]),
                Record(timestamp: 1_700_000_000_001, key: nil, value: utf8("keyless")),
                Record(timestamp: 1_700_000_000_002, key: utf8("user-1"), value: nil),
            ], -1, -1, -1
        ),
        (
            [
                Record(timestamp: -86_400_000, key: utf8("clé-ü"), value: utf8("日本語 ☃ 🚀")),
                Record(timestamp: -1, key: utf8("binary"), value: [0x00, 0xFF, 0xFE, 0x80, 0x7F]),
                Record(timestamp: 0, key: [0xC3, 0x28], value: utf8("epoch")),
            ], -1, -1, -1
        ),
        (
            [
                Record(
                    timestamp: 1_700_000_100_000, key: nil, value: nil,
                    headers: [
                        RecordHeader(key: "", value: []), RecordHeader(key: "ключ", value: [0xDE, 0xAD, 0xBE, 0xEF]),
                        RecordHeader(key: "null", value: nil),
                    ])
            ], 7, 1, 0
        ),
        (
            [
                Record(
                    timestamp: 1_700_000_200_500, key: utf8("late"),
                    value: utf8(String(repeating: "strata ", count: 12))),
                Record(timestamp: 1_700_000_200_000, key: utf8("early"), value: utf8("out of order")),
            ], 7, 1, 1
        ),
    ]
}

func segmentBytes() -> [UInt8] {
    var bytes = SegmentHeader(baseOffset: segmentBaseOffset, createdMs: createdMs).encode()
    var next = segmentBaseOffset
    for batch in segmentBatches() {
        bytes += BatchCodec.encode(
            baseOffset: next, records: batch.records, producerId: batch.producerId,
            producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence)
        next += Int64(batch.records.count)
    }
    return bytes
}

/// Manifest: an archive of older segments, one more listed segment, then the vector's object.
func manifest(coldIndex: ColdObjectIndex) -> Manifest {
    let older = ManifestSegment(
        baseOffset: 500, lastOffset: 999, firstTimestamp: 1_699_990_000_000, maxTimestamp: 1_699_999_999_000,
        recordCount: 500, rawBytes: 1_048_576, objectBytes: 262_144, rawCrc32c: 0x1234_5678, frameCount: 1,
        key: BucketLayout.segmentKeyRelative(topic: topic, baseOffset: 500, lastOffset: 999))
    let archive = ArchiveReference(
        baseOffset: 0, lastOffset: 499, segmentCount: 3,
        key: BucketLayout.archiveKeyRelative(topic: topic, baseOffset: 0, lastOffset: 499))
    return Manifest(
        topic: topic, version: 42, writerEpoch: 3, logStartOffset: 120, nextOffset: coldIndex.lastOffset + 1,
        config: ManifestTopicConfig(
            frameRawBytesTarget: frameRawBytesTarget, compressionLevel: 3, retentionMs: nil, retentionBytes: nil),
        segments: [older, ManifestSegment(coldIndex)], archives: [archive], createdMs: createdMs + 5_000)
}

/// The segment's records as `strata export` writes them (formats/export.md).
func exportLines(_ segment: [UInt8], _ format: RecordLineFormat) throws -> [UInt8] {
    var out = format.header
    for batch in try SegmentDescription(decoding: segment).batches {
        for record in batch.records ?? [] { format.append(try record.record(), to: &out) }
    }
    return out
}

func prettyJSON<T: Encodable>(_ value: T) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    var data = try encoder.encode(value)
    data.append(0x0A)
    return data
}

func write(_ bytes: [UInt8], _ name: String, in directory: URL) throws {
    try Data(bytes).write(to: directory.appendingPathComponent(name))
    print("wrote \(name) (\(bytes.count) bytes)")
}

func generate(into directory: URL) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

    let batch = BatchCodec.encode(baseOffset: 42, records: batchRecords())
    let decodedBatch = try BatchCodec.decode(batch)
    try write(batch, "batch.bin", in: directory)
    try write(
        [UInt8](try prettyJSON(BatchDescription(decodedBatch.header, position: nil, records: decodedBatch.records))),
        "batch.json", in: directory)

    let segment = segmentBytes()
    try write(segment, "segment.seg", in: directory)
    try write([UInt8](try prettyJSON(try SegmentDescription(decoding: segment))), "segment.json", in: directory)

    try write(exportLines(segment, .jsonLines), "segment.jsonl", in: directory)
    try write(exportLines(segment, .csv), "segment.csv", in: directory)

    let cold = try ColdObject.encode(segment: segment, topic: topic, frameRawBytesTarget: frameRawBytesTarget, level: 3)
    try write(cold.bytes, "segment.seg.zst", in: directory)
    let coldDescription = ColdObjectDescription(
        segmentFile: "segment.seg", zstdVersion: Zstd.versionString, index: cold.index)
    try write([UInt8](try prettyJSON(coldDescription)), "segment.seg.zst.json", in: directory)

    let topicManifest = manifest(coldIndex: cold.index)
    try write(try topicManifest.encode(), "manifest.json", in: directory)
    try write([UInt8](try prettyJSON(topicManifest)), "manifest.desc.json", in: directory)

    try generatePackedVectors(into: directory, mainSegment: segment)
    try generateEncryptedVectors(into: directory, mainSegment: segment)
    try generateTableVectors(into: directory)
    try generateIcebergVectors(into: directory)
    try generateJournalVectors(into: directory)
    try generateCatalogVectors(into: directory)
}

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: strata-vectors DIR\n".utf8))
    exit(2)
}
do {
    try generate(into: URL(fileURLWithPath: arguments[1], isDirectory: true))
} catch {
    FileHandle.standardError.write(Data("strata-vectors: \(error)\n".utf8))
    exit(1)
}
