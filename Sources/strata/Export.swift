import ArgumentParser
import Foundation
import Glibc
import Strata
import StrataExport
import StrataParquet

/// `strata export`: stream a topic range from the cold store as JSON lines, CSV or one Parquet
/// file, with no lake directory and no broker (formats/export.md, formats/table.md).
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a topic range from the cold store as JSON lines, CSV or Parquet (no lake directory needed).",
        discussion: """
            Reads the cold store directly, the way a batch job does. Without range flags it exports \
            the whole topic. Offset bounds are both inclusive: --from-offset 10 --to-offset 20 writes \
            offsets 10 to 20 (strata consume's --to-offset is exclusive: there the same flags print 10 to \
            19). --from-time is inclusive (first record with timestamp ≥ T), --to-time is exclusive (stops \
            at the first record with timestamp ≥ T), \
            so consecutive windows never overlap. Offset and time bounds cannot be mixed. An offset \
            range outside the topic's offsets is a usage error (exit 2); a time window with no \
            records exports nothing and exits 0. --output is written to a temporary file and renamed \
            into place only when the export is complete. Formats: formats/export.md. \
            Exit codes: 0 ok, 1 corrupt data, 2 usage (bad flags, unknown topic or store, bad range), \
            3 I/O or store error.

            --format parquet writes the range of the one partition (--partition) as one Parquet file with \
            the schema of the topic's table (formats/table.md: partition, offset, timestamp in µs UTC, key, \
            value, headers as a list of key/value structs); it needs --output (binary never goes to a \
            terminal). Unlike a table data file it may span UTC days. Read it with any Parquet reader, \
            e.g. duckdb -c "select count(*) from 'clicks.parquet'".

            Example:
              strata export --cold file:///lake/cold clicks --to-offset 999 --format csv
              strata export --cold file:///c clicks --format parquet --output c.parquet
            """
    )

    @Option(help: ArgumentHelp("Cold store to read: \(coldForms).", valueName: "url"))
    var cold: String
    @Argument(help: "Topic name.")
    var topic: String
    @OptionGroup var partitionOption: PartitionOption
    @OptionGroup var keys: KeyRingOption

    /// The partition's log name, as the cold store files it (`orders`, `orders/3`).
    /// (`PartitionOption.validate` has checked the partition; a bad topic name keeps the name, so
    /// the read names it in its error.)
    var partitionLog: String { (try? partitionOption.logName(topic)) ?? topic }
    @Option(help: "First offset to export (inclusive).")
    var fromOffset: Int64?
    @Option(help: "Last offset to export (inclusive: the record at this offset is written; consume's is exclusive).")
    var toOffset: Int64?
    @Option(help: "Start at the first record with timestamp ≥ T (inclusive; ms since 1970 or ISO 8601).")
    var fromTime: String?
    @Option(help: "Stop before the first record with timestamp ≥ T (exclusive; ms since 1970 or ISO 8601).")
    var toTime: String?
    @Option(help: "jsonl (one JSON object per record), csv (RFC 4180, header row) or parquet (needs --output).")
    var format: ExportFormat = .jsonl
    @Option(help: "Write to FILE (atomically: temporary file, then rename) instead of stdout.")
    var output: String?
    @Flag(help: "No progress or summary on stderr.")
    var quiet = false

    static let coldForms = "file:///absolute/path or s3://bucket[/prefix]"

    func validate() throws {
        let byOffset = fromOffset != nil || toOffset != nil
        let byTime = fromTime != nil || toTime != nil
        if byOffset && byTime {
            throw ValidationError(
                "use offset bounds (--from-offset/--to-offset) or time bounds (--from-time/--to-time), not both")
        }
        if let fromOffset, fromOffset < 0 {
            throw ValidationError("--from-offset must not be negative, is \(fromOffset)")
        }
        if let toOffset, toOffset < 0 { throw ValidationError("--to-offset must not be negative, is \(toOffset)") }
        if let fromOffset, let toOffset, fromOffset > toOffset {
            throw ValidationError("reversed range: --from-offset \(fromOffset) is after --to-offset \(toOffset)")
        }
        let from = try fromTime.map { try parseTimestamp($0, flag: "--from-time") }
        let to = try toTime.map { try parseTimestamp($0, flag: "--to-time") }
        if let from, let to, from > to {
            throw ValidationError("reversed range: --from-time \(fromTime ?? "") is after --to-time \(toTime ?? "")")
        }
        if let output, output.isEmpty || output.hasSuffix("/") { throw ValidationError("--output needs a file name") }
        if format == .parquet, output == nil {
            throw ValidationError("--format parquet needs --output FILE: Parquet is binary and never goes to stdout")
        }
    }

    func run() async throws {
        do throws(StrataError) {
            var options = ColdLogOptions()
            options.keyRing = try keys.load()
            let log = try ColdLog.open(cold, options: options)
            let range: Range<Int64>
            do throws(StrataError) {
                range = try await offsetRange(log)
            } catch  where error.code == .offsetOutOfRange {
                // Offsets past the manifest's end may be in objects a lost manifest listed.
                var explained = error
                if let beyond = try? await log.objectsPastManifest(self.partitionLog) {
                    explained.message += "; \(beyond.description)"
                }
                throw explained
            }
            try await warnIfManifestMayBeMissing(log, range)
            try await export(log, range)
        } catch {
            printError("error: \(error)")
            throw ExitCode(StrataCommand.exitCode(for: error.code))
        }
    }

    /// A range that runs to the newest manifest's end while the store holds objects past it may
    /// be short by a lost manifest: say so (even with --quiet) rather than end early in silence.
    private func warnIfManifestMayBeMissing(_ log: ColdLog, _ range: Range<Int64>) async throws(StrataError) {
        guard let beyond = try await log.objectsPastManifest(self.partitionLog),
            range.upperBound >= beyond.manifestNextOffset
        else { return }
        printError("warning: export ends at offset \(beyond.manifestNextOffset - 1): \(beyond.description)")
    }

    /// The offsets to export, `[lower, upper)`, from the flags and the topic's manifest.
    private func offsetRange(_ log: ColdLog) async throws(StrataError) -> Range<Int64> {
        let valid = try await log.offsets(self.partitionLog)
        if fromOffset != nil || toOffset != nil {
            let first = fromOffset ?? valid.lowerBound
            let last = toOffset ?? valid.upperBound - 1
            guard first >= valid.lowerBound, last < valid.upperBound, first <= last else {
                let asked = "[\(fromOffset.map(String.init) ?? "start"), \(toOffset.map(String.init) ?? "end")]"
                throw StrataError(
                    .offsetOutOfRange,
                    "range \(asked) is outside the topic's offsets [\(valid.lowerBound), \(valid.upperBound)) "
                        + "in \(log.location)", topic: topic)
            }
            return first ..< (last + 1)
        }
        var lower = valid.lowerBound
        var upper = valid.upperBound
        // validate() already parsed these; parse again rather than carry state across.
        if let fromTime, let ms = try? parseTimestamp(fromTime, flag: "--from-time") {
            lower = try await log.offset(forTimestamp: ms, topic: self.partitionLog) ?? valid.upperBound
        }
        if let toTime, let ms = try? parseTimestamp(toTime, flag: "--to-time") {
            upper = try await log.offset(forTimestamp: ms, topic: self.partitionLog) ?? valid.upperBound
        }
        // Timestamps need not grow with offsets; a window that ends before it starts is empty.
        return lower ..< max(lower, upper)
    }

    private func export(_ log: ColdLog, _ range: Range<Int64>) async throws(StrataError) {
        let sink = try ExportSink(path: output)
        var progress = ExportProgress(quiet: quiet)
        do throws(StrataError) {
            let encoder = try ExportEncoder(format, partition: partitionOption.partition, topic: topic)
            try sink.write(encoder.header)
            var expected = range.lowerBound
            // Records are encoded in place from the frames' bytes: no `Record` per record.
            for try await views in try await log.batches(self.partitionLog, in: range) {
                let first = expected
                for view in views {
                    try view.withRecords { (records) throws(StrataError) in
                        for record in records {
                            try ExportGap.check(record.offset, expected: expected, range: range, topic: topic)
                            try encoder.write(record, to: sink)
                            expected = record.offset + 1
                        }
                    }
                }
                progress.advance(by: Int(expected - first), lastOffset: expected - 1)
            }
            try ExportGap.check(range.upperBound, expected: expected, range: range, topic: topic)
            try sink.write(try encoder.finish())
            try sink.commit()
        } catch {
            sink.abandon()
            throw error
        }
        progress.finish(range: range, destination: output ?? "stdout", stats: log.stats)
    }
}

