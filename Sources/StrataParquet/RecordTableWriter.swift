import StrataFormat

/// The options of a table data file.
public struct RecordTableOptions: Sendable, Equatable {
    /// A row group is closed after the record that brings its raw record bytes (key, value,
    /// header keys and values, plus 20 bytes of partition, offset and timestamp) to this.
    public var rowGroupRawBytesTarget: Int
    public var parquet: ParquetWriterOptions

    public init(rowGroupRawBytesTarget: Int = 128 << 20, parquet: ParquetWriterOptions = ParquetWriterOptions()) {
        self.rowGroupRawBytesTarget = rowGroupRawBytesTarget
        self.parquet = parquet
    }
}

/// Writes the records of one partition as one Parquet data file with the table schema of
/// formats/table.md ("Record schema"): partition, offset, timestamp (µs, UTC), key, value and
/// headers as a list of (key, value) structs, each field with its Iceberg field id.
public final class RecordTableWriter {
    /// Field ids of the record schema (formats/table.md): Iceberg needs them on every field,
    /// the list element and its struct fields included.
    public enum FieldId {
        public static let partition: Int32 = 1
        public static let offset: Int32 = 2
        public static let timestamp: Int32 = 3
        public static let key: Int32 = 4
        public static let value: Int32 = 5
        public static let headers: Int32 = 6
        public static let headersElement: Int32 = 7
        public static let headerKey: Int32 = 8
        public static let headerValue: Int32 = 9
    }

    /// The data file's fields: the record schema's, then with a value schema its `value_fields`
    /// struct (formats/table.md, "Typed value columns").
    public static func fields(valueSchema: TableValueSchema?) -> [ParquetField] {
        fields + (valueSchema.map { [$0.parquetField] } ?? [])
    }

    /// Leaves of the record schema (the header list holds two): typed columns follow them.
    public static let recordLeafCount = 7

    /// The record schema's fields.
    public static let fields: [ParquetField] = [
        ParquetField("partition", .required, .int32, fieldId: FieldId.partition),
        ParquetField("offset", .required, .int64, fieldId: FieldId.offset),
        ParquetField(
            "timestamp", .required, .int64, fieldId: FieldId.timestamp,
            logicalType: .timestampMicros(isAdjustedToUTC: true)),
        ParquetField("key", .optional, .byteArray, fieldId: FieldId.key),
        ParquetField("value", .optional, .byteArray, fieldId: FieldId.value),
        .list(
            "headers", .optional, fieldId: FieldId.headers,
            element: ParquetField(
                group: "element", .required, fieldId: FieldId.headersElement,
                [
                    ParquetField("key", .required, .byteArray, fieldId: FieldId.headerKey, logicalType: .string),
                    ParquetField("value", .optional, .byteArray, fieldId: FieldId.headerValue),
                ])),
    ]

    public let partition: Int32
    public let options: RecordTableOptions
    let file: ParquetFileWriter
    var rowGroupRawBytes = 0
    var lastOffset: Int64? = nil
    public private(set) var recordCount = 0
    /// The typed value columns written beside the raw bytes (nil: raw bytes only).
    public let valueSchema: TableValueSchema?
    /// Records whose value did not match `valueSchema`: kept (raw bytes, typed columns null), counted.
    public internal(set) var valueMismatches: Int64 = 0

    /// - Throws: `ParquetError(.invalidArgument)` for a negative partition or a row group
    ///   target below one byte; what `ParquetFileWriter.init` throws.
    public init(
        partition: Int32, options: RecordTableOptions = RecordTableOptions(), valueSchema: TableValueSchema? = nil
    ) throws(ParquetError) {
        guard partition >= 0 else {
            throw ParquetError(.invalidArgument, field: "partition", position: 0, "is negative: \(partition)")
        }
        guard options.rowGroupRawBytesTarget >= 1 else {
            throw ParquetError(.invalidArgument, field: "rowGroupRawBytesTarget", position: 0, "must be at least 1")
        }
        self.partition = partition
        self.options = options
        self.valueSchema = valueSchema
        // The record schema is fixed and valid; a parsed value schema has unique, non-empty names.
        self.file = try ParquetFileWriter(
            schema: try ParquetSchema(Self.fields(valueSchema: valueSchema)), options: options.parquet)
    }

