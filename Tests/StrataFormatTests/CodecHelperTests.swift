import Testing

@testable import StrataFormat

/// The small codec functions the engine and the CLI call instead of reading bytes by hand:
/// a batch's declared length (TopicRead) and the segment check against a cold index (InspectDump).
@Suite struct CodecHelperTests {
    @Test func declaredLengthReadsTheLengthField() {
        let batch = BatchCodec.encode(baseOffset: 5, records: [Record(timestamp: 1, value: Array("v".utf8))])
        let buffer = [UInt8](repeating: 0xAA, count: 3) + batch
        buffer.withUnsafeBytes { raw in
            #expect(BatchCodec.declaredLength(raw, at: 3) == batch.count)
            #expect(BatchCodec.declaredLength(UnsafeRawBufferPointer(rebasing: raw[3 ..< 11])) == batch.count)
            // Fewer than the 8 bytes of magic and length: no answer, no read past the end.
            #expect(BatchCodec.declaredLength(UnsafeRawBufferPointer(rebasing: raw[3 ..< 10])) == nil)
            #expect(BatchCodec.declaredLength(raw, at: raw.count - 7) == nil)
            #expect(BatchCodec.declaredLength(raw, at: raw.count) == nil)
        }
    }

    @Test func checkSegmentAgainstTheColdIndex() throws {
        let (index, segment) = try ColdObject.decodeSegment(try vector("segment.seg.zst"))
        #expect(formatError { () throws(FormatError) in try ColdObject.checkSegment(segment, index: index) } == nil)

        var flipped = segment
        flipped[100] ^= 0x01
        let crc = formatError { () throws(FormatError) in try ColdObject.checkSegment(flipped, index: index) }
        #expect(crc?.code == .checksumMismatch && crc?.field == "coldIndex.rawCrc32c")
        #expect(crc?.position == index.indexFrameOffset + 8 + 56)

        let short = formatError { () throws(FormatError) in
            try ColdObject.checkSegment(Array(segment.dropLast()), index: index)
        }
        #expect(short?.code == .truncated && short?.field == "coldIndex.rawBytes")
        #expect(short?.message.contains("\(segment.count - 1) bytes") == true)
    }
}
