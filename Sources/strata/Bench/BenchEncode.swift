import Foundation
import Strata
import StrataExport

/// encode: what the text formats cost on top of the value format (issue 12, item 13). Two
/// measurements per format, in process CPU seconds (steadier than wall time on a shared machine;
/// the work is single-threaded), best of `rounds`, all in this run:
/// - `encode`: records already in memory, encoded into a 64 KiB buffer written to /dev/null;
/// - `consume`: the `strata consume` path, a cursor reading the topic from a lake, then the same
///   encoding, which is what a user waits for.
/// The headline is the larger of the json and csv ratios to the value format on the consume path.
struct EncodeBench {
    let options: BenchOptions
    let directory: String
    let recordCount: Int

    static let topicName = "bench-encode"
    static let formats: [RecordLineFormat] = [.value, .jsonLines, .csv]
    static let bufferBytes = 1 << 16

    func run() async throws -> BenchReport {
        let data = BenchData(seed: options.seed)
        let records = (0 ..< Int64(recordCount)).map { index in
            let event = data.event(index)
            return Record(offset: index, timestamp: event.timestamp ?? 0, key: event.key, value: event.value)
        }
        let lakePath = directory + "/encode-lake"
        removeTree(lakePath)
        let lake = try openBenchLake(lakePath)
        defer { removeTree(lakePath) }
        var config = TopicConfig()
        config.durability = .async
        let topic = try lake.topic(Self.topicName, creatingWith: config)
        for start in stride(from: 0, to: recordCount, by: 256) {
            try await topic.append((start ..< min(start + 256, recordCount)).map { data.event(Int64($0)) })
        }
        try await topic.flush()

        let sink = open("/dev/null", O_WRONLY | O_CLOEXEC)
        guard sink >= 0 else { throw BenchError("cannot open /dev/null") }
        defer { close(sink) }
        let rounds = options.quick ? 2 : 5
        var encodeSeconds: [RecordLineFormat: Double] = [:]
        var consumeSeconds: [RecordLineFormat: Double] = [:]
        var outputBytes: [RecordLineFormat: Int] = [:]
        for _ in 0 ..< rounds {
            // Alternate the formats inside each round, so a noisy moment hits all of them.
            for format in Self.formats {
                let (bytes, seconds) = Self.encode(records, format, to: sink)
                encodeSeconds[format] = min(encodeSeconds[format] ?? .infinity, seconds)
                outputBytes[format] = bytes
                let (count, readSeconds) = try await Self.consume(topic, format, to: sink)
                guard count == recordCount else { throw BenchError("consume read \(count) of \(recordCount) records") }
                consumeSeconds[format] = min(consumeSeconds[format] ?? .infinity, readSeconds)
            }
        }
        try await lake.close()
        return report(encodeSeconds: encodeSeconds, consumeSeconds: consumeSeconds, outputBytes: outputBytes)
    }

    /// Encodes every record into a reused buffer, flushed to `fd` at 64 KiB.
    static func encode(_ records: [Record], _ format: RecordLineFormat, to fd: Int32) -> (bytes: Int, seconds: Double) {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(bufferBytes * 2)
        var total = 0
        let start = cpuSeconds()
        var encoder = RecordEncoder(format)
        buffer += encoder.header
        for record in records {
            encoder.append(record, to: &buffer)
            if buffer.count >= bufferBytes { total += drain(&buffer, to: fd) }
        }
        total += drain(&buffer, to: fd)
        return (total, cpuSeconds() - start)
    }

    /// The consume path: a cursor from the oldest record to the high watermark, each batch of
    /// records encoded like `encode`.
    static func consume(_ topic: Topic, _ format: RecordLineFormat, to fd: Int32) async throws -> (Int, Double) {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(bufferBytes * 2)
        var count = 0
        let start = cpuSeconds()
        var cursor = try await Cursor(topic: topic, start: .earliest)
        var encoder = RecordEncoder(format)
        buffer += encoder.header
        while true {
            let records = try await cursor.next()
            if records.isEmpty { break }
            for record in records {
                encoder.append(record, to: &buffer)
                if buffer.count >= bufferBytes { _ = drain(&buffer, to: fd) }
            }
            count += records.count
        }
        _ = drain(&buffer, to: fd)
        return (count, cpuSeconds() - start)
    }

    static func drain(_ buffer: inout [UInt8], to fd: Int32) -> Int {
        let count = buffer.count
        _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        buffer.removeAll(keepingCapacity: true)
        return count
    }

    func report(
        encodeSeconds: [RecordLineFormat: Double], consumeSeconds: [RecordLineFormat: Double],
        outputBytes: [RecordLineFormat: Int]
    ) -> BenchReport {
        func ratio(_ table: [RecordLineFormat: Double], _ format: RecordLineFormat) -> Double {
            (table[format] ?? 0) / max(table[.value] ?? 0, 1e-9)
        }
        var fields: [String: Any] = ["records": recordCount]
        var summary: [String] = []
        for lines in Self.formats {
            let name = lines == .jsonLines ? "json" : lines.rawValue
            let encodeNs = (encodeSeconds[lines] ?? 0) * 1e9 / Double(recordCount)
            let consumeNs = (consumeSeconds[lines] ?? 0) * 1e9 / Double(recordCount)
            fields[name] = [
                "encodeNsPerRecord": encodeNs, "encodeRatio": ratio(encodeSeconds, lines),
                "consumeNsPerRecord": consumeNs, "consumeRatio": ratio(consumeSeconds, lines),
                "consumeCpuSeconds": consumeSeconds[lines] ?? 0, "outputBytes": outputBytes[lines] ?? 0,
            ]
            summary.append(
                "\(name): encode \(format(encodeNs, digits: 0)) ns/record "
                    + "(×\(format(ratio(encodeSeconds, lines))) value), consume "
                    + "\(format(consumeSeconds[lines] ?? 0, digits: 3)) CPU s for \(recordCount) records "
                    + "(×\(format(ratio(consumeSeconds, lines))) value), "
                    + "\(humanBytes(Int64(outputBytes[lines] ?? 0))) out")
        }
        let worst = max(ratio(consumeSeconds, .jsonLines), ratio(consumeSeconds, .csv))
        return BenchReport(
            scenario: "encode", value: worst, unit: "× value format (worst of json, csv; consume path)",
            fields: fields, summary: summary)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