    /// Bytes of the file so far, taken or not.
    public var byteCount: Int { file.byteCount }

    /// The bytes produced since the last call (the file's next bytes, in order).
    public func takeBytes() -> [UInt8] { file.takeBytes() }

    /// The raw bytes a row counts toward the row-group and file targets: key, value, header keys
    /// and values, plus 20 bytes of partition, offset and timestamp.
    public static func rawBytes(of record: some TableRow) -> Int { record.tableSizes.raw }

    /// The row's raw bytes (as `rawBytes(of:)`) and its largest field, in one walk of its headers.
    static func sizes<Row: TableRow>(of record: Row) -> (raw: Int, largest: Int) {
        let (key, value) = (record.keyBytes?.count ?? 0, record.valueBytes?.count ?? 0)
        var (raw, largest) = (20 + key + value, max(key, value))
        for header in record.headerFields {
            let headerValue = header.value?.count ?? 0
            raw += header.key.count + headerValue
            largest = max(largest, headerValue, header.key.count)
        }
        return (raw, largest)
    }

    /// Appends one record as one row. With a value schema, the value's fields fill the typed
    /// columns; a value that does not match is kept (raw bytes, `value_fields` null) and counted
    /// in `valueMismatches` (a null value is neither).
    /// - Throws: `ParquetError(.invalidArgument)` naming the offset when the offset is negative or
    ///   not above the previous record's, or the timestamp in microseconds overflows 64 bits
    ///   (nothing is appended then); `.closed` after `finish()`.
    /// - Returns: the row's raw bytes (`rawBytes(of:)`).
    @discardableResult
    public func append(_ record: some TableRow) throws(ParquetError) -> Int { try record.appendRow(to: self) }

    /// `append`, specialized for each kind of row by its conformance (`TableRow.appendRow(to:)`):
    /// called through an unspecialized generic from another module, each row's calls cost
    /// generic metadata lookups at run time (a fifth of the table writer's CPU in a profile).
    func appendRow<Row: TableRow>(_ record: Row) throws(ParquetError) -> Int {
        guard !file.finished else { throw ParquetError(.closed, field: "file", position: 0, "already finished") }
        let (micros, raw) = try Self.checked(record, after: lastOffset, position: recordCount)
        // Read before anything is appended: a mismatch is not an error, the row goes in either way.
        let typed = valueSchema.flatMap { schema in record.valueBytes.map { schema.extract([UInt8]($0)) } }
        let columns = file.columns
        try columns[0].append(int32: partition)
        try columns[1].append(int64: record.offset)
        try columns[2].append(int64: micros)
        try appendNullable(record.keyBytes, to: columns[3])
        try appendNullable(record.valueBytes, to: columns[4])
        if record.headerCount == 0 {
            // Kafka has no null header array: no headers is the empty list (definition level 1).
            try columns[5].appendNull(definitionLevel: 1)
            try columns[6].appendNull(definitionLevel: 1)
        }
        var repetition = 0
        for header in record.headerFields {
            try columns[5].append(bytes: header.key, repetitionLevel: repetition)
            if let value = header.value {
                try columns[6].append(bytes: value, repetitionLevel: repetition)
            } else {
                try columns[6].appendNull(definitionLevel: 2, repetitionLevel: repetition)
            }
            repetition = 1
        }
        if let valueSchema {
            try appendTyped(typed ?? nil, schema: valueSchema, to: columns[Self.recordLeafCount...])
            if case .some(.none) = typed { valueMismatches += 1 }
        }
        lastOffset = record.offset
        recordCount += 1
        rowGroupRawBytes += raw
        if rowGroupRawBytes >= options.rowGroupRawBytesTarget {
            try file.endRowGroup()
            rowGroupRawBytes = 0
        }
        return raw
    }

