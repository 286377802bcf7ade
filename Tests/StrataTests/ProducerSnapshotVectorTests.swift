import Foundation
import Testing

@testable import Strata

/// The producer snapshot layout (formats/producer-state.md) against a vector written by an
/// independent encoder from the spec's table.
@Suite struct ProducerSnapshotVectorTests {
    struct Description: Decodable {
        struct Producer: Decodable {
            var producerId: Int64
            var epoch: Int16
            var lastAppendMs: Int64
            var batches: [Batch]
        }
        struct Batch: Decodable {
            var firstSequence: Int32, lastSequence: Int32, firstOffset: Int64, lastOffset: Int64
        }
        var offset: Int64
        var lastBatchBaseOffset: Int64
        var lastBatchCrc: UInt32
        var producers: [Producer]
    }

    static func vector(_ name: String) throws -> Data {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try Data(contentsOf: root.appendingPathComponent("formats/vectors/" + name))
    }

    @Test func theVectorDecodesToItsValuesAndEncodesBackToItsBytes() throws {
        let bytes = [UInt8](try Self.vector("producer-snapshot.bin"))
        let expected = try JSONDecoder().decode(Description.self, from: try Self.vector("producer-snapshot.json"))
        let snapshot = try ProducerSnapshot.decode(bytes)
        #expect(snapshot.offset == expected.offset)
        #expect(snapshot.lastBatchBaseOffset == expected.lastBatchBaseOffset)
        #expect(snapshot.lastBatchCrc == expected.lastBatchCrc)
        #expect(snapshot.producers.count == expected.producers.count)
        for producer in expected.producers {
            let entry = try #require(snapshot.producers[producer.producerId])
            #expect(entry.epoch == producer.epoch && entry.lastAppendMs == producer.lastAppendMs)
            #expect(
                entry.batches
                    == producer.batches.map {
                        ProducerBatch(
                            firstSequence: $0.firstSequence, lastSequence: $0.lastSequence,
                            firstOffset: $0.firstOffset, lastOffset: $0.lastOffset)
                    })
        }
        #expect(snapshot.encode() == bytes)
    }

    @Test func everyFlippedBitOfTheVectorIsRefused() throws {
        let bytes = [UInt8](try Self.vector("producer-snapshot.bin"))
        for bit in 0 ..< bytes.count * 8 {
            var copy = bytes
            copy[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
            #expect(throws: FormatError.self, "bit \(bit)") { _ = try ProducerSnapshot.decode(copy) }
        }
        for cut in 0 ..< bytes.count {
            #expect(throws: FormatError.self, "cut \(cut)") { _ = try ProducerSnapshot.decode(Array(bytes[..<cut])) }
        }
    }
}
