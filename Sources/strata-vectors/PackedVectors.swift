// The packed-object vectors (formats/cold-object.md, "Packed objects"): two slices of two logs
// in one object, and a manifest whose entry points into it (formats/manifest.md).
import Foundation
import StrataFormat

/// What `packed.json` says about `packed.szst`: its pack index, the segment each slice decodes
/// to, and what `zstd -d` yields for the whole object.
struct PackedObjectDescription: Codable {
    struct Slice: Codable {
        var slice: PackedSlice
        /// The segment file beside the vector the slice decodes to.
        var segmentFile: String
        var rawBytes: Int
        var frameCount: Int
    }
    var zstdVersion: String
    var objectBytes: Int
    var slicesBytes: Int64
    var indexFrameBytes: Int
    var slices: [Slice]
    /// Size and CRC32C of `zstd -d packed.szst`: the slices' segments back to back.
    var decompressedBytes: Int
    var decompressedCrc32c: UInt32
}

/// Partition 3's log: a segment of its own (base 0), the first two batches of the main vector's.
func partitionSegment() -> [UInt8] {
    var bytes = SegmentHeader(baseOffset: 0, createdMs: createdMs + 1).encode()
    var next: Int64 = 0
    for batch in segmentBatches().prefix(2) {
        bytes += BatchCodec.encode(baseOffset: next, records: batch.records)
        next += Int64(batch.records.count)
    }
    return bytes
}

func generatePackedVectors(into directory: URL, mainSegment: [UInt8]) throws {
    let partitionLog = topic + "/3"
    let partition = partitionSegment()
    try write(partition, "packed-slice1.seg", in: directory)
    let slices = [
        try ColdObject.encode(segment: mainSegment, topic: topic, frameRawBytesTarget: frameRawBytesTarget, level: 3),
        try ColdObject.encode(segment: partition, topic: partitionLog, frameRawBytesTarget: frameRawBytesTarget, level: 3),
    ]
    let packed = try PackedObject.encode(slices)
    try write(packed.bytes, "packed.szst", in: directory)
    let raw = mainSegment + partition
    let description = PackedObjectDescription(
        zstdVersion: Zstd.versionString, objectBytes: packed.bytes.count, slicesBytes: packed.index.slicesBytes,
        indexFrameBytes: packed.index.indexFrameBytes,
        slices: zip(packed.index.slices, zip(slices, ["segment.seg", "packed-slice1.seg"])).map {
            PackedObjectDescription.Slice(
                slice: $0.0, segmentFile: $0.1.1, rawBytes: $0.1.0.index.rawBytes, frameCount: $0.1.0.index.frames.count)
        },
        decompressedBytes: raw.count, decompressedCrc32c: CRC32C.checksum(raw))
    try write([UInt8](try prettyJSON(description)), "packed.json", in: directory)

    // The manifest of partition 3 after the packed offload: one entry, a slice of the object.
    let key = BucketLayout.packedKeyRelative(sequence: UInt64(createdMs + 2_000), writerId: 0x5eed_cafe_0000_0001)
    var entry = ManifestSegment(slices[1].index)
    entry.key = key
    entry.objectOffset = packed.index.slices[1].sliceOffset
    let manifest = Manifest(
        topic: partitionLog, version: 1, writerEpoch: 1, logStartOffset: 0, nextOffset: entry.lastOffset + 1,
        config: ManifestTopicConfig(frameRawBytesTarget: frameRawBytesTarget, compressionLevel: 3),
        segments: [entry], createdMs: createdMs + 2_000)
    try write(try manifest.encode(), "manifest-packed.json", in: directory)

    // An archive manifest written again by packed compaction (formats/manifest.md, "Spillover"):
    // the same entry, its rewrite id in the document and in the key.
    let archive = ArchiveManifest(
        topic: partitionLog, segments: [entry], createdMs: createdMs + 3_000, rewrite: "5eedcafe00000002")
    try write(try archive.encode(), "archive-rewritten.json", in: directory)
}