    /// What a row is refused for (the offset not above `previous`, a timestamp that overflows
    /// in microseconds, a field Parquet cannot hold), else its timestamp in µs and raw bytes.
    @inline(__always)
    static func checked<Row: TableRow>(
        _ record: Row, after previous: Int64?, position: Int
    ) throws(ParquetError) -> (micros: Int64, raw: Int) {
        guard record.offset >= 0, previous.map({ record.offset > $0 }) ?? true else {
            throw ParquetError(
                .invalidArgument, field: "offset", position: position,
                "offset \(record.offset) must be ≥ 0 and above the previous \(previous ?? -1)")
        }
        let (micros, overflow) = record.timestamp.multipliedReportingOverflow(by: 1000)
        guard !overflow else {
            throw ParquetError(
                .invalidArgument, field: "timestamp", position: position,
                "record at offset \(record.offset): \(record.timestamp) ms does not fit in 64-bit microseconds")
        }
        let valueBytesMax = Int(Int32.max) - 4
        let (raw, largest) = sizes(of: record)
        guard largest <= valueBytesMax else {
            throw ParquetError(
                .invalidArgument, field: "value", position: position,
                "record at offset \(record.offset) holds \(largest) bytes in one field; Parquet allows \(valueBytesMax)"
            )
        }
        return (micros, raw)
    }

    /// Appends `rows`, in order, column by column: the file is the same, byte for byte, as after
    /// `append` of each (row groups and pages close at the same rows), but each column takes its
    /// open page once per run of rows instead of once per value, and the levels are checked once
    /// per call (table-write's CPU: run-time exclusivity checks of the writers' properties were
    /// a fifth of it). With a value schema, rows go one at a time through `append`.
    /// - Returns: the rows' raw bytes (`rawBytes(of:)`, summed).
    /// - Throws: what `append` throws for the first row it refuses; the rows before it are
    ///   appended, it and those after are not.
    @discardableResult
    public func appendRows(_ rows: ArraySlice<RecordView>) throws(ParquetError) -> Int { try appendEach(rows) }

    /// `appendRows` of decoded records.
    @discardableResult
    public func appendRows(_ rows: ArraySlice<Record>) throws(ParquetError) -> Int { try appendEach(rows) }

    /// `appendRows` for any collection of rows, specialized here for the concrete ones above:
    /// a generic called from another module runs unspecialized, with a metadata lookup per row
    /// and column (it made the table writer 1.6x slower than row at a time).
    func appendEach<Rows: RandomAccessCollection>(_ rows: Rows) throws(ParquetError) -> Int
    where Rows.Element: TableRow {
        guard valueSchema == nil else {
            var raw = 0
            for row in rows { raw += try append(row) }
            return raw
        }
        guard !file.finished else { throw ParquetError(.closed, field: "file", position: 0, "already finished") }
        var total = 0
        var start = rows.startIndex
        var refused: ParquetError? = nil
        while start != rows.endIndex, refused == nil {
            // The rows up to the one that fills the row group (or is refused), checked first.
            var end = start
            var groupBytes = rowGroupRawBytes
            var previous = lastOffset
            var position = recordCount
            repeat {
                do throws(ParquetError) {
                    groupBytes += try Self.checked(rows[end], after: previous, position: position).raw
                } catch {
                    refused = error
                    break
                }
                previous = rows[end].offset
                position += 1
                end = rows.index(after: end)
            } while end != rows.endIndex && groupBytes < options.rowGroupRawBytesTarget
            guard end != start else { break }
            try appendColumns(rows[start ..< end])
            total += groupBytes - rowGroupRawBytes
            lastOffset = previous
            recordCount = position
            rowGroupRawBytes = groupBytes
            if rowGroupRawBytes >= options.rowGroupRawBytesTarget {
                try file.endRowGroup()
                rowGroupRawBytes = 0
            }
            start = end
        }
        if let refused { throw refused }
        return total
    }

