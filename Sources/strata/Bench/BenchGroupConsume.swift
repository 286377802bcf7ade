import Foundation
import Strata

/// group-consume (issue 14): four consumers in one group draining a 4-partition topic held wholly in
/// the cold tier through `strata serve`, against replay-cold of the same partitions (a cursor per
/// partition, one after the other, as replay-cold reads its topic), in the same run. Both rates
/// are MB/s of raw segment bytes; the target ratio is ≥ 0.9 in aggregate. The consumers are kcat
/// `-G` processes (librdkafka in C, through `tools/kafka-bench.py group`): four Python
/// interpreters would share the two cores with serve and measure themselves. The report also
/// carries the time from a member's departure (SIGTERM: kcat closes and leaves the group) to a
/// remaining member's first record after the rebalance.
struct GroupConsumeBench {
    let options: BenchOptions
    let directory: String
    /// `tools/kafka-bench.py`; nil: searched as the Kafka benches do.
    let helper: String?

    static let topicName = "bench-group"
    static let partitions: Int32 = 4

    var lakePath: String { directory + "/group-lake" }
    /// Written once every partition is wholly cold; holds the produced byte target.
    var readyPath: String { lakePath + "/bench-ready" }

    func run() async throws -> BenchReport {
        try await ensureLake()
        let (replayRate, replaySeconds, replayCPU, ends, rawBytes) = try await replay()
        let serve = try ServeProcess.start(lake: lakePath, log: directory + "/group-consume-serve.log")
        let serverCPUBefore = serve.cpuSeconds()
        let client: [String: Any]
        do {
            client = try KafkaBench(options: options, directory: directory, helper: helper).runHelper([
                "group", "--bootstrap", serve.address, "--topic", Self.topicName,
                "--ends", ends.map(String.init).joined(separator: ","), "--members", String(Self.partitions),
            ])
        } catch {
            serve.forceKill()
            throw error
        }
        let serverCPU = serve.cpuSeconds() - serverCPUBefore
        try serve.stop()
        let seconds = client["seconds"] as? Double ?? 0
        let records = (client["records"] as? NSNumber)?.int64Value ?? 0
        let total = ends.reduce(0, +)
        guard records == total else {
            throw StrataError(.corrupt, "group-consume: \(records) records read, the topic holds \(total)")
        }
        let groupRate = megabytesPerSecond(rawBytes, seconds)
        let ratio = replayRate > 0 ? groupRate / replayRate : 0
        let departure = client["departureSeconds"] as? Double ?? 0
        return BenchReport(
            scenario: "group-consume", value: groupRate, unit: "MB/s raw",
            fields: [
                "groupMBps": groupRate, "replayColdMBps": replayRate, "ratio": ratio, "rawBytes": rawBytes,
                "records": records, "groupSeconds": seconds, "members": client["members"] ?? [],
                "departureSeconds": departure, "heartbeatMs": client["heartbeatMs"] ?? 0,
                "clientCpuSeconds": client["cpuSeconds"] ?? 0, "serverCpuSeconds": serverCPU,
                "replaySeconds": replaySeconds, "replayCpuSeconds": replayCPU,
            ],
            summary: [
                "\(Self.partitions) kcat -G members of one group, \(Self.partitions) evicted partitions: \(records) "
                    + "records, \(humanBytes(rawBytes)) raw in \(format(seconds)) s = \(format(groupRate)) MB/s "
                    + "(clients' CPU \(format(client["cpuSeconds"] as? Double ?? 0)) s, serve CPU "
                    + "\(format(serverCPU)) s)",
                "replay-cold of the same partitions, one after the other: \(format(replayRate)) MB/s; "
                    + "ratio \(format(ratio))",
                "a member's departure (close) to the group consuming again: \(format(departure, digits: 3)) s "
                    + "(heartbeat.interval.ms \(client["heartbeatMs"] ?? 0))",
            ])
    }

    /// Builds the lake unless a previous run left it at this size: `--mib` of clickstream events
    /// spread evenly over the partitions (`async`, default segments), sealed, offloaded, evicted.
    func ensureLake() async throws {
        let stamp = "\(options.bytesTarget) \(options.seed)\n"
        if (try? String(contentsOfFile: readyPath, encoding: .utf8)) == stamp { return }
        printError("bench: building the group lake \(lakePath) (produce \(Self.partitions) partitions, offload, evict)")
        removeTree(lakePath)
        let lake = try openBenchLake(lakePath)
        var config = TopicConfig()
        config.durability = .async
        _ = try lake.topic(Self.topicName, creatingWith: config, partitions: Self.partitions)
        let data = BenchData(seed: options.seed)
        var next: Int64 = 0
        let perPartition = options.bytesTarget / Int64(Self.partitions)
        for partition in 0 ..< Self.partitions {
            let topic = try lake.partition(Self.topicName, partition)
            var written: Int64 = 0
            while written < perPartition {
                let batch = (next ..< next + Int64(ColdBench.batchRecords)).map(data.event)
                try await topic.append(batch)
                next += Int64(batch.count)
                written += batch.reduce(0) { $0 + Int64(($1.key?.count ?? 0) + ($1.value?.count ?? 0)) }
            }
            try await topic.flush()
        }
        _ = try await lake.offload(topic: Self.topicName, seal: true, evict: true)
        try await lake.close()
        try Data(stamp.utf8).write(to: URL(fileURLWithPath: readyPath))
    }

    /// replay-cold's read (a cursor from offset 0, read-ahead on, every record decoded and every
    /// frame checked) of each partition in turn on a freshly opened lake. Returns MB/s raw, seconds,
    /// CPU seconds, each partition's high watermark and the raw bytes of all.
    private func replay() async throws -> (Double, Double, Double, [Int64], Int64) {
        let lake = try openBenchLake(lakePath)
        var ends: [Int64] = []
        var rawBytes: Int64 = 0
        var topics: [Topic] = []
        for partition in 0 ..< Self.partitions {
            let topic = try lake.partition(Self.topicName, partition)
            let cold = try await topic.coldSegments()
            guard topic.localStartOffset >= (cold.last?.lastOffset ?? 0) else {
                throw StrataError(
                    .invalidArgument, "\(lakePath) still holds local segments of \(topic.name); remove it")
            }
            rawBytes += cold.reduce(0) { $0 + $1.rawBytes }
            ends.append(topic.highWatermark)
            topics.append(topic)
        }
        let (_, seconds, cpu) = try await timedWithCPU {
            for (topic, end) in zip(topics, ends) {
                var cursor = try await Cursor(topic: topic, start: .earliest)
                while cursor.nextOffset < end {
                    let expected = cursor.nextOffset
                    let batch = try await cursor.next(maxBytes: 1024 * 1024)
                    guard batch.first?.offset == expected, batch.last?.offset == expected + Int64(batch.count) - 1
                    else {
                        throw StrataError(.corrupt, "replay expected offset \(expected)", topic: topic.name)
                    }
                }
            }
        }
        try await lake.close()
        return (megabytesPerSecond(rawBytes, seconds), seconds, cpu, ends, rawBytes)
    }
}
