import Foundation
import Strata

/// kafka-produce and kafka-fetch (issue 13 §5): `strata serve` driven by a real client
/// (confluent-kafka, through `tools/kafka-bench.py`), each next to the engine path it wraps, in
/// the same run and on the same bytes:
/// - kafka-produce: acks=all produce of 1 KiB records in ~64 KiB batches, against `Topic.append`
///   of the same records in the same 64 KiB batches (target ratio ≥ 0.8);
/// - kafka-fetch: Fetch of an evicted topic from offset 0, against replay-cold of that very
///   topic (target ratio ≥ 1.0: Fetch ships whole batches, it decodes no record).
struct KafkaBench {
    let options: BenchOptions
    let directory: String
    /// `tools/kafka-bench.py`; nil: searched next to the binary and in the working directory.
    let helper: String?

    static let topicName = "bench-kafka"

    // MARK: - kafka-produce

    func runProduce() async throws -> BenchReport {
        let pool = buildPool()
        let poolPath = directory + "/kafka-produce-pool.bin"
        try writePool(pool, to: poolPath)
        defer { removeTree(poolPath) }
        var config = TopicConfig()
        config.durability = .async
        // No offload while measuring: the engine side runs without a background offloader.
        config.offloadLagMs = 3_600_000

        // The engine's own append path: the same records in the same batches, flushed at the end.
        let enginePath = directory + "/kafka-produce-engine"
        removeTree(enginePath)
        defer { removeTree(enginePath) }
        let lake = try openBenchLake(enginePath)
        let topic = try lake.topic(Self.topicName, creatingWith: config)
        let target = options.bytesTarget
        var enginePayload: Int64 = 0
        var engineRecords: Int64 = 0
        let (_, engineSeconds, engineCPU) = try await timedWithCPU {
            var round = 0
            while enginePayload < target {
                let batch = pool[round % pool.count]
                try await topic.append(batch)
                enginePayload += batch.reduce(0) { $0 + Int64(($1.key?.count ?? 0) + ($1.value?.count ?? 0)) }
                engineRecords += Int64(batch.count)
                round += 1
            }
            try await topic.flush()
        }
        try await lake.close()

        // Through Kafka: the same pool, cycled by confluent-kafka against `strata serve`.
        let servePath = directory + "/kafka-produce-serve"
        removeTree(servePath)
        defer { removeTree(servePath) }
        do {
            let lake = try openBenchLake(servePath)
            _ = try lake.topic(Self.topicName, creatingWith: config)
            try await lake.close()
        }
        let serve = try ServeProcess.start(lake: servePath, log: directory + "/kafka-produce-serve.log")
        let serverCPUBefore = serve.cpuSeconds()
        let client: [String: Any]
        do {
            client = try runHelper([
                "produce", "--bootstrap", serve.address, "--topic", Self.topicName, "--pool", poolPath,
                "--bytes", String(target),
            ])
        } catch {
            serve.forceKill()
            throw error
        }
        let serverCPU = serve.cpuSeconds() - serverCPUBefore
        try serve.stop()
        let kafkaSeconds = client["seconds"] as? Double ?? 0
        let kafkaPayload = (client["payloadBytes"] as? NSNumber)?.int64Value ?? 0
        let kafkaRecords = (client["records"] as? NSNumber)?.int64Value ?? 0
        // Every acknowledged record is in the log.
        let check = try openBenchLake(servePath)
        let stored = try check.topic(Self.topicName).highWatermark
        try await check.close()
        guard stored == kafkaRecords else {
            throw StrataError(.corrupt, "kafka-produce: \(kafkaRecords) records acknowledged, \(stored) in the log")
        }
        let engineRate = megabytesPerSecond(enginePayload, engineSeconds)
        let kafkaRate = megabytesPerSecond(kafkaPayload, kafkaSeconds)
        let ratio = engineRate > 0 ? kafkaRate / engineRate : 0
        return BenchReport(
            scenario: "kafka-produce", value: kafkaRate, unit: "MB/s payload",
            fields: [
                "kafkaMBps": kafkaRate, "engineMBps": engineRate, "ratio": ratio,
                "kafkaSeconds": kafkaSeconds, "kafkaRecords": kafkaRecords, "kafkaPayloadBytes": kafkaPayload,
                "clientCpuSeconds": client["cpuSeconds"] ?? 0, "serverCpuSeconds": serverCPU,
                "engineSeconds": engineSeconds,
                "engineCpuSeconds": engineCPU, "engineRecords": engineRecords, "enginePayloadBytes": enginePayload,
            ],
            summary: [
                "confluent-kafka acks=all, 64 KiB batches: \(kafkaRecords) records, \(humanBytes(kafkaPayload)) in "
                    + "\(format(kafkaSeconds)) s = \(format(kafkaRate)) MB/s "
                    + "(client CPU \(format(client["cpuSeconds"] as? Double ?? 0)) s, "
                    + "serve CPU \(format(serverCPU)) s)",
                "engine Topic.append, same batches: \(engineRecords) records, \(humanBytes(enginePayload)) in "
                    + "\(format(engineSeconds)) s = \(format(engineRate)) MB/s; ratio \(format(ratio))",
            ])
    }

