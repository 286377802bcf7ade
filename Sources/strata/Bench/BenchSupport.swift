import ArgumentParser
import Foundation
import Strata
import StrataFormat

/// What every scenario reports: one JSON line on stdout (for `tools/bench`) and a few lines of
/// text on stderr for people. Rates are decimal: 1 MB/s = 10^6 bytes per second.
struct BenchReport {
    let scenario: String
    /// The headline number `tools/bench` puts in its table.
    var value: Double
    var unit: String
    var fields: [String: Any] = [:]
    var summary: [String] = []

    func emit() {
        var object = fields
        object["type"] = "result"
        object["scenario"] = scenario
        object["value"] = value
        object["unit"] = unit
        print(jsonLine(object))
        fflush(nil)
        printError("== \(scenario): \(format(value)) \(unit)")
        for line in summary { printError("   \(line)") }
    }
}

/// A progress or detail line as JSON (`"type":"detail"`), ignored by the table.
func benchDetail(_ scenario: String, _ fields: [String: Any]) {
    var object = fields
    object["type"] = "detail"
    object["scenario"] = scenario
    print(jsonLine(object))
    fflush(nil)
}

func format(_ value: Double, digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// User plus system CPU seconds of the whole process so far: steadier than wall time on a
/// shared machine, so the reports carry both.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Times `body` with the monotonic clock.
func timed<T>(_ body: () async throws -> T) async rethrows -> (T, seconds: Double) {
    let start = monotonicSeconds()
    let result = try await body()
    return (result, monotonicSeconds() - start)
}

/// Times `body` with the monotonic clock and the process CPU clock.
func timedWithCPU<T>(_ body: () async throws -> T) async rethrows -> (T, seconds: Double, cpuSeconds: Double) {
    let (startWall, startCPU) = (monotonicSeconds(), cpuSeconds())
    let result = try await body()
    return (result, monotonicSeconds() - startWall, cpuSeconds() - startCPU)
}

func megabytesPerSecond(_ bytes: Int64, _ seconds: Double) -> Double {
    seconds > 0 ? Double(bytes) / 1e6 / seconds : 0
}

/// The `p`-th percentile (0...100) of `sorted`, nearest rank.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Deterministic benchmark records built from `Clickstream` (ARCHITECTURE.md §7: realistic JSON, seeded).
struct BenchData: Sendable {
    let stream: Clickstream

    init(seed: UInt64) { stream = Clickstream(seed: seed) }

    /// One clickstream event per record (about 200 bytes): what a clickstream topic holds.
    func event(_ index: Int64) -> ProducerRecord { stream.record(index) }

    /// A record of about 1 KiB: five consecutive events as one JSON array (a client that
    /// batches its events), keyed by the first event's user.
    func kibRecord(_ index: Int64) -> ProducerRecord {
        let events = (0 ..< Int64(Self.eventsPerKibRecord)).map {
            stream.record(index * Int64(Self.eventsPerKibRecord) + $0)
        }
        var value: [UInt8] = [UInt8(ascii: "[")]
        for (i, event) in events.enumerated() {
            if i > 0 { value.append(UInt8(ascii: ",")) }
            value += event.value ?? []
        }
        value.append(UInt8(ascii: "]"))
        return ProducerRecord(key: events[0].key, value: value, timestamp: stream.timestamp(index))
    }

    static let eventsPerKibRecord = 5

    /// Consecutive records starting at `first` until their keys and values reach `bytes`.
    static func batch(from first: Int64, bytes: Int, _ make: (Int64) -> ProducerRecord) -> [ProducerRecord] {
        var records: [ProducerRecord] = []
        var total = 0
        var index = first
        while total < bytes {
            let record = make(index)
            total += (record.key?.count ?? 0) + (record.value?.count ?? 0)
            records.append(record)
            index += 1
        }
        return records
    }
}

/// Options every scenario shares.
struct BenchOptions: ParsableArguments {
    @Option(
        help: "Work directory; scenarios create lakes under it (default: a new directory under /tmp, removed after).")
    var dir: String?
    @Flag(help: "Smaller sizes, so `tools/bench --quick` stays under 5 minutes.")
    var quick = false
    @Option(help: "MiB of data to write or offload (default: 1024, 256 with --quick).")
    var mib: Int?
    @Option(help: "Seed of the generated records.")
    var seed: UInt64 = 42
    @Flag(help: "Record the engine's metrics into a Prometheus registry, as `serve --metrics-listen` does (their cost).")
    var metrics = false
    @Flag(
        help: ArgumentHelp(
            "offload, replay-cold: seal the cold lake's frames with AES-256-GCM (a fixed bench key; the lake "
                + "DIR/cold-lake-encrypted), to measure encryption at rest against the plain lake."))
    var encrypted = false

    var bytesTarget: Int64 { Int64(mib ?? (quick ? 256 : 1024)) * 1024 * 1024 }
}

/// Opens a lake for a scenario: no background offload (the scenarios drive offload themselves,
/// and a background pass would race the timed one), engine log on stderr.
func openBenchLake(
    _ path: String, coldCacheBytes: Int? = nil, packSegmentBytesMax: Int? = nil, keyRing: ColdKeyRing? = nil,
    partitionMemoryBytes: Int? = nil
) throws -> Lake {
    var options = LakeOptions()
    if let keyRing { (options.keyRing, options.encryption) = (keyRing, .aes256gcm) }
    options.backgroundOffload = false
    if let coldCacheBytes { options.coldCacheBytes = coldCacheBytes }
    if let packSegmentBytesMax { options.packSegmentBytesMax = packSegmentBytesMax }
    if let partitionMemoryBytes { options.partitionMemoryBytes = partitionMemoryBytes }
    options.log = { printError("strata: \($0)") }
    return try Lake.open(path, options: options)
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Runs `python3 script arguments…` and returns the JSON object of its last stdout line; a
/// non-zero exit is an error carrying its stderr (read on its own thread, so a chatty helper
/// cannot fill its pipe while stdout is drained).
func runPythonJSON(_ script: String, _ arguments: [String]) throws -> [String: Any] {
    let name = (script as NSString).lastPathComponent
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script] + arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    nonisolated(unsafe) var stderr = Data()
    let drained = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        stderr = err.fileHandleForReading.readDataToEndOfFile()
        drained.signal()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw BenchError(
            "\(name) \(arguments.first ?? "") exited \(process.terminationStatus): \(String(decoding: stderr, as: UTF8.self))"
        )
    }
    let line = String(decoding: stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw BenchError("\(name) \(arguments.first ?? "") printed no JSON line: \(line)")
    }
    return object
}
