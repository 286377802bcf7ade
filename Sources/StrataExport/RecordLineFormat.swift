import StrataFormat

/// The line formats the CLI writes records in: one record per line, straight into a byte buffer.
public enum RecordLineFormat: String, Sendable, CaseIterable {
    /// The value's bytes exactly as stored, then `\n` (`strata consume`'s default). Nothing is
    /// converted: bytes that are not UTF-8 are written as they are, a null value is an empty
    /// line, and a value holding `\n` spans lines; `jsonLines` is the unambiguous form.
    case value
    /// `RecordJSON`'s object, then `\n` (formats/export.md, "JSON lines").
    case jsonLines = "jsonl"
    /// `RecordCSV`'s row, then CRLF (formats/export.md, "CSV").
    case csv

    /// Bytes written before the first record: the CSV header row, nothing otherwise.
    public var header: [UInt8] {
        self == .csv ? RecordCSV.headerRow : []
    }

    /// Appends `record` as one line, its terminator included. For many records, a
    /// `RecordEncoder` is faster: it reuses its scratch memory.
    public func append(_ record: Record, to out: inout [UInt8]) {
        var encoder = RecordEncoder(self)
        encoder.append(record, to: &out)
    }
}

/// Encodes records as lines of one `RecordLineFormat`, reusing one scratch buffer: each record is
/// written there with raw stores, then appended to the output with one copy.
public struct RecordEncoder: Sendable {
    public let format: RecordLineFormat
    /// Sized to the largest bound seen so far; only its first bytes are meaningful per record.
    private var scratch: [UInt8] = []

    public init(_ format: RecordLineFormat) {
        self.format = format
    }

    /// Bytes written before the first record (the CSV header row).
    public var header: [UInt8] { format.header }

    /// Appends `record` as one line of `format`, its terminator included.
    public mutating func append(_ record: Record, to out: inout [UInt8]) { appendLine(record, to: &out) }

    /// Appends a record read in place (`RecordBatchView.withRecords`) as one line of `format`:
    /// the same bytes as for the same `Record`, with no copy of its fields.
    public mutating func append(_ record: RecordView, to out: inout [UInt8]) { appendLine(record, to: &out) }

    private mutating func appendLine<R: LineRecord>(_ record: R, to out: inout [UInt8]) {
        switch format {
        case .value:
            record.withValueBytes { value in if let value { out.append(contentsOf: value) } }
            out.append(0x0A)
        case .jsonLines:
            write(bound: RecordJSON.bound(record) + 1, to: &out) { w in
                RecordJSON.write(record, into: &w)
                w.put(0x0A)
            }
        case .csv:
            write(bound: RecordCSV.bound(record), to: &out) { RecordCSV.write(record, into: &$0) }
        }
    }

    private mutating func write(bound: Int, to out: inout [UInt8], _ body: (inout RawWriter) -> Void) {
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: max(bound, 2 * scratch.count)) }
        scratch.withUnsafeMutableBufferPointer { buffer in
            var writer = RawWriter(buffer)
            body(&writer)
            out.append(contentsOf: UnsafeBufferPointer(start: writer.start, count: writer.count))
        }
    }
}