/// An export hands over every offset of its range or fails naming the ones it could not
/// (issue 12.3): a short export that exits 0 looks like a complete one to a batch job. The last
/// line of defence: a manifest with a gap is refused when it is decoded (naming the missing
/// offsets) and `ColdRecords` checks that each batch continues the last, so this should never fire.
enum ExportGap {
    static func check(_ offset: Int64, expected: Int64, range: Range<Int64>, topic: String) throws(StrataError) {
        guard offset != expected else { return }
        let what = offset > expected ? "offsets \(expected)..<\(offset) are missing" : "offset \(offset) came again"
        throw StrataError(
            .corrupt,
            "export of offsets [\(range.lowerBound), \(range.upperBound)): \(what) "
                + "(nothing after offset \(expected - 1) was written)", topic: topic)
    }
}

/// `--format`: the names of formats/export.md; the line encoders are `StrataExport`'s, the
/// Parquet one `StrataParquet.RecordTableWriter` (the table's schema, formats/table.md).
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv, parquet

    /// The line format of jsonl and csv; nil for parquet.
    var lines: RecordLineFormat? {
        switch self {
        case .jsonl: return .jsonLines
        case .csv: return .csv
        case .parquet: return nil
        }
    }
}

/// Turns records into the export's bytes: lines (JSON, CSV) straight into the sink, or rows of
/// one Parquet file whose pages the sink gets as they are cut.
///
/// Parquet: one `RecordTableWriter` file, row groups cut by its raw-bytes target. A table data
/// file holds one UTC day (Iceberg's day partition); `RecordTableWriter` itself does not care,
/// so an export spanning days is one file with no per-day row groups.
final class ExportEncoder {
    private let lines: RecordLineFormat?
    private let parquet: RecordTableWriter?
    private let topic: String

