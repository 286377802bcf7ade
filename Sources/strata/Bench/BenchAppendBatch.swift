import Foundation
import Strata

/// append-batch: the Kafka front door's write path (`Topic.appendBatch` of pre-encoded batches)
/// against `append` of the same records, in one run, alternating, on `async` topics (time
/// includes the final fdatasync, as append-async). The value is the ratio batch/append of MB/s.
/// With `.sync` topics every append goes through the lake journal and waits for its fdatasync:
/// the rates are then the disk's, and the CPU seconds per MB of each path are what to compare.
extension AppendBench {
    func runBatchVersusAppend(durability: Durability = .async) async throws -> BenchReport {
        let path = directory + "/append-batch"
        removeTree(path)
        defer { removeTree(path) }
        let data = BenchData(seed: options.seed)
        var pool: [[ProducerRecord]] = []
        var next: Int64 = 0
        var poolBytes = 0
        while poolBytes < 16 * 1024 * 1024 {
            let batch = BenchData.batch(from: next, bytes: Self.batchBytes, data.kibRecord)
            next += Int64(batch.count)
            poolBytes += batch.reduce(0) { $0 + ($1.key?.count ?? 0) + ($1.value?.count ?? 0) }
            pool.append(batch)
        }
        // What a producer (or the Kafka codec) hands over: encoded once, outside the timing.
        let encoded = pool.map { batch in
            BatchCodec.encode(
                baseOffset: 0,
                records: batch.map {
                    Record(timestamp: $0.timestamp ?? 0, key: $0.key, value: $0.value, headers: $0.headers)
                })
        }
        let lake = try openBenchLake(path)
        var config = TopicConfig()
        config.durability = durability
        let target = options.bytesTarget
        var appendRates: [Double] = []
        var batchRates: [Double] = []
        var appendCpuPerMB: [Double] = []
        var batchCpuPerMB: [Double] = []
        for round in 0 ..< 3 {
            let records = try lake.topic("records-\(round)", creatingWith: config)
            var cpuBefore = cpuSeconds()
            let (_, recordSeconds) = try await timed {
                var written: Int64 = 0
                var i = 0
                while written < target {
                    try await records.append(pool[i % pool.count])
                    written += Int64(encoded[i % encoded.count].count)  // the same records, the same bytes
                    i += 1
                }
                try await records.flush()
            }
            let recordBytes = Int64(records.segments().reduce(0) { $0 + $1.bytes })
            appendCpuPerMB.append((cpuSeconds() - cpuBefore) / (Double(recordBytes) / 1e6))
            appendRates.append(megabytesPerSecond(recordBytes, recordSeconds))
            let batches = try lake.topic("batches-\(round)", creatingWith: config)
            cpuBefore = cpuSeconds()
            let (_, batchSeconds) = try await timed {
                var written: Int64 = 0
                var i = 0
                while written < target {
                    let bytes = encoded[i % encoded.count]
                    try await batches.appendBatch(bytes)
                    written += Int64(bytes.count)
                    i += 1
                }
                try await batches.flush()
            }
            let batchBytes = Int64(batches.segments().reduce(0) { $0 + $1.bytes })
            batchCpuPerMB.append((cpuSeconds() - cpuBefore) / (Double(batchBytes) / 1e6))
            batchRates.append(megabytesPerSecond(batchBytes, batchSeconds))
        }
        try await lake.close()
        let appendBest = appendRates.max() ?? 0
        let batchBest = batchRates.max() ?? 0
        let ratio = appendBest > 0 ? batchBest / appendBest : 0
        return BenchReport(
            scenario: "append-batch", value: ratio, unit: "x",
            fields: [
                "appendMBps": appendRates, "appendBatchMBps": batchRates, "appendBestMBps": appendBest,
                "appendBatchBestMBps": batchBest, "durability": durability.rawValue,
                "appendCpuMsPerMB": appendCpuPerMB.map { $0 * 1000 }, "appendBatchCpuMsPerMB": batchCpuPerMB.map { $0 * 1000 },
            ],
            summary: [
                "append of records: \(appendRates.map { format($0) }.joined(separator: ", ")) MB/s; "
                    + "appendBatch of the same batches pre-encoded: "
                    + "\(batchRates.map { format($0) }.joined(separator: ", ")) MB/s",
                "best of 3: appendBatch/append = \(format(ratio, digits: 3)); CPU ms per MB: append "
                    + "\(appendCpuPerMB.map { format($0 * 1000) }.joined(separator: ", ")), appendBatch "
                    + "\(batchCpuPerMB.map { format($0 * 1000) }.joined(separator: ", ")) (\(durability.rawValue) topics)",
            ])
    }
}
