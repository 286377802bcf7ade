import Foundation
import Testing

@testable import StrataFormat

/// formats/vectors: decoding each vector gives its JSON description, and encoding the
/// description gives the vector's exact bytes (tools/gen-vectors rebuilds them).
@Suite struct GoldenVectorTests {
    func description<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try vector(name)))
    }

    @Test func batchVector() throws {
        let bytes = try vector("batch.bin")
        let described = try description("batch.json", as: BatchDescription.self)
        let batch = try BatchCodec.decode(bytes)
        #expect(BatchDescription(batch.header, position: nil, records: batch.records) == described)
        #expect(try described.encode() == bytes)
    }

    @Test func segmentVector() throws {
        let bytes = try vector("segment.seg")
        let described = try description("segment.json", as: SegmentDescription.self)
        #expect(try SegmentDescription(decoding: bytes) == described)
        #expect(try described.encode() == bytes)
        #expect(described.batches.count >= 3)
        let records = described.batches.flatMap { $0.records ?? [] }
        #expect(records.contains { $0.key == nil } && records.contains { $0.value == nil })
        #expect(records.contains { $0.timestamp < 0 } && records.contains { !$0.headers.isEmpty })
    }

    @Test func coldObjectVector() throws {
        let object = try vector("segment.seg.zst")
        let segment = try vector("segment.seg")
        let described = try description("segment.seg.zst.json", as: ColdObjectDescription.self)
        #expect(described.segmentFile == "segment.seg")
        let (index, rebuilt) = try ColdObject.decodeSegment(object)
        #expect(index == described.index)
        #expect(rebuilt == segment)
        #expect(index.frames.count >= 2)
        let encoded = try ColdObject.encode(
            segment: segment, topic: index.topic,
            frameRawBytesTarget: index.frameRawBytesTarget, level: index.compressionLevel)
        if Zstd.versionString == described.zstdVersion {
            #expect(encoded.bytes == object)
        } else {
            // Another libzstd may compress differently; everything but compressed sizes must hold.
            #expect(encoded.index.frames.map(\.rawBytes) == index.frames.map(\.rawBytes))
            #expect(encoded.index.frames.map(\.checksum) == index.frames.map(\.checksum))
            #expect(try ColdObject.decodeSegment(encoded.bytes).segment == segment)
        }
    }

    @Test func manifestVector() throws {
        let bytes = try vector("manifest.json")
        let described = try description("manifest.desc.json", as: Manifest.self)
        #expect(try Manifest.decode(bytes) == described)
        #expect(try described.encode() == bytes)
        let cold = try ColdObjectFooter.parse(object: try vector("segment.seg.zst"))
        #expect(described.segments.last == ManifestSegment(cold))
    }
}