    init(_ format: ExportFormat, partition: Int32, topic: String) throws(StrataError) {
        self.topic = topic
        lines = format.lines
        if format == .parquet {
            do { parquet = try RecordTableWriter(partition: partition) } catch {
                throw StrataError(.invalidArgument, "cannot start the Parquet file: \(error)", topic: topic)
            }
        } else {
            parquet = nil
        }
    }

    /// The CSV header row (nothing for JSON lines; Parquet's magic comes with the first pages).
    var header: [UInt8] { lines?.header ?? [] }

    func write(_ record: RecordView, to sink: ExportSink) throws(StrataError) {
        if let lines { return try sink.write(record, as: lines) }
        guard let parquet else { return }
        do { try parquet.append(record.record) } catch {
            // A record the table schema cannot hold (a timestamp beyond 64-bit microseconds, a
            // field of 2 GiB): refused, and the partial file is deleted by the caller.
            throw StrataError(
                .invalidArgument, "record at offset \(record.offset) cannot be written as Parquet: \(error)",
                topic: topic)
        }
        let taken = parquet.takeBytes()
        if !taken.isEmpty { try sink.write(taken) }
    }

    /// The bytes that close the output: Parquet's last row group, page index and footer.
    func finish() throws(StrataError) -> [UInt8] {
        guard let parquet else { return [] }
        do { return try parquet.finish() } catch {
            throw StrataError(.invalidArgument, "cannot finish the Parquet file: \(error)", topic: topic)
        }
    }
}