    /// The record schema's seven columns of rows already checked (`checked`), one column at a time.
    private func appendColumns<Rows: RandomAccessCollection>(_ rows: Rows) throws(ParquetError)
    where Rows.Element: TableRow {
        let columns = file.columns
        let partition = partition
        /// A value's levels in a top-level column: its maximum definition level, repetition 0.
        func valueLevel(_ column: ParquetColumnWriter, _ type: ParquetEnum.PhysicalType) throws(ParquetError)
            -> OpenPage.Level
        {
            try column.checkedLevel(type, definition: column.leaf.maxDefinitionLevel, repetition: 0, isNull: false)
        }
        let partitionLevel = try valueLevel(columns[0], .int32)
        try columns[0].appendEachRow(rows) { page, _ in
            page.append(fixed: partition.littleEndian, statistic: Int64(partition), partitionLevel)
        }
        let offsetLevel = try valueLevel(columns[1], .int64)
        try columns[1].appendEachRow(rows) { page, row in
            page.append(fixed: row.offset.littleEndian, statistic: row.offset, offsetLevel)
        }
        let timestampLevel = try valueLevel(columns[2], .int64)
        try columns[2].appendEachRow(rows) { page, row in
            let micros = row.timestamp &* 1000  // `checked` refused every timestamp whose µs overflow
            page.append(fixed: micros.littleEndian, statistic: micros, timestampLevel)
        }
        // Key and value: nullable byte arrays (definition level 0 for null).
        for (column, isKey) in [(columns[3], true), (columns[4], false)] {
            let value = try valueLevel(column, .byteArray)
            let null = try column.checkedLevel(.byteArray, definition: 0, repetition: 0, isNull: true)
            try column.appendEachRow(rows) { page, row in
                if let bytes = isKey ? row.keyBytes : row.valueBytes {
                    page.append(bytes: bytes, value)
                } else {
                    page.appendNull(null)
                }
            }
        }
        // Headers: a list of (key, value); no headers is the empty list (definition level 1).
        let keys = columns[5]
        let keyNone = try keys.checkedLevel(.byteArray, definition: 1, repetition: 0, isNull: true)
        let keyFirst = try keys.checkedLevel(
            .byteArray, definition: keys.leaf.maxDefinitionLevel, repetition: 0, isNull: false)
        let keyNext = try keys.checkedLevel(
            .byteArray, definition: keys.leaf.maxDefinitionLevel, repetition: 1, isNull: false)
        try keys.appendEachRow(rows) { page, row in
            guard row.headerCount > 0 else { return page.appendNull(keyNone) }
            var level = keyFirst
            for header in row.headerFields {
                page.append(bytes: header.key, level)
                level = keyNext
            }
        }
        let values = columns[6]
        let max = values.leaf.maxDefinitionLevel
        let valueNone = try values.checkedLevel(.byteArray, definition: 1, repetition: 0, isNull: true)
        let valueFirst = try values.checkedLevel(.byteArray, definition: max, repetition: 0, isNull: false)
        let valueNext = try values.checkedLevel(.byteArray, definition: max, repetition: 1, isNull: false)
        let nullFirst = try values.checkedLevel(.byteArray, definition: 2, repetition: 0, isNull: true)
        let nullNext = try values.checkedLevel(.byteArray, definition: 2, repetition: 1, isNull: true)
        try values.appendEachRow(rows) { page, row in
            guard row.headerCount > 0 else { return page.appendNull(valueNone) }
            var first = true
            for header in row.headerFields {
                if let bytes = header.value {
                    page.append(bytes: bytes, first ? valueFirst : valueNext)
                } else {
                    page.appendNull(first ? nullFirst : nullNext)
                }
                first = false
            }
        }
    }

