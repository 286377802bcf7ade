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

    /// Appends `record` as one line, its terminator included.
    public func append(_ record: Record, to out: inout [UInt8]) {
        switch self {
        case .value:
            if let value = record.value { out.append(contentsOf: value) }
            out.append(0x0A)
        case .jsonLines:
            RecordJSON.append(record, to: &out)
            out.append(0x0A)
        case .csv:
            RecordCSV.append(record, to: &out)
        }
    }
}
