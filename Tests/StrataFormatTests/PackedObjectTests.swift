import Foundation
import StrataTesting
import Testing

@testable import StrataFormat

/// Packed objects (formats/cold-object.md, "Packed objects") and manifest entries pointing into
/// them (formats/manifest.md).
@Suite struct PackedObjectTests {
    /// Random segments of several logs, encoded as cold objects.
    static func slices(seed: UInt64, count: Int) throws -> (slices: [EncodedColdObject], segments: [[UInt8]]) {
        var rng = SeededRNG(seed: seed)
        var slices: [EncodedColdObject] = []
        var segments: [[UInt8]] = []
        for i in 0 ..< count {
            let base = Int64.random(in: 0 ... 1_000_000, using: &rng)
            let (segment, _) = Random.segment(&rng, baseOffset: base, batchCount: Int.random(in: 1 ... 6, using: &rng))
            let log = i % 3 == 0 ? "topic\(i)" : "topic\(i)/\(i + 1)"
            slices.append(try ColdObject.encode(segment: segment, topic: log, frameRawBytesTarget: 300))
            segments.append(segment)
        }
        return (slices, segments)
    }

    @Test(arguments: [UInt64(1), 7, 2026])
    func roundTripThroughTheIndexAndEverySlice(seed: UInt64) throws {
        let (slices, segments) = try Self.slices(seed: seed, count: 9)
        let packed = try PackedObject.encode(slices)
        let index = try PackedObject.parseIndex(object: packed.bytes)
        #expect(index == packed.index)
        #expect(index.slices.map(\.log) == slices.map(\.index.topic))
        #expect(index.slicesBytes == Int64(slices.reduce(0) { $0 + $1.bytes.count }))
        for (slice, encoded) in zip(index.slices, slices) {
            // A slice is byte for byte the standalone object: one ranged GET reads any frame of it.
            #expect(Array(packed.bytes[slice.byteRange]) == encoded.bytes)
            #expect(slice.rawCrc32c == encoded.index.rawCrc32c)
        }
        let decoded = try PackedObject.decodeSlices(packed.bytes)
        #expect(decoded.map(\.segment) == segments)
        // zstd semantics: the whole stream is the segments back to back.
        let all = try withBytes(packed.bytes) { (raw) throws(FormatError) in
            try Zstd.decompressAll(raw, sizeLimit: 1 << 24)
        }
        #expect(all == segments.flatMap { $0 })
    }

    /// Compaction's encoder: slices copied out of packed objects, in any order and subset, make a
    /// packed object byte for byte the one the encoder makes of those cold objects.
    @Test func slicesCopiedOutOfAnObjectPackAsTheirColdObjectsDo() throws {
        let (slices, segments) = try Self.slices(seed: 5, count: 8)
        let packed = try PackedObject.encode(slices)
        let kept = [6, 1, 3]
        let copied = kept.map { i in
            (entry: packed.index.slices[i], bytes: Array(packed.bytes[packed.index.slices[i].byteRange]))
        }
        let repacked = try PackedObject.encode(copying: copied)
        #expect(repacked == (try PackedObject.encode(kept.map { slices[$0] })))
        #expect(try PackedObject.parseIndex(object: repacked.bytes) == repacked.index)
        #expect(repacked.index.slices.map(\.log) == kept.map { slices[$0].index.topic })
        #expect(try PackedObject.decodeSlices(repacked.bytes).map(\.segment) == kept.map { segments[$0] })
        #expect(throws: FormatError.self) { try PackedObject.encode(copying: []) }
    }

    @Test func oneSuffixReadFindsTheIndex() throws {
        let (slices, _) = try Self.slices(seed: 3, count: 40)
        let packed = try PackedObject.encode(slices)
        let size = packed.bytes.count
        var tail = 8
        var reads = 0
        while true {
            reads += 1
            let suffix = Array(packed.bytes.suffix(tail))
            let needed = try withBytes(suffix) { (raw) throws(FormatError) in
                try PackedObject.tailBytesNeeded(tail: raw, objectSize: size)
            }
            if needed <= tail { break }
            tail = needed
        }
        #expect(reads == 2)
        #expect(tail == packed.index.indexFrameBytes)
        let index = try withBytes(Array(packed.bytes.suffix(tail))) { (raw) throws(FormatError) in
            try PackedObject.parseIndex(tail: raw, objectSize: size)
        }
        #expect(index == packed.index)
        // The default first read covers a pack index of this size at once.
        #expect(packed.index.indexFrameBytes <= PackedObject.defaultTailReadBytes)
    }

