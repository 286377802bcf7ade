import StrataFormat

/// How a `ParquetFileWriter` cuts and compresses pages.
public struct ParquetWriterOptions: Sendable, Equatable {
    public var codec: ParquetCodec
    /// zstd level (3, as the cold tier: ARCHITECTURE.md §5).
    public var zstdLevel: Int32
    /// A page is closed at the next row boundary once its raw values and levels reach this.
    public var pageBytesTarget: Int
    /// …or once it holds this many rows (20,000 as parquet-mr and Arrow, so the page index
    /// stays useful on narrow columns such as `offset`).
    public var pageRowCountMax: Int
    /// The footer's created_by (Arrow reads "<name> version <v>").
    public var createdBy: String

    public init(
        codec: ParquetCodec = .zstd, zstdLevel: Int32 = 3, pageBytesTarget: Int = 1 << 20,
        pageRowCountMax: Int = 20_000, createdBy: String = "strata version 1"
    ) {
        self.codec = codec
        self.zstdLevel = zstdLevel
        self.pageBytesTarget = pageBytesTarget
        self.pageRowCountMax = pageRowCountMax
        self.createdBy = createdBy
    }
}

/// Writes one Parquet file: `PAR1`, row groups of column chunks, the page index (every
/// ColumnIndex, then every OffsetIndex), the footer, its length and `PAR1` again.
///
/// Fill a row group through `columns` (one writer per leaf, every leaf the same row count),
/// close it with `endRowGroup()`, and end with `finish()`. Bytes can be taken as they are
/// produced (`takeBytes()`, e.g. after each row group) or all at once from `finish()`.
/// formats/table.md, "File layout".
public final class ParquetFileWriter {
    public let schema: ParquetSchema
    public let options: ParquetWriterOptions
    /// One writer per leaf of `schema`, in schema order.
    public let columns: [ParquetColumnWriter]

    var pending: [UInt8] = Array("PAR1".utf8)
    var takenByteCount = 0
    var rowGroups: [RowGroup] = []
    var pageIndexes: [[(column: ColumnIndex?, offset: OffsetIndex)]] = []
    var finished = false

    /// - Throws: `ParquetError(.invalidArgument)` for page bounds below one;
    ///   `ParquetError(.compression)` when zstd cannot allocate a context.
    public init(schema: ParquetSchema, options: ParquetWriterOptions = ParquetWriterOptions()) throws(ParquetError) {
        guard options.pageBytesTarget >= 1, options.pageRowCountMax >= 1 else {
            throw ParquetError(.invalidArgument, field: "options", position: 0, "page bounds must be at least 1")
        }
        var compressor: Zstd.Compressor? = nil
        if options.codec == .zstd {
            do {
                compressor = try Zstd.Compressor(level: options.zstdLevel)
            } catch {
                throw ParquetError(.compression, field: "zstd", position: 0, error.message)
            }
        }
        self.schema = schema
        self.options = options
        self.columns = schema.leaves.map { ParquetColumnWriter(leaf: $0, options: options, compressor: compressor) }
    }

    /// Bytes of the file so far, taken or not.
    public var byteCount: Int { takenByteCount + pending.count }

    /// Rows in the open row group.
    public var bufferedRowCount: Int { columns[0].rowCount }

    /// Rows in closed row groups.
    public var rowCount: Int64 { rowGroups.reduce(0) { $0 + $1.rowCount } }

    /// The bytes produced since the last call (the file's next bytes, in order).
    public func takeBytes() -> [UInt8] {
        let bytes = pending
        takenByteCount += bytes.count
        pending = []
        return bytes
    }

