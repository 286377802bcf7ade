import StrataFormat

/// Writes one leaf column of the current row group: values with their definition and
/// repetition levels, cut into data pages (v1, PLAIN) at row boundaries.
///
/// Levels follow Dremel: a value's definition level is its leaf's `maxDefinitionLevel`; a null
/// (or an empty or absent ancestor) has a lower one; repetition level 0 starts a new row.
/// Every append checks its arguments before it changes anything.
public final class ParquetColumnWriter {
    public let leaf: ParquetLeaf
    let options: ParquetWriterOptions
    let compressor: Zstd.Compressor?

    // The page being filled.
    var values: [UInt8] = []
    var definitionLevels: [UInt8] = []
    var repetitionLevels: [UInt8] = []
    var pageLevelCount = 0
    var pageRowCount = 0
    var pageNullCount = 0
    /// BOOLEAN values in the open page: PLAIN packs them 8 to a byte, first value in the low bit.
    var pageBooleanCount = 0
    var pageMin = Int64.max
    var pageMax = Int64.min

    // The column chunk: finished pages and what the footer and page index say about them.
    var chunkBytes: [UInt8] = []
    var chunkUncompressedBytes = 0
    var locations: [PageLocation] = []
    var pageStatistics: [(min: Int64, max: Int64, nullCount: Int64, valueCount: Int)] = []
    var chunkRowCount = 0
    var chunkLevelCount = 0
    var chunkNullCount = 0
    var chunkMin = Int64.max
    var chunkMax = Int64.min

    init(leaf: ParquetLeaf, options: ParquetWriterOptions, compressor: Zstd.Compressor?) {
        self.leaf = leaf
        self.options = options
        self.compressor = compressor
    }

    /// Rows started in the current row group (pages written and the page being filled).
    public var rowCount: Int { chunkRowCount + pageRowCount }

    /// Bytes held for the current row group: finished pages (compressed) and the open page (raw).
    public var bufferedBytes: Int { chunkBytes.count + values.count + definitionLevels.count + repetitionLevels.count }

    // MARK: appending

