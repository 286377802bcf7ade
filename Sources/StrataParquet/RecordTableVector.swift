import StrataFormat

/// The JSON description beside a golden vector of formats/vectors/table: the writer's options
/// and the rows, from which `encode()` rebuilds the file byte for byte.
public struct RecordTableVector: Codable, Sendable, Equatable {
    /// The vector's file name, e.g. `records.parquet`.
    public var file: String
    public var partition: Int32
    /// `zstd` or `uncompressed`.
    public var codec: String
    /// The libzstd that wrote the vector: compressed bytes are only stable for one version.
    public var zstdVersion: String
    public var zstdLevel: Int32
    public var rowGroupRawBytesTarget: Int
    public var pageBytesTarget: Int
    public var pageRowCountMax: Int
    /// Rows per row group, as written.
    public var rowGroupRowCounts: [Int]
    public var rows: [RecordDescription]
    /// The value schema (Iceberg schema JSON) of the typed columns, nil for none.
    public var valueSchema: String?
    /// Per row, what the typed columns hold (`TypedColumnsVector.expected`'s form), with a value schema.
    public var valueFields: [[String: String]?]?
    /// Rows whose value did not match the value schema.
    public var valueMismatches: Int?

    public init(
        file: String, partition: Int32, options: RecordTableOptions, rowGroupRowCounts: [Int], records: [Record],
        valueSchema: String? = nil, valueFields: [[String: String]?]? = nil, valueMismatches: Int? = nil
    ) {
        self.valueSchema = valueSchema
        self.valueFields = valueFields
        self.valueMismatches = valueMismatches
        self.file = file
        self.partition = partition
        self.codec = options.parquet.codec == .zstd ? "zstd" : "uncompressed"
        self.zstdVersion = Zstd.versionString
        self.zstdLevel = options.parquet.zstdLevel
        self.rowGroupRawBytesTarget = options.rowGroupRawBytesTarget
        self.pageBytesTarget = options.parquet.pageBytesTarget
        self.pageRowCountMax = options.parquet.pageRowCountMax
        self.rowGroupRowCounts = rowGroupRowCounts
        self.rows = records.map(RecordDescription.init)
    }

    /// The writer options the vector was written with.
    public var options: RecordTableOptions {
        RecordTableOptions(
            rowGroupRawBytesTarget: rowGroupRawBytesTarget,
            parquet: ParquetWriterOptions(
                codec: codec == "zstd" ? .zstd : .uncompressed, zstdLevel: zstdLevel, pageBytesTarget: pageBytesTarget,
                pageRowCountMax: pageRowCountMax))
    }

    /// The records described.
    public func records() throws(ParquetError) -> [Record] {
        var result: [Record] = []
        for row in rows {
            do {
                result.append(try row.record())
            } catch {
                throw ParquetError(.invalidValue, field: "rows", position: result.count, error.description)
            }
        }
        return result
    }

    /// Writes the file the description describes.
    public func encode() throws(ParquetError) -> [UInt8] {
        let schema = try valueSchema.map { (text) throws(ParquetError) in try TableValueSchema.parse(icebergJSON: text)
        }
        let writer = try RecordTableWriter(partition: partition, options: options, valueSchema: schema)
        for record in try records() { try writer.append(record) }
        return try writer.finish()
    }
}
