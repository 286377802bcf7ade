import Foundation
import Strata
import Synchronization

/// append-async and append-sync: the hot write path.
struct AppendBench {
    let options: BenchOptions
    let directory: String

    static let topicName = "bench-append"
    /// Batches of at least this many key and value bytes (issue 7: ≥ 64 KiB).
    static let batchBytes = 64 * 1024

    /// 1 KiB records in ≥ 64 KiB batches to one `async` topic; the time includes the final
    /// fdatasync (as `dd conv=fdatasync` does), so both sides end with the bytes on disk.
    func runAsync() async throws -> BenchReport {
        let path = directory + "/append-async"
        removeTree(path)
        defer { removeTree(path) }
        let data = BenchData(seed: options.seed)
        // Generating JSON is the producer's cost, not the engine's: build a pool of batches
        // first and cycle it, restamping timestamps so they keep increasing.
        var pool: [[ProducerRecord]] = []
        var next: Int64 = 0
        var poolBytes = 0
        while poolBytes < 16 * 1024 * 1024 {
            let batch = BenchData.batch(from: next, bytes: Self.batchBytes, data.kibRecord)
            next += Int64(batch.count)
            poolBytes += batch.reduce(0) { $0 + ($1.key?.count ?? 0) + ($1.value?.count ?? 0) }
            pool.append(batch)
        }
        let poolRecords = pool.reduce(0) { $0 + $1.count }
        let poolPayload = pool.map { $0.reduce(Int64(0)) { $0 + Int64(($1.key?.count ?? 0) + ($1.value?.count ?? 0)) } }
        let lake = try openBenchLake(path)
        var config = TopicConfig()
        config.durability = .async
        let topic = try lake.topic(Self.topicName, creatingWith: config)
        let target = options.bytesTarget
        var payload: Int64 = 0
        var records: Int64 = 0
        var batches = 0
        let (_, seconds, cpu) = try await timedWithCPU {
            var round = 0
            while payload < target {
                // Restamped in place, as a producer reusing its buffers would: a copy of the batch
                // (retaining every key and value) per append was the producer's cost, timed.
                let slot = round % pool.count
                for i in pool[slot].indices { pool[slot][i].timestamp = data.stream.timestamp(records + Int64(i)) }
                try await topic.append(pool[slot])
                payload += poolPayload[slot]
                records += Int64(pool[slot].count)
                batches += 1
                round += 1
            }
            try await topic.flush()
        }
        let written = Int64(topic.segments().reduce(0) { $0 + $1.bytes })
        let fsyncs = topic.fsyncCount
        try await lake.close()
        let rate = megabytesPerSecond(written, seconds)
        return BenchReport(
            scenario: "append-async", value: rate, unit: "MB/s",
            fields: [
                "bytes": written, "payloadBytes": payload, "records": records, "batches": batches,
                "seconds": seconds, "recordBytesMean": Double(poolBytes) / Double(poolRecords),
                "payloadMBps": megabytesPerSecond(payload, seconds), "fsyncs": fsyncs, "cpuSeconds": cpu,
            ],
            summary: [
                "\(records) records (mean \(format(Double(poolBytes) / Double(poolRecords), digits: 0)) B) in "
                    + "\(batches) batches, "
                    + "\(humanBytes(written)) of segments in \(format(seconds)) s (durable at the end)",
                "payload \(format(megabytesPerSecond(payload, seconds))) MB/s, \(fsyncs) fdatasyncs (rolls and the "
                    + "final flush), "
                    + "\(format(cpu)) CPU s",
            ])
    }

    /// `producers` tasks each appending one record at a time to one `sync` topic for `seconds`:
    /// every ack is durable, group commit shares the fdatasyncs.
    func runSync(producers: Int, seconds: Double) async throws -> BenchReport {
        let path = directory + "/append-sync"
        removeTree(path)
        defer { removeTree(path) }
        let data = BenchData(seed: options.seed)
        let lake = try openBenchLake(path)
        var config = TopicConfig()
        config.durability = .sync
        let topic = try lake.topic(Self.topicName, creatingWith: config)
        // Every producer appends its own pre-built records: generation stays out of the timing.
        let perProducer = 4096
        let pools = (0 ..< producers).map { p in (0 ..< perProducer).map { data.event(Int64(p * perProducer + $0)) } }
        let fsyncsBefore = topic.fsyncCount
        let start = monotonicSeconds()
        let deadline = start + seconds
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for pool in pools {
                group.addTask {
                    var mine: [Double] = []
                    mine.reserveCapacity(64 * 1024)
                    var i = 0
                    while monotonicSeconds() < deadline {
                        let sent = monotonicSeconds()
                        try await topic.append([pool[i % pool.count]])
                        mine.append(monotonicSeconds() - sent)
                        i += 1
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        let elapsed = monotonicSeconds() - start
        let fsyncs = topic.fsyncCount - fsyncsBefore
        try await lake.close()
        let sorted = latencies.sorted()
        let acks = sorted.count
        let ackRate = Double(acks) / elapsed
        let p50 = percentile(sorted, 50) * 1000, p99 = percentile(sorted, 99) * 1000
        return BenchReport(
            scenario: "append-sync", value: ackRate, unit: "acks/s",
            fields: [
                "acks": acks, "seconds": elapsed, "producers": producers, "fsyncs": fsyncs,
                "fsyncsPerSecond": Double(fsyncs) / elapsed,
                "acksPerFsync": fsyncs > 0 ? Double(acks) / Double(fsyncs) : 0,
                "p50Ms": p50, "p99Ms": p99, "maxMs": (sorted.last ?? 0) * 1000,
            ],
            summary: [
                "\(acks) durable acks from \(producers) producers in \(format(elapsed)) s, \(fsyncs) fdatasyncs "
                    + "(\(format(Double(fsyncs) / elapsed, digits: 0))/s, "
                    + "\(format(fsyncs > 0 ? Double(acks) / Double(fsyncs) : 0, digits: 1)) acks each)",
                "ack latency p50 \(format(p50, digits: 3)) ms, p99 \(format(p99, digits: 3)) ms",
            ])
    }
}
