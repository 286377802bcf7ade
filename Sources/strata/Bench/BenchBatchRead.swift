import Foundation
import Strata

/// replay-cold-batches: the Kafka front door's read path (`Topic.readBatches`, whole batches,
/// no record decode) against replay-cold's `Cursor` of decoded records, over the same evicted
/// topic in one run, each pass on a freshly opened lake (cold frame cache empty). The value is
/// the ratio batches/records of raw MB/s, best of three passes each.
extension ColdBench {
    func runReplayBatches() async throws -> BenchReport {
        try await ensureColdLake()
        var recordRates: [Double] = []
        var batchRates: [Double] = []
        var rawBytes: Int64 = 0
        for _ in 0 ..< 3 {
            let (raw, recordSeconds) = try await replayPass(batches: false)
            recordRates.append(megabytesPerSecond(raw, recordSeconds))
            let (_, batchSeconds) = try await replayPass(batches: true)
            batchRates.append(megabytesPerSecond(raw, batchSeconds))
            rawBytes = raw
        }
        let recordBest = recordRates.max() ?? 0
        let batchBest = batchRates.max() ?? 0
        let ratio = recordBest > 0 ? batchBest / recordBest : 0
        return BenchReport(
            scenario: "replay-cold-batches", value: ratio, unit: "x",
            fields: ["rawBytes": rawBytes, "recordsMBps": recordRates, "batchesMBps": batchRates],
            summary: [
                "replay of records (Cursor): \(recordRates.map { format($0) }.joined(separator: ", ")) MB/s raw; "
                    + "readBatches: \(batchRates.map { format($0) }.joined(separator: ", ")) MB/s raw",
                "best of 3: readBatches/Cursor = \(format(ratio, digits: 3))",
            ])
    }

    /// One replay from offset 0 to the end on a fresh lake; returns the raw bytes and seconds.
    private func replayPass(batches: Bool) async throws -> (Int64, Double) {
        let lake = try openBenchLake(lakePath)
        let topic = try lake.topic(Self.topicName)
        let cold = try await topic.coldSegments()
        let rawBytes = cold.reduce(0) { $0 + $1.rawBytes }
        let end = topic.highWatermark
        let (_, seconds) = try await timed {
            if batches {
                var next: Int64 = 0
                while next < end {
                    let result = try await topic.readBatches(from: next, maxBytes: 1024 * 1024)
                    guard let first = result.batches.first, first.header.baseOffset <= next else {
                        throw StrataError(.corrupt, "replay expected offset \(next)", topic: Self.topicName)
                    }
                    next = result.nextOffset
                }
            } else {
                var cursor = try await Cursor(topic: topic, start: .earliest)
                while cursor.nextOffset < end {
                    let expected = cursor.nextOffset
                    let batch = try await cursor.next(maxBytes: 1024 * 1024)
                    guard batch.first?.offset == expected else {
                        throw StrataError(.corrupt, "replay expected offset \(expected)", topic: Self.topicName)
                    }
                }
            }
        }
        try await lake.close()
        return (rawBytes, seconds)
    }
}