    /// Appends an INT32 value.
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not INT32 or the levels are
    ///   not a value's (see `appendNull`).
    public func append(int32 value: Int32, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        try check(.int32, definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        try level(definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        withUnsafeBytes(of: value.littleEndian) { values.append(contentsOf: $0) }
        noteValue(Int64(value))
    }

    /// Appends an INT64 value.
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not INT64 or the levels are wrong.
    public func append(int64 value: Int64, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        try check(.int64, definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        try level(definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        withUnsafeBytes(of: value.littleEndian) { values.append(contentsOf: $0) }
        noteValue(value)
    }

    /// Appends a BOOLEAN value.
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not BOOLEAN or the levels are wrong.
    public func append(bool value: Bool, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        try check(.boolean, definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        try level(definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        if pageBooleanCount % 8 == 0 { values.append(0) }
        if value { values[values.count - 1] |= 1 << UInt8(pageBooleanCount % 8) }
        pageBooleanCount += 1
    }

    /// Appends a FLOAT value (IEEE 754, little-endian).
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not FLOAT or the levels are wrong.
    public func append(float value: Float, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        try check(.float, definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        try level(definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { values.append(contentsOf: $0) }
    }

    /// Appends a DOUBLE value (IEEE 754, little-endian).
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not DOUBLE or the levels are wrong.
    public func append(
        double value: Double, definitionLevel: Int? = nil, repetitionLevel: Int = 0
    ) throws(ParquetError) {
        try check(.double, definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        try level(definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { values.append(contentsOf: $0) }
    }

    /// Appends a BYTE_ARRAY value (PLAIN: a 4-byte little-endian length, then the bytes).
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not BYTE_ARRAY, the levels
    ///   are wrong, or the value is 2 GiB or more.
    public func append(
        bytes value: some Collection<UInt8>, definitionLevel: Int? = nil, repetitionLevel: Int = 0
    ) throws(ParquetError) {
        try check(.byteArray, definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        guard value.count <= Int(Int32.max) - 4 else {
            throw argument("a BYTE_ARRAY value of \(value.count) bytes exceeds the 2 GiB page limit")
        }
        try level(definitionLevel ?? leaf.maxDefinitionLevel, repetitionLevel, isNull: false)
        withUnsafeBytes(of: UInt32(value.count).littleEndian) { values.append(contentsOf: $0) }
        values.append(contentsOf: value)
    }

    /// Appends a null, or an empty or null ancestor: no value, only levels.
    /// - Parameter definitionLevel: below the leaf's `maxDefinitionLevel` (how many of its
    ///   optional or repeated ancestors are present).
    /// - Throws: `ParquetError(.invalidArgument)` when the level is not below the maximum or the
    ///   repetition level is out of range.
    public func appendNull(definitionLevel: Int, repetitionLevel: Int = 0) throws(ParquetError) {
        try check(leaf.type, definitionLevel, repetitionLevel, isNull: true)
        try level(definitionLevel, repetitionLevel, isNull: true)
        pageNullCount += 1
    }

    func argument(_ message: String) -> ParquetError {
        ParquetError(.invalidArgument, field: leaf.path.joined(separator: "."), position: rowCount, message)
    }

    func check(
        _ type: ParquetEnum.PhysicalType, _ definition: Int, _ repetition: Int, isNull: Bool
    ) throws(ParquetError) {
        guard type == leaf.type else { throw argument("the column is \(leaf.type), not \(type)") }
        if isNull {
            guard definition >= 0 && definition < leaf.maxDefinitionLevel else {
                throw argument("a null needs a definition level in [0, \(leaf.maxDefinitionLevel)), not \(definition)")
            }
        } else if definition != leaf.maxDefinitionLevel {
            throw argument("a value's definition level is \(leaf.maxDefinitionLevel), not \(definition)")
        }
        guard repetition >= 0 && repetition <= leaf.maxRepetitionLevel else {
            throw argument("repetition level \(repetition) outside [0, \(leaf.maxRepetitionLevel)]")
        }
        guard repetition == 0 || rowCount > 0 else { throw argument("the first level must start a row (repetition 0)") }
    }

    /// Records the levels of one entry, first closing the page when a new row starts and the
    /// page is full: pages begin at rows, as the OffsetIndex's first_row_index requires.
    func level(_ definition: Int, _ repetition: Int, isNull: Bool) throws(ParquetError) {
        if repetition == 0 {
            if pageRowCount >= options.pageRowCountMax || values.count + pageLevelCount >= options.pageBytesTarget {
                try flushPage()
            }
            pageRowCount += 1
        }
        if leaf.maxDefinitionLevel > 0 { definitionLevels.append(UInt8(definition)) }
        if leaf.maxRepetitionLevel > 0 { repetitionLevels.append(UInt8(repetition)) }
        pageLevelCount += 1
    }

    func noteValue(_ v: Int64) {
        pageMin = min(pageMin, v)
        pageMax = max(pageMax, v)
    }

    // MARK: pages and chunks

    /// Closes the open page: levels (each with a 4-byte length), then the values, compressed.
    func flushPage() throws(ParquetError) {
        guard pageLevelCount > 0 else { return }
        var body: [UInt8] = []
        body.reserveCapacity(values.count + (definitionLevels.count + repetitionLevels.count) / 2 + 16)
        if leaf.maxRepetitionLevel > 0 { appendLevels(repetitionLevels, maxLevel: leaf.maxRepetitionLevel, to: &body) }
        if leaf.maxDefinitionLevel > 0 { appendLevels(definitionLevels, maxLevel: leaf.maxDefinitionLevel, to: &body) }
        body.append(contentsOf: values)
        guard body.count <= Int(Int32.max) else { throw argument("a page of \(body.count) bytes exceeds 2 GiB") }
        let data: [UInt8]
        if let compressor {
            do {
                data = try withParquetBytes(body) { (raw) throws(FormatError) in try compressor.compressFrame(raw) }
            } catch {
                throw ParquetError(
                    .compression, field: leaf.path.joined(separator: "."), position: rowCount, error.message)
            }
        } else {
            data = body
        }
        let header = ThriftCompactWriter.encode(
            PageHeader.dataPage(
                uncompressedBytes: Int32(body.count), compressedBytes: Int32(data.count),
                valueCount: Int32(pageLevelCount)
            ).thrift)
        locations.append(
            PageLocation(
                offset: Int64(chunkBytes.count), compressedPageBytes: Int32(header.count + data.count),
                firstRowIndex: Int64(chunkRowCount)))
        pageStatistics.append(
            (pageMin, pageMax, Int64(pageNullCount), pageLevelCount - pageNullCount))
        chunkBytes.append(contentsOf: header)
        chunkBytes.append(contentsOf: data)
        chunkUncompressedBytes += header.count + body.count
        chunkRowCount += pageRowCount
        chunkLevelCount += pageLevelCount
        chunkNullCount += pageNullCount
        chunkMin = min(chunkMin, pageMin)
        chunkMax = max(chunkMax, pageMax)
        values.removeAll(keepingCapacity: true)
        definitionLevels.removeAll(keepingCapacity: true)
        repetitionLevels.removeAll(keepingCapacity: true)
        (pageLevelCount, pageRowCount, pageNullCount, pageMin, pageMax) = (0, 0, 0, .max, .min)
        pageBooleanCount = 0
    }

    func appendLevels(_ levels: [UInt8], maxLevel: Int, to body: inout [UInt8]) {
        let lengthAt = body.count
        body.append(contentsOf: [0, 0, 0, 0])
        LevelCodec.encode(levels, bitWidth: LevelCodec.bitWidth(maxLevel), into: &body)
        let length = UInt32(body.count - lengthAt - 4)
        for i in 0 ..< 4 { body[lengthAt + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
    }

    /// The plain encoding of an integer statistic in this column's width.
    func plain(_ v: Int64) -> [UInt8] {
        if leaf.type == .int32 { return withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { Array($0) } }
        return withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    /// What a finished column chunk contributes to the file.
    struct FinishedChunk {
        var bytes: [UInt8]
        var uncompressedBytes: Int
        var levelCount: Int
        var statistics: ParquetStatistics
        /// Page offsets relative to the chunk's start.
        var locations: [PageLocation]
        var columnIndex: ColumnIndex?
        var hasLevels: Bool
    }

    /// Closes the open page and hands over the chunk; the writer is then empty for the next row group.
    func finishChunk() throws(ParquetError) -> FinishedChunk {
        try flushPage()
        let hasValues = chunkLevelCount > chunkNullCount
        let statistics = ParquetStatistics(
            nullCount: Int64(chunkNullCount), minValue: leaf.hasMinMax && hasValues ? plain(chunkMin) : nil,
            maxValue: leaf.hasMinMax && hasValues ? plain(chunkMax) : nil)
        var columnIndex: ColumnIndex? = nil
        if leaf.hasMinMax {
            let nonNull = pageStatistics.filter { $0.valueCount > 0 }
            let ascending = zip(nonNull, nonNull.dropFirst()).allSatisfy { $0.min <= $1.min && $0.max <= $1.max }
            let descending = zip(nonNull, nonNull.dropFirst()).allSatisfy { $0.min >= $1.min && $0.max >= $1.max }
            columnIndex = ColumnIndex(
                nullPages: pageStatistics.map { $0.valueCount == 0 },
                minValues: pageStatistics.map { $0.valueCount == 0 ? [] : plain($0.min) },
                maxValues: pageStatistics.map { $0.valueCount == 0 ? [] : plain($0.max) },
                boundaryOrder: ascending
                    ? ParquetEnum.boundaryAscending
                    : descending ? ParquetEnum.boundaryDescending : ParquetEnum.boundaryUnordered,
                nullCounts: pageStatistics.map(\.nullCount))
        }
        let finished = FinishedChunk(
            bytes: chunkBytes, uncompressedBytes: chunkUncompressedBytes, levelCount: chunkLevelCount,
            statistics: statistics, locations: locations, columnIndex: columnIndex,
            hasLevels: leaf.maxDefinitionLevel > 0 || leaf.maxRepetitionLevel > 0)
        chunkBytes = []
        locations = []
        pageStatistics = []
        (chunkUncompressedBytes, chunkRowCount, chunkLevelCount, chunkNullCount) = (0, 0, 0, 0)
        (chunkMin, chunkMax) = (.max, .min)
        return finished
    }
}