    @Test func everyBitFlipOfThePackIndexIsATypedError() throws {
        let (slices, _) = try Self.slices(seed: 11, count: 3)
        let packed = try PackedObject.encode(slices)
        let start = Int(packed.index.slicesBytes)
        for bit in (start * 8) ..< (packed.bytes.count * 8) {
            let damaged = flipped(packed.bytes, bit: bit)
            let error = formatError { () throws(FormatError) in try PackedObject.parseIndex(object: damaged) }
            #expect(error != nil, "bit \(bit) (byte \(bit / 8 - start) of the index frame)")
            #expect(error?.field.hasPrefix("packIndex") ?? false, "\(String(describing: error))")
        }
    }

    @Test func everyTruncationIsATypedError() throws {
        let (slices, _) = try Self.slices(seed: 12, count: 3)
        let packed = try PackedObject.encode(slices)
        // Cut from the end (a short upload) and from the front (a tail read given as the object).
        for cut in 1 ..< packed.bytes.count {
            let short = Array(packed.bytes.prefix(packed.bytes.count - cut))
            #expect(formatError { () throws(FormatError) in try PackedObject.parseIndex(object: short) } != nil, "\(cut)")
        }
        for length in 0 ..< packed.index.indexFrameBytes {
            let tail = Array(packed.bytes.suffix(length))
            let error = formatError { () throws(FormatError) in
                try withBytes(tail) { (raw) throws(FormatError) in
                    try PackedObject.parseIndex(tail: raw, objectSize: packed.bytes.count)
                }
            }
            #expect(error?.code == .truncated, "suffix of \(length)")
        }
    }

    @Test func encoderAndReaderBoundTheSliceCount() throws {
        #expect(formatError { () throws(FormatError) in try PackedObject.encode([]) }?.field == "packIndex.sliceCount")
        let (slices, _) = try Self.slices(seed: 5, count: 2)
        // A slice whose footer disagrees with its entry is refused when decoded.
        var packed = try PackedObject.encode(slices)
        packed.index.slices[0].rawCrc32c ^= 1
        let bytes = Array(packed.bytes[packed.index.slices[0].byteRange])
        let error = formatError { () throws(FormatError) in
            try PackedObject.decodeSlice(bytes, slice: packed.index.slices[0])
        }
        #expect(error?.field == "packIndex.slice")
    }

    @Test func packedKeys() {
        let key = BucketLayout.packedKeyRelative(sequence: 42, writerId: 0xabc)
        #expect(key == "packed/00000000000000000042-0000000000000abc.szst")
        #expect(BucketLayout.isPackedKeyRelative(key))
        for bad in [
            "packed/42-0000000000000abc.szst", "packed/00000000000000000042-abc.szst",
            "packed/00000000000000000042-0000000000000ABC.szst", "packed/00000000000000000042-0000000000000abc.zst",
            "topics/a/segments/00000000000000000000-00000000000000000001.seg.zst",
        ] {
            #expect(!BucketLayout.isPackedKeyRelative(bad), "\(bad)")
        }
        #expect(BucketLayout(prefix: "lake").isPackedKey("lake/" + key))
        #expect(!BucketLayout(prefix: "lake").isPackedKey(key))
    }

    // MARK: - Manifest entries

    static func packedManifest() throws -> Manifest {
        let (slices, _) = try Self.slices(seed: 9, count: 1)
        var entry = ManifestSegment(slices[0].index)
        entry.key = BucketLayout.packedKeyRelative(sequence: 1, writerId: 2)
        entry.objectOffset = 4096
        return Manifest(
            topic: slices[0].index.topic, version: 1, writerEpoch: 1, logStartOffset: entry.baseOffset,
            nextOffset: entry.lastOffset + 1, segments: [entry], createdMs: 5)
    }

