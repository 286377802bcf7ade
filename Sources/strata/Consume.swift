import ArgumentParser
import Foundation
import Strata

/// `strata consume`: print records of a topic.
struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print records of a topic from an offset or a time, up to the high watermark.",
        discussion: "Without --from-offset or --from-time it starts at the oldest record."
    )

    @OptionGroup var lakeOption: LakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @Option(help: "Start at this offset.")
    var fromOffset: Int64?
    @Option(help: "Start at the first record with timestamp ≥ T (ms since 1970, or ISO 8601).")
    var fromTime: String?
    @Option(help: "Stop after N records.")
    var count: Int?
    @Option(help: "value: one line per record value; json: one JSON object per record.")
    var format: String = "value"
    @Flag(help: "Print to stderr one JSON line of cold-store requests, bytes and cache hits of this run.")
    var stats = false

    func validate() throws {
        if fromOffset != nil && fromTime != nil { throw ValidationError("use either --from-offset or --from-time, not both") }
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
        guard ["value", "json"].contains(format) else { throw ValidationError("--format must be value or json") }
        if let fromOffset, fromOffset < 0 { throw ValidationError("--from-offset must not be negative") }
    }

    func run() async throws {
        let lake = try lakeOption.open(background: false)
        do {
            try await consume(try lake.topic(topic))
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        if stats {
            let s = lake.coldStats
            printError(jsonLine(["blobRequests": s.blob.requests, "blobBytes": s.blob.bytesRead, "cacheHits": s.cacheHits]))
        }
    }

    private func consume(_ handle: Topic) async throws {
        let start: StartPosition
        if let fromOffset { start = .offset(fromOffset) }
        else if let fromTime { start = .timestamp(try parseTimestamp(fromTime, flag: "--from-time")) }
        else { start = .earliest }
        var cursor = try await Cursor(topic: handle, start: start)
        var remaining = count ?? Int.max
        var out = BufferedOutput()
        while remaining > 0 {
            let records = try await cursor.next()
            if records.isEmpty { break }
            for record in records.prefix(remaining) { out.write(line(for: record)) }
            remaining -= min(remaining, records.count)
        }
        out.flush()
    }

    private func line(for record: Record) -> String {
        if format == "value" {
            guard let value = record.value else { return "" }
            return String(decoding: value, as: UTF8.self)
        }
        var object: [String: Any] = ["offset": record.offset, "timestamp": record.timestamp,
                                     "key": displayValue(record.key), "value": displayValue(record.value)]
        if !record.headers.isEmpty {
            object["headers"] = record.headers.map { ["key": $0.key, "value": displayValue($0.value)] }
        }
        return jsonLine(object)
    }
}

/// Stdout with a large buffer: consume prints millions of lines.
struct BufferedOutput {
    private var buffer: [UInt8] = []

    mutating func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