    /// 1 KiB records (BenchData.kibRecord) in batches of at least 64 KiB, 16 MiB in all: cycled
    /// by both sides, so generating JSON is no side's cost.
    func buildPool() -> [[ProducerRecord]] {
        let data = BenchData(seed: options.seed)
        var pool: [[ProducerRecord]] = []
        var next: Int64 = 0
        var bytes = 0
        while bytes < 16 * 1024 * 1024 {
            let batch = BenchData.batch(from: next, bytes: AppendBench.batchBytes, data.kibRecord)
            next += Int64(batch.count)
            bytes += batch.reduce(0) { $0 + ($1.key?.count ?? 0) + ($1.value?.count ?? 0) }
            pool.append(batch)
        }
        return pool
    }

    /// The pool as `tools/kafka-bench.py` reads it: per record u32le key length (0xffffffff:
    /// null), key, u32le value length, value.
    func writePool(_ pool: [[ProducerRecord]], to path: String) throws {
        var out: [UInt8] = []
        func field(_ bytes: [UInt8]?) {
            let length = bytes.map { UInt32($0.count) } ?? UInt32.max
            withUnsafeBytes(of: length.littleEndian) { out += $0 }
            if let bytes { out += bytes }
        }
        for batch in pool {
            for record in batch {
                field(record.key)
                field(record.value)
            }
        }
        try Data(out).write(to: URL(fileURLWithPath: path))
    }

    // MARK: - kafka-fetch

    /// replay-cold of the shared cold lake (the baseline, in this run), then a Kafka consumer
    /// reading the same topic from offset 0 through `strata serve` on that lake. Both rates are
    /// MB/s of raw segment bytes.
    func runFetch() async throws -> BenchReport {
        let cold = ColdBench(options: options, directory: directory)
        let replay = try await cold.runReplay()
        let lakePath = cold.lakePath
        let end: Int64
        let rawBytes: Int64
        do {
            let lake = try cold.openColdLake()
            let topic = try lake.topic(ColdBench.topicName)
            end = topic.highWatermark
            rawBytes = try await topic.coldSegments().reduce(0) { $0 + $1.rawBytes }
            let coldEnd = try await topic.coldSegments().last?.lastOffset ?? 0
            let local = topic.localStartOffset
            try await lake.close()
            guard local >= coldEnd else {
                throw StrataError(
                    .invalidArgument, "\(lakePath) still holds local segments; rerun `strata bench offload`")
            }
        }
        let serve = try ServeProcess.start(lake: lakePath, log: directory + "/kafka-fetch-serve.log")
        let serverCPUBefore = serve.cpuSeconds()
        let client: [String: Any]
        do {
            client = try runHelper([
                "fetch", "--bootstrap", serve.address, "--topic", ColdBench.topicName, "--end", String(end),
            ])
        } catch {
            serve.forceKill()
            throw error
        }
        let serverCPU = serve.cpuSeconds() - serverCPUBefore
        try serve.stop()
        let seconds = client["seconds"] as? Double ?? 0
        let records = (client["records"] as? NSNumber)?.int64Value ?? 0
        guard records == end else {
            throw StrataError(.corrupt, "kafka-fetch: \(records) records read, the topic holds \(end)")
        }
        let kafkaRate = megabytesPerSecond(rawBytes, seconds)
        let replayRate = replay.value
        let ratio = replayRate > 0 ? kafkaRate / replayRate : 0
        return BenchReport(
            scenario: "kafka-fetch", value: kafkaRate, unit: "MB/s raw",
            fields: [
                "kafkaMBps": kafkaRate, "replayColdMBps": replayRate, "ratio": ratio, "rawBytes": rawBytes,
                "records": records, "kafkaSeconds": seconds, "clientCpuSeconds": client["cpuSeconds"] ?? 0,
                "serverCpuSeconds": serverCPU, "replayCpuSeconds": replay.fields["cpuSeconds"] ?? 0,
                "replaySeconds": replay.fields["seconds"] ?? 0,
            ],
            summary: [
                "\(client["client"] as? String ?? "confluent-kafka") from offset 0 of the evicted topic: \(records) records, \(humanBytes(rawBytes)) raw "
                    + "in \(format(seconds)) s = \(format(kafkaRate)) MB/s "
                    + "(client CPU \(format(client["cpuSeconds"] as? Double ?? 0)) s, "
                    + "serve CPU \(format(serverCPU)) s)",
                "replay-cold of the same topic: \(format(replayRate)) MB/s; ratio \(format(ratio))",
            ])
    }