    @Test func aManifestWithAPackedEntryIsVersion2AndOnlyThen() throws {
        let manifest = try Self.packedManifest()
        #expect(manifest.formatVersion == Manifest.packedFormatVersion)
        let decoded = try Manifest.decode(try manifest.encode())
        #expect(decoded == manifest)
        #expect(decoded.segments[0].objectOffset == 4096)

        var asVersion1 = manifest
        asVersion1.formatVersion = 1
        #expect(formatError { () throws(FormatError) in try asVersion1.encode() }?.field == "manifest.formatVersion")
        var standalone = manifest
        standalone.segments[0].objectOffset = nil
        #expect(formatError { () throws(FormatError) in try standalone.encode() }?.field.hasPrefix("manifest") ?? false)
        standalone.settleFormatVersion()
        #expect(standalone.formatVersion == 1)
        // An entry that is not packed keeps objectOffset out of the JSON (old vectors unchanged).
        #expect(formatError { () throws(FormatError) in try standalone.encode() }?.field == "manifest.segments[0].key")
    }

    @Test func readersRefuseUnknownVersionsAndMisfiledSlices() throws {
        let manifest = try Self.packedManifest()
        let text = String(decoding: try manifest.encode(), as: UTF8.self)
        let future = Array(text.replacingOccurrences(of: "\"formatVersion\":2", with: "\"formatVersion\":3").utf8)
        #expect(formatError { () throws(FormatError) in try Manifest.decode(future) }?.code == .unsupportedVersion)
        // A version-1 document carrying a packed entry is refused, never read as a whole object.
        let downgraded = Array(text.replacingOccurrences(of: "\"formatVersion\":2", with: "\"formatVersion\":1").utf8)
        #expect(formatError { () throws(FormatError) in try Manifest.decode(downgraded) }?.field == "manifest.formatVersion")
        // objectOffset on a standalone key is refused.
        var misfiled = manifest
        misfiled.segments[0].key = BucketLayout.segmentKeyRelative(
            topic: manifest.topic, baseOffset: manifest.segments[0].baseOffset,
            lastOffset: manifest.segments[0].lastOffset)
        #expect(formatError { () throws(FormatError) in try misfiled.encode() }?.field == "manifest.segments[0].key")
        // lake.json stays at version 1.
        let lake = Array(#"{"createdMs":1,"formatVersion":2}"#.utf8)
        #expect(formatError { () throws(FormatError) in try LakeDescriptor.decode(lake) }?.code == .unsupportedVersion)
        // Archives follow the same rule.
        let archive = ArchiveManifest(topic: manifest.topic, segments: manifest.segments, createdMs: 1)
        #expect(archive.formatVersion == 2)
        #expect(try ArchiveManifest.decode(try archive.encode()) == archive)
    }

    // MARK: - Golden vectors

    @Test func goldenPackedObjectMatchesItsDescription() throws {
        let bytes = try vector("packed.szst")
        let description = try JSONSerialization.jsonObject(with: Data(try vector("packed.json"))) as? [String: Any]
        let index = try PackedObject.parseIndex(object: bytes)
        #expect(description?["objectBytes"] as? Int == bytes.count)
        #expect(description?["indexFrameBytes"] as? Int == index.indexFrameBytes)
        let described = (description?["slices"] as? [[String: Any]]) ?? []
        #expect(described.count == index.slices.count)
        var segments: [[UInt8]] = []
        for (slice, entry) in zip(index.slices, described) {
            let inner = entry["slice"] as? [String: Any]
            #expect(inner?["log"] as? String == slice.log)
            #expect((inner?["sliceOffset"] as? NSNumber)?.int64Value == slice.sliceOffset)
            #expect((inner?["sliceBytes"] as? NSNumber)?.int64Value == slice.sliceBytes)
            #expect((inner?["rawCrc32c"] as? NSNumber)?.uint32Value == slice.rawCrc32c)
            let segment = try vector(try #require(entry["segmentFile"] as? String))
            segments.append(segment)
            #expect(try PackedObject.decodeSlice(Array(bytes[slice.byteRange]), slice: slice).segment == segment)
        }
        // The encoder reproduces the vector byte for byte from its segments.
        let logs = index.slices.map(\.log)
        let encoded = try zip(segments, logs).map { (segment, log) throws(FormatError) in
            try ColdObject.encode(segment: segment, topic: log, frameRawBytesTarget: 256, level: 3)
        }
        #expect(try PackedObject.encode(encoded).bytes == bytes)
        let raw = segments.flatMap { $0 }
        #expect((description?["decompressedCrc32c"] as? NSNumber)?.uint32Value == CRC32C.checksum(raw))
        #expect(try Self.zstdDecompress(bytes) == raw)
    }

    @Test func goldenPackedManifestDecodesAndReencodes() throws {
        let bytes = try vector("manifest-packed.json")
        let manifest = try Manifest.decode(bytes)
        #expect(manifest.formatVersion == 2)
        let entry = try #require(manifest.segments.first)
        #expect(entry.isPacked)
        #expect(BucketLayout.isPackedKeyRelative(entry.key))
        let pack = try PackedObject.parseIndex(object: try vector("packed.szst"))
        let slice = try #require(pack.slice(log: manifest.topic, baseOffset: entry.baseOffset))
        #expect(slice.sliceOffset == entry.objectOffset)
        #expect(slice.sliceBytes == entry.objectBytes)
        #expect(slice.rawCrc32c == entry.rawCrc32c)
        #expect(try manifest.encode() == bytes)
    }

    /// `archive-rewritten.json`: an archive manifest packed compaction wrote again, its rewrite
    /// id in the document and its key; a bad id is refused by name.
    @Test func goldenRewrittenArchiveDecodesAndReencodes() throws {
        let bytes = try vector("archive-rewritten.json")
        let archive = try ArchiveManifest.decode(bytes, topic: "orders.v1/3")
        #expect(archive.rewrite == "5eedcafe00000002")
        #expect(archive.reference.key
            == "topics/orders.v1/3/archive/00000000000000000000-00000000000000000005-5eedcafe00000002.json")
        #expect(try ArchiveManifest.decode(bytes, reference: archive.reference) == archive)
        #expect(try archive.encode() == bytes)
        // The reference of the plain key is not this document's.
        var plain = archive.reference
        plain.key = BucketLayout.archiveKeyRelative(topic: "orders.v1/3", baseOffset: 0, lastOffset: 5)
        #expect(formatError { () throws(FormatError) in _ = try ArchiveManifest.decode(bytes, reference: plain) } != nil)
        let badId = Array(String(decoding: bytes, as: UTF8.self)
            .replacingOccurrences(of: "5eedcafe00000002", with: "5EEDCAFE00000002").utf8)
        #expect(
            formatError { () throws(FormatError) in _ = try ArchiveManifest.decode(badId) }?.field == "archive.rewrite")
    }

