import Testing

@testable import StrataFormat

@Suite struct ColdObjectTests {
    /// Random segments and frame targets: the footer parses from a suffix, every frame decodes
    /// to its slice of the segment, and offset/time lookups agree with brute force.
    @Test func roundTripOverRandomSegments() throws {
        var rng = SeededRNG(seed: 0x5EED_0201)
        for iteration in 0 ..< 40 {
            let base = Int64.random(in: 0 ... 1_000_000, using: &rng)
            let (segment, _) = Random.segment(&rng, baseOffset: base, batchCount: Int.random(in: 1 ... 30, using: &rng))
            let target = [1, 100, 500, 2000, 1 << 20].randomElement(using: &rng) ?? 1
            let encoded = try ColdObject.encode(
                segment: segment, topic: "t-\(iteration)", frameRawBytesTarget: target, level: 1)
            let object = encoded.bytes
            let suffix = Array(object.suffix(encoded.index.footerBytes))
            let parsed = try withBytes(suffix) { (raw) throws(FormatError) in
                try ColdObjectFooter.parse(tail: raw, objectSize: object.count)
            }
            #expect(parsed == encoded.index, "iteration \(iteration)")
            var rebuilt: [UInt8] = []
            for frame in parsed.frames {
                #expect(frame.rawBytes <= max(target, frame.rawBytes) && frame.batchCount >= 1)
                rebuilt += try ColdObject.decodeFrame(Array(object[frame.objectRange]), frame: frame)
            }
            #expect(rebuilt == segment)
            #expect(try ColdObject.decodeSegment(object).segment == segment)
            try checkLookups(parsed, segment: segment)
        }
    }

    func checkLookups(_ index: ColdObjectIndex, segment: [UInt8]) throws {
        #expect(index.frameIndex(forOffset: index.baseOffset - 1) == nil)
        #expect(index.frameIndex(forOffset: index.lastOffset + 1) == nil)
        for offset in index.baseOffset ... index.lastOffset {
            let expected = index.frames.firstIndex { $0.firstOffset <= offset && offset <= $0.lastOffset }
            #expect(index.frameIndex(forOffset: offset) == expected)
        }
        let scan = try withBytes(segment) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
        for batch in scan.batches {
            for t in [batch.header.firstTimestamp, batch.header.maxTimestamp, batch.header.maxTimestamp &+ 1] {
                let expected = index.frames.firstIndex { frame in
                    scan.batches.contains {
                        $0.position >= frame.rawOffset && $0.position < frame.rawOffset + frame.rawBytes
                            && $0.header.maxTimestamp >= t
                    }
                }
                #expect(index.frameIndex(forTimestamp: t) == expected)
            }
        }
    }

    /// A short suffix is answered with how many bytes are needed, and that many suffice.
    @Test func tailBytesNeededConverges() throws {
        var rng = SeededRNG(seed: 0x5EED_0202)
        let (segment, _) = Random.segment(&rng, baseOffset: 0, batchCount: 25)
        let object = try ColdObject.encode(segment: segment, topic: "orders", frameRawBytesTarget: 200).bytes
        var tailBytes = 9
        for _ in 0 ..< 4 {
            let tail = Array(object.suffix(tailBytes))
            let needed = try withBytes(tail) { (raw) throws(FormatError) in
                try ColdObjectFooter.tailBytesNeeded(tail: raw, objectSize: object.count)
            }
            if needed <= tailBytes { break }
            let error = formatError { () throws(FormatError) in
                try withBytes(tail) { (raw) throws(FormatError) in
                    try ColdObjectFooter.parse(tail: raw, objectSize: object.count)
                }
            }
            #expect(error?.code == .truncated)
            #expect(error?.field == "coldObject.tail")
            tailBytes = needed
        }
        let index = try withBytes(Array(object.suffix(tailBytes))) { (raw) throws(FormatError) in
            try ColdObjectFooter.parse(tail: raw, objectSize: object.count)
        }
        #expect(index.footerBytes == tailBytes)
        #expect(index.frames.count > 2)
    }

