import ArgumentParser
import Dispatch
import Foundation
import Strata
import StrataExport
import Synchronization

/// `strata consume`: print records of a topic.
struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print records of a topic from an offset or a time, up to the high watermark (or on, with --follow).",
        discussion: """
            Without --from-offset or --from-time it starts at the oldest record. The lake is opened \
            read-only: consume creates and changes nothing and works while a producer holds the lake, \
            seeing its appends as they reach the disk (a torn or half-written tail is not read). \
            --to-offset is exclusive: --from-offset 10 --to-offset 20 prints offsets 10 to 19 (strata \
            export's --to-offset is inclusive: there the same flags write 10 to 20). --follow keeps polling \
            for new records until --to-offset, --count, or SIGINT/SIGTERM (then exits 0 after printing what \
            it read).

            Example:
              strata consume --lake /lake clicks --from-offset 1000 --count 10 --format json
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @OptionGroup var partitionOption: PartitionOption
    @Option(help: "Start at this offset.")
    var fromOffset: Int64?
    @Option(help: "Start at the first record with timestamp ≥ T (ms since 1970, or ISO 8601).")
    var fromTime: String?
    @Option(
        help: "Stop before this offset (exclusive: the record at this offset is not printed; export's is inclusive).")
    var toOffset: Int64?
    @Option(help: "Stop after N records.")
    var count: Int?
    @Flag(help: "At the high watermark, keep polling for new records until --to-offset, --count or SIGINT/SIGTERM.")
    var follow = false
    @Option(
        help: """
            value: each record's value bytes exactly as stored, then a newline (non-UTF-8 bytes are written \
            unchanged, a null value is an empty line, a value holding a newline spans lines); \
            json: one JSON object per record, the shape of `strata export` (formats/export.md).
            """)
    var format: String = "value"
    @Flag(help: "Print to stderr one JSON line of cold-store requests, bytes and cache hits of this run.")
    var stats = false

    /// How long one poll of a followed topic waits before checking for a signal.
    static let followPollMs: Int64 = 200

    func validate() throws {
        if fromOffset != nil && fromTime != nil {
            throw ValidationError("use either --from-offset or --from-time, not both")
        }
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
        guard ["value", "json"].contains(format) else { throw ValidationError("--format must be value or json") }
        if let fromOffset, fromOffset < 0 { throw ValidationError("--from-offset must not be negative") }
        if let toOffset, toOffset < 0 { throw ValidationError("--to-offset must not be negative, is \(toOffset)") }
        if let fromOffset, let toOffset, toOffset < fromOffset {
            throw ValidationError("reversed range: --to-offset \(toOffset) is before --from-offset \(fromOffset)")
        }
    }

    func run() async throws {
        let lake = try lakeOption.open()
        let stop = follow ? StopSignal() : nil
        do {
            try await consume(try lake.partition(topic, partitionOption.partition), stop: stop)
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        if stats {
            let s = lake.coldStats
            printError(
                jsonLine(["blobRequests": s.blob.requests, "blobBytes": s.blob.bytesRead, "cacheHits": s.cacheHits]))
        }
    }

    private func consume(_ handle: Topic, stop: StopSignal?) async throws {
        let start: StartPosition
        if let fromOffset {
            start = .offset(fromOffset)
        } else if let fromTime {
            start = .timestamp(try parseTimestamp(fromTime, flag: "--from-time"))
        } else {
            start = .earliest
        }
        var cursor = try await Cursor(topic: handle, start: start)
        var remaining = count ?? Int.max
        let end = toOffset ?? Int64.max
        var out = BufferedOutput()
        // Also on a read error: the records before the damage are printed, then the error.
        defer { out.flush() }
        while remaining > 0, cursor.nextOffset < end {
            // Records are printed in place from the batches' bytes: no `Record` per record.
            let views = try await cursor.nextBatches(waitMs: follow ? Self.followPollMs : 0)
            if views.isEmpty {
                guard let stop, !stop.received else { break }
                out.flush()  // a follower shows each record as it comes
                continue
            }
            for view in views where remaining > 0 {
                let upper = max(view.offsets.lowerBound, min(end, view.offsets.upperBound))
                view.restricted(to: view.offsets.lowerBound ..< upper).withRecords { records in
                    for record in records.prefix(remaining) { out.write(record, as: lineFormat) }
                    remaining -= min(remaining, records.count)
                }
            }
            if stop?.received == true { break }
        }
    }

    private var lineFormat: RecordLineFormat { format == "json" ? .jsonLines : .value }
}

/// Stdout with a large buffer: consume prints millions of lines.
struct BufferedOutput {
    private var buffer: [UInt8] = []
    private var encoder = RecordEncoder(.value)

    mutating func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Encodes `record` straight into the buffer (StrataExport's encoders).
    mutating func write(_ record: RecordView, as format: RecordLineFormat) {
        if encoder.format != format { encoder = RecordEncoder(format) }
        encoder.append(record, to: &buffer)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

/// SIGINT and SIGTERM as a flag a polling loop checks, so `consume --follow` ends cleanly
/// (output flushed, lake closed, exit 0) instead of dying mid-line.
final class StopSignal {
    /// Set from the signal handler's queue, read by the polling loop.
    private final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let flag = Flag()
    private var sources: [any DispatchSourceSignal] = []

    init() {
        let flag = self.flag
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { flag.value.store(true, ordering: .relaxed) }
            source.resume()
            sources.append(source)
        }
    }

    deinit { sources.forEach { $0.cancel() } }

    var received: Bool { flag.value.load(ordering: .relaxed) }
}