    /// One row of the typed columns: `value_fields` null (definition level 0) for nil, else each
    /// field's value (level 2) or null (level 1).
    func appendTyped(
        _ values: [TableTypedValue]?, schema: TableValueSchema, to columns: ArraySlice<ParquetColumnWriter>
    ) throws(ParquetError) {
        for (column, i) in zip(columns, schema.fields.indices) {
            guard let values else {
                try column.appendNull(definitionLevel: 0)
                continue
            }
            switch values[i] {
            case .null: try column.appendNull(definitionLevel: column.leaf.maxDefinitionLevel - 1)
            case .boolean(let v): try column.append(bool: v)
            case .int(let v), .date(let v): try column.append(int32: v)
            case .long(let v), .timestamp(let v): try column.append(int64: v)
            case .decimal(let v):
                if column.leaf.type == .int32 {
                    try column.append(int32: Int32(truncatingIfNeeded: v))
                } else {
                    try column.append(int64: v)
                }
            case .float(let v): try column.append(float: v)
            case .double(let v): try column.append(double: v)
            case .string(let v): try column.append(bytes: v.utf8)
            case .binary(let v): try column.append(bytes: v)
            }
        }
    }

    func appendNullable(_ bytes: (some Collection<UInt8>)?, to column: ParquetColumnWriter) throws(ParquetError) {
        if let bytes {
            try column.append(bytes: bytes)
        } else {
            try column.appendNull(definitionLevel: 0)
        }
    }

    /// Closes the last row group and writes the page index and footer; returns the bytes not yet taken.
    public func finish() throws(ParquetError) -> [UInt8] { try file.finish() }
}

/// What a row is read from: a decoded `Record`, or a `RecordView` read in place from its batch
/// (`RecordBatchView.withRecords`), whose key, value and headers go from the batch's bytes into
/// the columns with no copy between.
public protocol TableRow {
    associatedtype Bytes: Collection<UInt8>
    associatedtype HeaderKey: Collection<UInt8>
    associatedtype Headers: Sequence<(key: HeaderKey, value: Bytes?)>
    var offset: Int64 { get }
    var timestamp: Int64 { get }
    var keyBytes: Bytes? { get }
    var valueBytes: Bytes? { get }
    var headerCount: Int { get }
    var headerFields: Headers { get }
    /// `writer.append(self)`: each conformance calls the writer with its concrete type, so the
    /// row's path through the writer is specialized code.
    func appendRow(to writer: RecordTableWriter) throws(ParquetError) -> Int
    /// `RecordTableWriter.rawBytes(of: self)` and the row's largest field.
    var tableSizes: (raw: Int, largest: Int) { get }
}

extension Record: TableRow {
    public typealias Bytes = [UInt8]
    public typealias HeaderKey = String.UTF8View
    public typealias Headers = LazyMapSequence<[RecordHeader], (key: String.UTF8View, value: [UInt8]?)>
    public var keyBytes: [UInt8]? { key }
    public var valueBytes: [UInt8]? { value }
    public var headerCount: Int { headers.count }
    public var headerFields: Headers {
        headers.lazy.map { (key: $0.key.utf8, value: $0.value) }
    }
    public func appendRow(to writer: RecordTableWriter) throws(ParquetError) -> Int { try writer.appendRow(self) }
    public var tableSizes: (raw: Int, largest: Int) { RecordTableWriter.sizes(of: self) }
}

extension RecordView: TableRow {
    public typealias Bytes = UnsafeRawBufferPointer
    public typealias HeaderKey = UnsafeRawBufferPointer
    public typealias Headers = LazyMapSequence<RecordHeaderViews, (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?)>
    public var keyBytes: UnsafeRawBufferPointer? { key }
    public var valueBytes: UnsafeRawBufferPointer? { value }
    public var headerCount: Int { headers.count }
    public var headerFields: Headers {
        headers.lazy.map { (key: $0.key, value: $0.value) }
    }
    public func appendRow(to writer: RecordTableWriter) throws(ParquetError) -> Int { try writer.appendRow(self) }
    public var tableSizes: (raw: Int, largest: Int) { RecordTableWriter.sizes(of: self) }
}