/// Where the export goes: stdout, or a temporary file beside `--output` renamed into place by
/// `commit`, so a failed export never leaves a partial file under the requested name.
final class ExportSink {
    private let fd: Int32
    private let target: String?
    private let temporary: String?
    private var buffer: [UInt8] = []
    private var encoder = RecordEncoder(.jsonLines)
    private var closed = false
    private static let bufferBytesMax = 1 << 16

    init(path: String?) throws(StrataError) {
        guard let path else {
            fd = 1
            target = nil
            temporary = nil
            return
        }
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
            .path
        let opened = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard opened >= 0 else { throw Self.ioError("cannot create \(temp)", path) }
        fd = opened
        target = path
        temporary = temp
    }

    func write(_ bytes: [UInt8]) throws(StrataError) {
        buffer += bytes
        if buffer.count >= Self.bufferBytesMax { try flush() }
    }

    /// Encodes `record` straight into the buffer: no per-record array.
    func write(_ record: RecordView, as format: RecordLineFormat) throws(StrataError) {
        if encoder.format != format { encoder = RecordEncoder(format) }
        encoder.append(record, to: &buffer)
        if buffer.count >= Self.bufferBytesMax { try flush() }
    }

    private func flush() throws(StrataError) {
        var written = 0
        while written < buffer.count {
            let result = buffer[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                throw Self.ioError("cannot write export", target ?? "stdout")
            }
            written += result
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes; for a file also fsyncs and renames it into place.
    func commit() throws(StrataError) {
        try flush()
        guard let target, let temporary else { return }
        guard fsync(fd) == 0 else { throw Self.ioError("cannot fsync \(temporary)", target) }
        Glibc.close(fd)
        closed = true
        guard rename(temporary, target) == 0 else {
            throw Self.ioError("cannot rename \(temporary) to \(target)", target)
        }
    }

    /// Deletes the temporary file of a failed export. On stdout the records already encoded are
    /// written out first (best effort): every record before the error is valid and was read.
    func abandon() {
        guard let temporary else {
            try? flush()
            return
        }
        if !closed { Glibc.close(fd) }
        closed = true
        unlink(temporary)
    }

    private static func ioError(_ message: String, _ file: String) -> StrataError {
        StrataError(.io, "\(message): \(String(cString: strerror(errno)))", file: file)
    }
}

/// Progress lines on stderr, only for exports that run longer than `intervalSeconds`.
struct ExportProgress {
    let quiet: Bool
    private let started = ContinuousClock.now
    private var lastReport = ContinuousClock.now
    private(set) var recordCount: Int64 = 0
    private static let intervalSeconds = 2.0

    init(quiet: Bool) { self.quiet = quiet }

    mutating func advance(by count: Int, lastOffset: Int64) {
        recordCount += Int64(count)
        guard !quiet, seconds(since: lastReport) >= Self.intervalSeconds else { return }
        lastReport = .now
        let rate = Double(recordCount) / max(seconds(since: started), 0.001)
        printError("export: \(recordCount) records, at offset \(lastOffset), \(Int(rate)) records/s")
    }

    func finish(range: Range<Int64>, destination: String, stats: BlobStats) {
        guard !quiet else { return }
        let span = range.isEmpty ? "no offsets" : "offsets [\(range.lowerBound), \(range.upperBound - 1)]"
        let elapsed = String(format: "%.1f", seconds(since: started))
        printError(
            "exported \(recordCount) records (\(span)) to \(destination) in \(elapsed) s; "
                + "\(stats.requests) store requests, \(humanBytes(stats.bytesRead)) read")
    }

    private func seconds(since instant: ContinuousClock.Instant) -> Double {
        let duration = ContinuousClock.now - instant
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
