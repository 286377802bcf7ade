import Foundation
import Strata

/// append-sync-partitions (issue 16): `producers` tasks on as many partitions of one `sync` topic,
/// each appending one record at a time to its own partition, `appends` appends each. Every ack
/// is durable; what it measures is how many fsyncs those acks cost when they land in different
/// partitions (the lake journal's, which one fsync shares across partitions; each log's own
/// with `LakeOptions.journal` off). `tools/bench` divides the ack rate by fio's fsync
/// rate on the same disk, measured by the append-sync scenario (target ≥ 20×).
struct AppendSyncPartitionsBench {
    let options: BenchOptions
    let directory: String
    let producers: Int
    let appends: Int

    static let topicName = "bench-partitions"

    func run() async throws -> BenchReport {
        let path = directory + "/append-sync-partitions"
        removeTree(path)
        defer { removeTree(path) }
        let data = BenchData(seed: options.seed)
        let lake = try openBenchLake(path)
        var config = TopicConfig()
        config.durability = .sync
        _ = try lake.topic(Self.topicName, creatingWith: config, partitions: Int32(producers))
        // Open every partition (its directory and active segment) before the clock starts, and
        // build each producer's records: neither is the append path.
        let partitions = try (0 ..< producers).map { try lake.partition(Self.topicName, Int32($0)) }
        let perProducer = min(appends, 4096)
        let pools = (0 ..< producers).map { p in (0 ..< perProducer).map { data.event(Int64(p * perProducer + $0)) } }
        let fsyncCount = { lake.journalFsyncCount ?? partitions.reduce(0) { $0 + $1.fsyncCount } }
        let fsyncsBefore = fsyncCount()
        let appends = self.appends
        let start = monotonicSeconds()
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for (topic, pool) in zip(partitions, pools) {
                group.addTask {
                    var mine: [Double] = []
                    mine.reserveCapacity(appends)
                    for i in 0 ..< appends {
                        let sent = monotonicSeconds()
                        let result = try await topic.append([pool[i % pool.count]])
                        mine.append(monotonicSeconds() - sent)
                        guard result.firstOffset == Int64(i) else {
                            throw BenchError(
                                "\(topic.name): append \(i) was acknowledged at offset \(result.firstOffset)")
                        }
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        let elapsed = monotonicSeconds() - start
        let fsyncs = fsyncCount() - fsyncsBefore
        // Every acknowledged record is there, in its partition, after the lake closes and opens again.
        try await lake.close()
        let reopened = try openBenchLake(path)
        for p in 0 ..< producers {
            let end = try reopened.partition(Self.topicName, Int32(p)).highWatermark
            guard end == Int64(appends) else {
                throw BenchError("partition \(p) holds \(end) records after reopening, \(appends) were acknowledged")
            }
        }
        try await reopened.close()
        let sorted = latencies.sorted()
        let acks = sorted.count
        let ackRate = Double(acks) / elapsed
        let p50 = percentile(sorted, 50) * 1000, p99 = percentile(sorted, 99) * 1000
        let acksPerFsync = fsyncs > 0 ? Double(acks) / Double(fsyncs) : 0
        return BenchReport(
            scenario: "append-sync-partitions", value: ackRate, unit: "acks/s",
            fields: [
                "acks": acks, "seconds": elapsed, "producers": producers, "partitions": producers,
                "appendsPerProducer": appends, "fsyncs": fsyncs, "fsyncsPerSecond": Double(fsyncs) / elapsed,
                "acksPerFsync": acksPerFsync, "p50Ms": p50, "p99Ms": p99, "maxMs": (sorted.last ?? 0) * 1000,
            ],
            summary: [
                "\(acks) durable acks from \(producers) producers on \(producers) partitions in \(format(elapsed)) s, "
                    + "\(fsyncs) fdatasyncs (\(format(Double(fsyncs) / elapsed, digits: 0))/s, "
                    + "\(format(acksPerFsync, digits: 1)) acks each)",
                "ack latency p50 \(format(p50, digits: 3)) ms, p99 \(format(p99, digits: 3)) ms",
            ])
    }
}