    // MARK: - the helper script

    func helperPath() throws -> String {
        if let helper { return helper }
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = (exe as NSString).deletingLastPathComponent
            for _ in 0 ..< 6 {
                candidates.append(dir + "/tools/kafka-bench.py")
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/tools/kafka-bench.py")
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw StrataError(.notFound, "tools/kafka-bench.py not found (pass --kafka-helper PATH)")
        }
        return found
    }

    /// Runs the helper with python3 and returns its JSON line; a non-zero exit is an error
    /// carrying its stderr.
    func runHelper(_ arguments: [String]) throws -> [String: Any] {
        try runPythonJSON(try helperPath(), arguments)
    }
}

/// `strata serve` on a lake, started from this very binary on a free loopback port.
struct ServeProcess {
    let process: Process
    let address: String
    /// The TLS listener's address, when `arguments` gave serve a certificate (kafka-tls).
    var tlsAddress: String? = nil

    /// `$STRATA_SERVE_BIN` when set (another build to measure), else this process's own binary.
    /// `arguments` go after the lake and listen address (kafka-tls: the TLS listener's flags).
    static func start(lake: String, log: String, arguments: [String] = []) throws -> ServeProcess {
        let exe =
            ProcessInfo.processInfo.environment["STRATA_SERVE_BIN"]
            ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let stdoutPath = log + ".out"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["serve", "--lake", lake, "--listen", "127.0.0.1:0"] + arguments
        let wantsTLS = arguments.contains("--tls-cert")
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        // Wait for the line `listening on HOST:PORT` (and `listening tls on HOST:PORT`; 30 s at most).
        func address(after prefix: String, in text: String) -> String? {
            text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }).map {
                $0.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
            }
        }
        let deadline = monotonicSeconds() + 30
        while monotonicSeconds() < deadline {
            if let text = try? String(contentsOfFile: stdoutPath, encoding: .utf8),
                let plain = address(after: "listening on ", in: text)
            {
                let tls = address(after: "listening tls on ", in: text)
                if !wantsTLS || tls != nil { return ServeProcess(process: process, address: plain, tlsAddress: tls) }
            }
            if !process.isRunning { break }
            usleep(50_000)
        }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw StrataError(
            .io,
            "strata serve did not print 'listening on' within 30 s (status \(process.terminationStatus)): \(stderr)")
    }

    /// User plus system CPU seconds serve has used so far (/proc/PID/stat), so a report can tell
    /// the server's share from the client's on the shared cores.
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after "pid (comm)": state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, then the exit status must be 0 (serve flushes and closes the lake).
    func stop() throws {
        process.terminate()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StrataError(.io, "strata serve exited \(process.terminationStatus) on SIGTERM")
        }
    }

    func forceKill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