    /// Closes the open row group (nothing happens when it has no rows).
    /// - Throws: `ParquetError(.invalidArgument)` when the columns hold different row counts
    ///   (nothing is written then); `.closed` after `finish()`.
    public func endRowGroup() throws(ParquetError) {
        guard !finished else { throw ParquetError(.closed, field: "file", position: byteCount, "already finished") }
        let rows = columns[0].rowCount
        if let odd = columns.first(where: { $0.rowCount != rows }) {
            throw ParquetError(
                .invalidArgument, field: odd.leaf.path.joined(separator: "."), position: odd.rowCount,
                "column has \(odd.rowCount) rows, \(columns[0].leaf.path.joined(separator: ".")) has \(rows)")
        }
        guard rows > 0 else { return }
        var finishedChunks: [ParquetColumnWriter.FinishedChunk] = []
        for column in columns { finishedChunks.append(try column.finishChunk()) }
        var chunks: [ColumnChunk] = []
        var indexes: [(column: ColumnIndex?, offset: OffsetIndex)] = []
        let groupStart = Int64(byteCount)
        var uncompressed: Int64 = 0
        for (leaf, chunk) in zip(schema.leaves, finishedChunks) {
            let start = Int64(byteCount)
            pending.append(contentsOf: chunk.bytes)
            let meta = ColumnMetaData(
                type: leaf.type.rawValue,
                encodings: chunk.hasLevels
                    ? [ParquetEnum.encodingPlain, ParquetEnum.encodingRLE] : [ParquetEnum.encodingPlain],
                pathInSchema: leaf.path, codec: options.codec.rawValue, valueCount: Int64(chunk.levelCount),
                totalUncompressedBytes: Int64(chunk.uncompressedBytes), totalCompressedBytes: Int64(chunk.bytes.count),
                dataPageOffset: start, statistics: chunk.statistics)
            chunks.append(ColumnChunk(fileOffset: start, metaData: meta))
            uncompressed += Int64(chunk.uncompressedBytes)
            let locations = chunk.locations.map {
                PageLocation(
                    offset: $0.offset + start, compressedPageBytes: $0.compressedPageBytes,
                    firstRowIndex: $0.firstRowIndex)
            }
            indexes.append((chunk.columnIndex, OffsetIndex(pageLocations: locations)))
        }
        rowGroups.append(
            RowGroup(
                columns: chunks, totalByteSize: uncompressed, rowCount: Int64(rows), fileOffset: groupStart,
                totalCompressedBytes: Int64(byteCount) - groupStart, ordinal: Int16(truncatingIfNeeded: rowGroups.count)
            ))
        pageIndexes.append(indexes)
    }

    /// Closes the open row group, writes the page index and the footer; returns the bytes not
    /// yet taken. The writer refuses further use.
    /// - Throws: as `endRowGroup()`; `ParquetError(.outOfBounds)` past 32,767 row groups.
    public func finish() throws(ParquetError) -> [UInt8] {
        try endRowGroup()
        guard rowGroups.count <= Int(Int16.max) else {
            throw ParquetError(.outOfBounds, field: "row_groups", position: byteCount, "more than 32,767 row groups")
        }
        finished = true
        for (g, indexes) in pageIndexes.enumerated() {
            for (c, index) in indexes.enumerated() {
                guard let columnIndex = index.column else { continue }
                let bytes = ThriftCompactWriter.encode(columnIndex.thrift)
                rowGroups[g].columns[c].columnIndexOffset = Int64(byteCount)
                rowGroups[g].columns[c].columnIndexLength = Int32(bytes.count)
                pending.append(contentsOf: bytes)
            }
        }
        for (g, indexes) in pageIndexes.enumerated() {
            for (c, index) in indexes.enumerated() {
                let bytes = ThriftCompactWriter.encode(index.offset.thrift)
                rowGroups[g].columns[c].offsetIndexOffset = Int64(byteCount)
                rowGroups[g].columns[c].offsetIndexLength = Int32(bytes.count)
                pending.append(contentsOf: bytes)
            }
        }
        let metadata = FileMetaData(
            version: 1, schema: schema.elements, rowCount: rowCount, rowGroups: rowGroups,
            createdBy: options.createdBy, columnOrdersTypeDefined: schema.leaves.map { _ in true })
        let footer = ThriftCompactWriter.encode(metadata.thrift)
        pending.append(contentsOf: footer)
        withUnsafeBytes(of: UInt32(footer.count).littleEndian) { pending.append(contentsOf: $0) }
        pending.append(contentsOf: Array("PAR1".utf8))
        return takeBytes()
    }
}