    /// Every single-bit flip in the footer (index frame + seek table) is a typed error naming a
    /// footer field at a position inside the footer — never a crash or a wrong index.
    @Test func everyFooterBitFlipIsRejected() throws {
        let object = try vector("segment.seg.zst")
        let index = try ColdObjectFooter.parse(object: object)
        for bit in (index.indexFrameOffset * 8) ..< (object.count * 8) {
            let error = formatError { () throws(FormatError) in
                try ColdObjectFooter.parse(object: flipped(object, bit: bit))
            }
            #expect(error != nil, "flip of bit \(bit) (byte \(bit / 8)) accepted")
            guard let error else { continue }
            #expect(
                error.field.hasPrefix("coldIndex") || error.field.hasPrefix("seekTable")
                    || error.field.hasPrefix("topic"),
                "bit \(bit): \(error)")
            #expect(error.position >= 0 && error.position < object.count, "bit \(bit): \(error)")
        }
    }

    /// Every truncation of the object's end, and every too-short suffix, is a typed error.
    @Test func everyFooterTruncationIsRejected() throws {
        let object = try vector("segment.seg.zst")
        let index = try ColdObjectFooter.parse(object: object)
        for length in index.indexFrameOffset ..< object.count {
            let prefix = Array(object[0 ..< length])
            #expect(
                formatError { () throws(FormatError) in try ColdObjectFooter.parse(object: prefix) } != nil,
                "cut at \(length)")
        }
        for tailBytes in 0 ..< index.footerBytes {
            let error = formatError { () throws(FormatError) in
                try withBytes(Array(object.suffix(tailBytes))) { (raw) throws(FormatError) in
                    try ColdObjectFooter.parse(tail: raw, objectSize: object.count)
                }
            }
            #expect(error?.code == .truncated, "tail of \(tailBytes)")
        }
    }

    /// Corrupt frame bytes (or a frame paired with the wrong entry) never decode.
    @Test func corruptFramesAreRejected() throws {
        let object = try vector("segment.seg.zst")
        let index = try ColdObjectFooter.parse(object: object)
        let frame = index.frames[1]
        let bytes = Array(object[frame.objectRange])
        let good = try ColdObject.decodeFrame(bytes, frame: frame)
        for bit in 0 ..< (bytes.count * 8) {
            // A flip may be harmless to zstd (e.g. a larger window size in the header); then the
            // content must still be exactly right. Anything else must throw.
            let corrupt = flipped(bytes, bit: bit)
            let result = Result { () throws(FormatError) in try ColdObject.decodeFrame(corrupt, frame: frame) }
            if case .success(let raw) = result { #expect(raw == good, "flip of bit \(bit) decoded to other bytes") }
        }
        #expect(
            formatError { () throws(FormatError) in try ColdObject.decodeFrame(bytes, frame: index.frames[2]) } != nil)
        #expect(
            formatError { () throws(FormatError) in try ColdObject.decodeFrame(Array(bytes.dropLast()), frame: frame) }?
                .code == .truncated)
        var shifted = frame
        shifted.firstOffset += 1
        shifted.lastOffset += 1
        let error = formatError { () throws(FormatError) in try ColdObject.decodeFrame(bytes, frame: shifted) }
        #expect(error?.field == "batch.baseOffset")
        #expect(error?.message.hasPrefix("frame 1:") == true)
    }

    @Test func encoderRejectsBadInput() throws {
        var rng = SeededRNG(seed: 0x5EED_0203)
        let (segment, _) = Random.segment(&rng, baseOffset: 0, batchCount: 3)
        #expect(
            formatError { () throws(FormatError) in try ColdObject.encode(segment: segment, topic: "..") }?.field
                == "topic")
        #expect(
            formatError { () throws(FormatError) in
                try ColdObject.encode(segment: segment, topic: "t", frameRawBytesTarget: 0)
            }?
            .field == "frameRawBytesTarget")
        #expect(
            formatError { () throws(FormatError) in
                try ColdObject.encode(segment: Array(segment.dropLast()), topic: "t")
            }?
            .code == .truncated)
        let empty = SegmentHeader(baseOffset: 0, createdMs: 0).encode()
        #expect(
            formatError { () throws(FormatError) in try ColdObject.encode(segment: empty, topic: "t") }?.field
                == "segment")
    }

    /// `zstd -d` semantics: decompressing the whole stream skips both skippable frames.
    @Test func wholeStreamDecompressesToTheSegment() throws {
        let object = try vector("segment.seg.zst")
        let segment = try vector("segment.seg")
        let all = try withBytes(object) { (raw) throws(FormatError) in try Zstd.decompressAll(raw, sizeLimit: 1 << 20) }
        #expect(all == segment)
        #expect(Array(object.suffix(4)) == [0xB1, 0xEA, 0x92, 0x8F])
    }
}
