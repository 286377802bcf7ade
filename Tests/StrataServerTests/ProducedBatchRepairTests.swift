import StrataFormat
import StrataKafka
import Testing

@testable import StrataServer

/// The repairs the Produce path makes to what clients send, on batches whose CRC `split` has
/// already checked: the resealed CRC is derived from the checked one, not computed over the
/// records again, and is the one a full pass computes.
@Suite struct ProducedBatchRepairTests {
    /// A batch without a producer id whose epoch and base sequence are 0 (aiokafka writes them
    /// so), sealed with a correct CRC.
    static func aiokafkaStyleBatch(records count: Int) throws -> [UInt8] {
        let records = (0 ..< count).map { Record(timestamp: Int64($0), key: nil, value: Array(repeating: 7, count: $0 * 13)) }
        var kafka = try KafkaBatch.fromStrata(BatchCodec.encode(baseOffset: 0, records: records))
        for i in ProducedBatchRepair.producerEpochPosition ..< 57 { kafka[i] = 0 }
        let crc = CRC32C.checksum(kafka[KafkaBatchHeader.crcCoverageStart...])
        for i in 0 ..< 4 { kafka[KafkaBatchHeader.crcPosition + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
        return kafka
    }

    @Test(arguments: [1, 5, 200])
    func producerFieldsAreClearedWithACorrectCRCWhetherOrNotItWasChecked(records: Int) throws {
        let batch = try Self.aiokafkaStyleBatch(records: records)
        let checking = try #require(try ProducedBatchRepair.withoutProducerFields(batch))
        let checked = try #require(try ProducedBatchRepair.withoutProducerFields(batch, crcChecked: true))
        #expect(checked == checking)
        let header = try KafkaBatch.parseHeader(checked)  // checks the resealed CRC
        #expect(header.producerEpoch == -1 && header.baseSequence == -1)
        let strata = try RequestDispatcher.strataBatch(batch, crcChecked: true)
        #expect(strata == (try RequestDispatcher.strataBatch(batch)))
        #expect(try BatchCodec.decode(strata).records.count == records)
    }
}
