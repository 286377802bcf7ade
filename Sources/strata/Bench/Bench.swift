import ArgumentParser
import CoreMetrics
import Foundation
import Prometheus
import Strata
import StrataServer

/// The scenarios of `strata bench` (issue 7, ARCHITECTURE.md §7).
enum BenchScenario: String, CaseIterable, ExpressibleByArgument {
    case appendAsync = "append-async"
    case appendSync = "append-sync"
    case appendBatch = "append-batch"
    case offload
    case replayCold = "replay-cold"
    case replayColdBatches = "replay-cold-batches"
    case seekCold = "seek-cold"
    case s3Transfer = "s3-transfer"
    case encode
    case kafkaProduce = "kafka-produce"
    case kafkaFetch = "kafka-fetch"
    case kafkaTLS = "kafka-tls"
    case groupConsume = "group-consume"
    case manyPartitions = "many-partitions"
    case appendSyncPartitions = "append-sync-partitions"
    case tableWrite = "table-write"
    case tableQuery = "table-query"
}

/// `strata bench <scenario>`: measures one engine path. The baselines (dd, fio, zstd, boto3)
/// run in `tools/bench`, which prints the ratios; this command only measures Strata.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure one engine path on generated clickstream data.",
        discussion: """
            Prints one JSON line {"type":"result","scenario":…,"value":…,"unit":…,…} on stdout (plus \
            "detail" lines) and a summary on stderr. Scenarios: \
            append-async (1 KiB records, 64 KiB batches, MB/s written), \
            append-sync (concurrent single-record sync appends: durable acks/s, fsyncs, p50/p99 ack latency), \
            append-batch (appendBatch of pre-encoded 64 KiB batches against append of the same records: ratio), \
            offload (seal, encode, store in the filesystem cold tier: MB/s of raw segment bytes), \
            replay-cold (sequential read of a topic held only in the filesystem cold tier: MB/s raw), \
            replay-cold-batches (readBatches of that topic against replay-cold's decoded records: ratio), \
            seek-cold (random offsets in cold objects: requests, bytes and latency per seek, with cold caches \
            and with footers cached), \
            s3-transfer (64 MiB objects to and from the S3 endpoint of the AWS_* environment, bucket \
            $STRATA_S3_BENCH_BUCKET or $STRATA_S3_TEST_BUCKET), \
            encode (--records clickstream records as consume's value, json and csv formats: ns per record and \
            the ratio to the value format, encoding alone and on the consume path from a lake), \
            kafka-produce (confluent-kafka acks=all through `strata serve` against Topic.append of the same \
            64 KiB batches: MB/s and the ratio), \
            kafka-fetch (a Kafka consumer reading the evicted cold-lake topic from offset 0 through `strata serve` \
            against replay-cold of it: MB/s raw and the ratio; both need python3 with confluent-kafka and \
            tools/kafka-bench.py), \
            kafka-tls (produce and fetch through serve's TLS listener against its plaintext listener, same \
            process and records, a self-signed certificate made with openssl: the lower ratio TLS/plaintext; \
            issue 18), \
            group-consume (four kcat -G members of one group draining a 4-partition evicted topic through \
            `strata serve` against replay-cold of the same partitions: MB/s raw, the ratio, and the time from a \
            member's departure to the group consuming again; needs kcat). \
            many-partitions (--partitions one-partition topics x --records small records, one append per record: \
            create and append rates, memory, descriptors, local files and bytes, close and reopen time, random \
            first-record reads, offload time, cold objects and PUTs; issue 16). \
            append-sync-partitions (--producers tasks on as many partitions of one sync topic, --appends \
            single-record appends each: durable acks/s and fsyncs; issue 16). \
            table-write (the table writer's CPU against the cold encode of the same segments: extra CPU ratio, \
            Parquet bytes against cold-object bytes; issue 15). \
            table-query (a DuckDB aggregate over the table's Parquet files against the same over the JSON lines \
            export of the same records: speed-up; needs python3 with duckdb and tools/table-query-bench.py). \
            offload, replay-cold and seek-cold share the lake DIR/cold-lake: the cold scenarios build it when \
            it is missing. \
            tools/bench runs every scenario with its baseline and prints the ratios.

            Example:
              strata bench append-async --quick
            """
    )

    @Argument(
        help: ArgumentHelp(
            "Scenario: \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", ")).",
            valueName: "scenario"))
    var scenario: BenchScenario
    @OptionGroup var options: BenchOptions
    @Option(help: "append-sync, append-sync-partitions: concurrent producers (and partitions).")
    var producers: Int = 64
    @Option(help: "append-sync: seconds to run (default 10, 5 with --quick).")
    var seconds: Double?
    @Option(help: "seek-cold: seeks per mode (default 200, 50 with --quick).")
    var seeks: Int?
    @Option(
        help: "encode: records to encode (default 200000, 50000 with --quick); many-partitions: per partition (10).")
    var records: Int?
    @Option(help: "many-partitions: topics of one partition each (default 10000, 2000 with --quick).")
    var partitions: Int?
    @Flag(
        help:
            "many-partitions: measure everything but the offload of every partition (at 100,000 and more it is hours: each partition still commits a manifest and a table of its own).")
    var skipOffload = false
    @Flag(
        help:
            "many-partitions: after the offload, delete three of every four topics and compact the packed objects they leave mostly dead (strata compact).")
    var compact = false
    @Option(
        help:
            "many-partitions: LakeOptions.partitionMemoryBytes in MiB, the open logs' memory budget (default: the lake's, 256).")
    var partitionMemoryMib: Int?
    @Flag(
        help:
            "append-batch: sync topics, whose appends go through the lake journal (one appender: each append waits for its fdatasync; compare CPU per MB).")
    var sync = false
    @Option(help: "kafka-produce, kafka-fetch, group-consume: the client script (default: tools/kafka-bench.py).")
    var kafkaHelper: String?
    @Option(help: "append-sync-partitions: appends per producer (default 2000, 500 with --quick).")
    var appends: Int?
    @Option(
        help:
            "table-write, table-query: engine (the lake's table writer, Lake.rebuildTable; the default) or direct (RecordTableWriter alone on the cold records)."
    )
    var tableWriter: BenchTableWriter = .engine
    @Option(help: "table-query: the DuckDB script (default: tools/table-query-bench.py).")
    var tableHelper: String?

    func validate() throws {
        guard producers > 0, producers <= 4096 else { throw ValidationError("--producers must be in 1...4096") }
        if let mib, mib <= 0 { throw ValidationError("--mib must be positive") }
        if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
        if let seeks, seeks <= 0 { throw ValidationError("--seeks must be positive") }
        if let records, records <= 0 { throw ValidationError("--records must be positive") }
        if let partitions, partitions <= 0 { throw ValidationError("--partitions must be positive") }
        if let appends, appends <= 0 { throw ValidationError("--appends must be positive") }
    }

    private var mib: Int? { options.mib }

    func run() async throws {
        if options.metrics { MetricsSystem.bootstrap(StrataPrometheus.factory(registry: PrometheusCollectorRegistry())) }
        let keep = options.dir != nil
        let directory = options.dir ?? NSTemporaryDirectory() + "strata-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if !keep { removeTree(directory) } }
        let report: BenchReport
        switch scenario {
        case .appendAsync: report = try await AppendBench(options: options, directory: directory).runAsync()
        case .appendSync:
            report = try await AppendBench(options: options, directory: directory)
                .runSync(producers: producers, seconds: seconds ?? (options.quick ? 5 : 10))
        case .appendBatch:
            report = try await AppendBench(options: options, directory: directory)
                .runBatchVersusAppend(durability: sync ? .sync : .async)
        case .offload: report = try await ColdBench(options: options, directory: directory).runOffload()
        case .replayCold: report = try await ColdBench(options: options, directory: directory).runReplay()
        case .replayColdBatches:
            report = try await ColdBench(options: options, directory: directory).runReplayBatches()
        case .seekCold:
            report = try await ColdBench(options: options, directory: directory).runSeek(
                seeks: seeks ?? (options.quick ? 50 : 200))
        case .s3Transfer:
            let bucket =
                ProcessInfo.processInfo.environment["STRATA_S3_BENCH_BUCKET"]
                ?? ProcessInfo.processInfo.environment["STRATA_S3_TEST_BUCKET"] ?? "strata-bench"
            report = try await S3Bench(options: options, bucket: bucket, rounds: options.quick ? 2 : 3).run()
        case .encode:
            report = try await EncodeBench(
                options: options, directory: directory,
                recordCount: records ?? (options.quick ? 50_000 : 200_000)
            ).run()
        case .kafkaProduce:
            report = try await KafkaBench(options: options, directory: directory, helper: kafkaHelper).runProduce()
        case .kafkaFetch:
            report = try await KafkaBench(options: options, directory: directory, helper: kafkaHelper).runFetch()
        case .kafkaTLS:
            report = try await KafkaTLSBench(options: options, directory: directory, helper: kafkaHelper).run()
        case .groupConsume:
            report = try await GroupConsumeBench(options: options, directory: directory, helper: kafkaHelper).run()
        case .manyPartitions:
            report = try await ManyPartitionsBench(
                options: options, directory: directory, partitions: partitions ?? (options.quick ? 2_000 : 10_000),
                records: records ?? 10, offload: !skipOffload, partitionMemoryBytes: partitionMemoryMib.map { $0 << 20 },
                compact: compact && !skipOffload
            ).run()
        case .appendSyncPartitions:
            report = try await AppendSyncPartitionsBench(
                options: options, directory: directory, producers: producers,
                appends: appends ?? (options.quick ? 500 : 2_000)
            ).run()
        case .tableWrite:
            report = try await TableBench(
                options: options, directory: directory, writer: tableWriter, helper: tableHelper
            )
            .runWrite()
        case .tableQuery:
            report = try await TableBench(
                options: options, directory: directory, writer: tableWriter, helper: tableHelper
            )
            .runQuery()
        }
        report.emit()
    }
}