    /// The writer refuses an index its reader would: a log's slices out of offset order.
    @Test func encodingRefusesALogsSlicesOutOfOffsetOrder() throws {
        let (slices, _) = try Self.slices(seed: 3, count: 3)
        var rng = SeededRNG(seed: 4)
        let later = try ColdObject.encode(
            segment: Random.segment(&rng, baseOffset: 500, batchCount: 2).bytes, topic: slices[0].index.topic,
            frameRawBytesTarget: 300)
        let earlier = try ColdObject.encode(
            segment: Random.segment(&rng, baseOffset: 0, batchCount: 2).bytes, topic: slices[0].index.topic,
            frameRawBytesTarget: 300)
        #expect(try PackedObject.parseIndex(object: PackedObject.encode([earlier, later]).bytes).slices.count == 2)
        let error = formatError { () throws(FormatError) in _ = try PackedObject.encode([later, slices[1], earlier]) }
        #expect(error?.field == "packIndex.slices[2].baseOffset", "\(String(describing: error))")
    }

    /// The real `zstd -d` on the object: the slices' segments back to back.
    static func zstdDecompress(_ bytes: [UInt8]) throws -> [UInt8] {
        let path = NSTemporaryDirectory() + "packed-\(UUID().uuidString).szst"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (status, output) = runToEnd("/usr/bin/zstd", ["-d", "-c", "-q", path])
        #expect(status == 0, "zstd -d: \(String(decoding: output, as: UTF8.self))")
        return output
    }
}
