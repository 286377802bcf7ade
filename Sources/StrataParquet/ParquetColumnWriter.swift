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

    /// The page being filled, in one stored property: each append is one exclusive access of
    /// the writer. Every access to a class's stored property is checked at run time; with a
    /// property per buffer and counter, those checks were 40% of the table writer's time per row.
    var page = OpenPage()

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
    public var rowCount: Int { chunkRowCount + page.rowCount }

    /// Bytes held for the current row group: finished pages (compressed) and the open page (raw).
    public var bufferedBytes: Int { chunkBytes.count + page.bufferedBytes }

    // MARK: appending

    /// Appends an INT32 value.
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not INT32 or the levels are
    ///   not a value's (see `appendNull`).
    public func append(int32 value: Int32, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        let definition = definitionLevel ?? leaf.maxDefinitionLevel
        try check(.int32, definition, repetitionLevel, isNull: false)
        try startEntry(repetitionLevel)
        page.append(fixed: value.littleEndian, statistic: Int64(value), level(definition, repetitionLevel))
    }

    /// Appends an INT64 value.
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not INT64 or the levels are wrong.
    public func append(int64 value: Int64, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        let definition = definitionLevel ?? leaf.maxDefinitionLevel
        try check(.int64, definition, repetitionLevel, isNull: false)
        try startEntry(repetitionLevel)
        page.append(fixed: value.littleEndian, statistic: value, level(definition, repetitionLevel))
    }

    /// Appends a BOOLEAN value.
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not BOOLEAN or the levels are wrong.
    public func append(bool value: Bool, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        let definition = definitionLevel ?? leaf.maxDefinitionLevel
        try check(.boolean, definition, repetitionLevel, isNull: false)
        try startEntry(repetitionLevel)
        page.append(bool: value, level(definition, repetitionLevel))
    }

    /// Appends a FLOAT value (IEEE 754, little-endian).
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not FLOAT or the levels are wrong.
    public func append(float value: Float, definitionLevel: Int? = nil, repetitionLevel: Int = 0) throws(ParquetError) {
        let definition = definitionLevel ?? leaf.maxDefinitionLevel
        try check(.float, definition, repetitionLevel, isNull: false)
        try startEntry(repetitionLevel)
        page.append(fixed: value.bitPattern.littleEndian, statistic: nil, level(definition, repetitionLevel))
    }

    /// Appends a DOUBLE value (IEEE 754, little-endian).
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not DOUBLE or the levels are wrong.
    public func append(
        double value: Double, definitionLevel: Int? = nil, repetitionLevel: Int = 0
    ) throws(ParquetError) {
        let definition = definitionLevel ?? leaf.maxDefinitionLevel
        try check(.double, definition, repetitionLevel, isNull: false)
        try startEntry(repetitionLevel)
        page.append(fixed: value.bitPattern.littleEndian, statistic: nil, level(definition, repetitionLevel))
    }

    /// Appends a BYTE_ARRAY value (PLAIN: a 4-byte little-endian length, then the bytes).
    /// - Throws: `ParquetError(.invalidArgument)` when the column is not BYTE_ARRAY, the levels
    ///   are wrong, or the value is 2 GiB or more.
    public func append(
        bytes value: some Collection<UInt8>, definitionLevel: Int? = nil, repetitionLevel: Int = 0
    ) throws(ParquetError) {
        let definition = definitionLevel ?? leaf.maxDefinitionLevel
        try check(.byteArray, definition, repetitionLevel, isNull: false)
        guard value.count <= Int(Int32.max) - 4 else {
            throw argument("a BYTE_ARRAY value of \(value.count) bytes exceeds the 2 GiB page limit")
        }
        try startEntry(repetitionLevel)
        page.append(bytes: value, level(definition, repetitionLevel))
    }

    /// Appends a null, or an empty or null ancestor: no value, only levels.
    /// - Parameter definitionLevel: below the leaf's `maxDefinitionLevel` (how many of its
    ///   optional or repeated ancestors are present).
    /// - Throws: `ParquetError(.invalidArgument)` when the level is not below the maximum or the
    ///   repetition level is out of range.
    public func appendNull(definitionLevel: Int, repetitionLevel: Int = 0) throws(ParquetError) {
        try check(leaf.type, definitionLevel, repetitionLevel, isNull: true)
        try startEntry(repetitionLevel)
        page.appendNull(level(definitionLevel, repetitionLevel))
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

    /// Before an entry: closes the page when a new row starts and the page is full, so pages
    /// begin at rows, as the OffsetIndex's first_row_index requires.
    func startEntry(_ repetition: Int) throws(ParquetError) {
        if repetition == 0, page.isFull(rowsMax: options.pageRowCountMax, bytesTarget: options.pageBytesTarget) {
            try flushPage()
        }
    }

    // MARK: column-at-a-time

    /// The checked levels of one kind of entry: `check` done once for every entry of a run
    /// (an entry at repetition level 1 is only ever added after its row's first entry, so the
    /// column need not hold a row yet).
    func checkedLevel(
        _ type: ParquetEnum.PhysicalType, definition: Int, repetition: Int, isNull: Bool
    ) throws(ParquetError) -> OpenPage.Level {
        try check(type, definition, 0, isNull: isNull)
        guard repetition >= 0 && repetition <= leaf.maxRepetitionLevel else {
            throw argument("repetition level \(repetition) outside [0, \(leaf.maxRepetitionLevel)]")
        }
        return level(definition, repetition)
    }

    /// Appends one row per element of `rows`: `body` adds that row's entries (at least one, the
    /// first at repetition level 0, all with levels from `checkedLevel`) to the open page. Pages
    /// close at the same rows as entry-at-a-time appends close them, so the column is the same
    /// bytes; but the page is taken once per run of rows between two page flushes, not once per
    /// entry (every access to a class's stored property is checked at run time: with seven
    /// columns, seven or more checks a row; `RecordTableWriter.appendRows`).
    @inline(__always)
    func appendEachRow<Rows: RandomAccessCollection>(
        _ rows: Rows, _ body: (inout OpenPage, Rows.Element) -> Void
    ) throws(ParquetError) {
        let (rowsMax, bytesTarget) = (options.pageRowCountMax, options.pageBytesTarget)
        var i = rows.startIndex
        while i != rows.endIndex {
            if page.isFull(rowsMax: rowsMax, bytesTarget: bytesTarget) { try flushPage() }
            i = withPage { (page: inout OpenPage) -> Rows.Index in
                var j = i
                repeat {
                    body(&page, rows[j])
                    j = rows.index(after: j)
                } while j != rows.endIndex && !page.isFull(rowsMax: rowsMax, bytesTarget: bytesTarget)
                return j
            }
        }
    }

    /// Runs `body` on the open page: one exclusive access for all it does.
    @inline(__always)
    func withPage<R>(_ body: (inout OpenPage) -> R) -> R { body(&page) }

    /// One entry's levels, and which of them this column stores.
    func level(_ definition: Int, _ repetition: Int) -> OpenPage.Level {
        OpenPage.Level(
            definition: UInt8(definition), repetition: UInt8(repetition),
            storesDefinition: leaf.maxDefinitionLevel > 0, storesRepetition: leaf.maxRepetitionLevel > 0)
    }

    // MARK: pages and chunks

    /// Closes the open page: levels (each with a 4-byte length), then the values, compressed.
    func flushPage() throws(ParquetError) {
        guard page.levelCount > 0 else { return }
        var body: [UInt8] = []
        body.reserveCapacity(page.values.count + (page.definitionLevels.count + page.repetitionLevels.count) / 2 + 16)
        if leaf.maxRepetitionLevel > 0 {
            appendLevels(page.repetitionLevels, maxLevel: leaf.maxRepetitionLevel, to: &body)
        }
        if leaf.maxDefinitionLevel > 0 {
            appendLevels(page.definitionLevels, maxLevel: leaf.maxDefinitionLevel, to: &body)
        }
        body.append(contentsOf: page.values)
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
                valueCount: Int32(page.levelCount)
            ).thrift)
        locations.append(
            PageLocation(
                offset: Int64(chunkBytes.count), compressedPageBytes: Int32(header.count + data.count),
                firstRowIndex: Int64(chunkRowCount)))
        pageStatistics.append(
            (page.min, page.max, Int64(page.nullCount), page.levelCount - page.nullCount))
        chunkBytes.append(contentsOf: header)
        chunkBytes.append(contentsOf: data)
        chunkUncompressedBytes += header.count + body.count
        chunkRowCount += page.rowCount
        chunkLevelCount += page.levelCount
        chunkNullCount += page.nullCount
        chunkMin = min(chunkMin, page.min)
        chunkMax = max(chunkMax, page.max)
        page.reset()
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

/// The page a column writer is filling: PLAIN values, the levels, and what the page index and
/// statistics need. Its mutations run on one exclusive access of the writer's `page`.
struct OpenPage {
    /// One entry's levels, and whether the column stores each kind.
    struct Level {
        var definition: UInt8
        var repetition: UInt8
        var storesDefinition: Bool
        var storesRepetition: Bool
    }

    var values: [UInt8] = []
    var definitionLevels: [UInt8] = []
    var repetitionLevels: [UInt8] = []
    var levelCount = 0
    var rowCount = 0
    var nullCount = 0
    /// BOOLEAN values in the page: PLAIN packs them 8 to a byte, first value in the low bit.
    var booleanCount = 0
    var min = Int64.max
    var max = Int64.min

    var bufferedBytes: Int { values.count + definitionLevels.count + repetitionLevels.count }

    func isFull(rowsMax: Int, bytesTarget: Int) -> Bool {
        rowCount >= rowsMax || values.count + levelCount >= bytesTarget
    }

    mutating func add(_ level: Level) {
        if level.repetition == 0 { rowCount += 1 }
        if level.storesDefinition { definitionLevels.append(level.definition) }
        if level.storesRepetition { repetitionLevels.append(level.repetition) }
        levelCount += 1
    }

    /// A fixed-width value already in little-endian order; `statistic` feeds min and max.
    mutating func append<T: FixedWidthInteger>(fixed value: T, statistic: Int64?, _ level: Level) {
        add(level)
        withUnsafeBytes(of: value) { values.append(contentsOf: $0) }
        if let statistic {
            min = Swift.min(min, statistic)
            max = Swift.max(max, statistic)
        }
    }

    mutating func append(bool value: Bool, _ level: Level) {
        add(level)
        if booleanCount % 8 == 0 { values.append(0) }
        if value { values[values.count - 1] |= 1 << UInt8(booleanCount % 8) }
        booleanCount += 1
    }

    /// A BYTE_ARRAY value: its 4-byte little-endian length, then the bytes.
    mutating func append(bytes value: some Collection<UInt8>, _ level: Level) {
        add(level)
        withUnsafeBytes(of: UInt32(value.count).littleEndian) { values.append(contentsOf: $0) }
        values.append(contentsOf: value)
    }

    mutating func appendNull(_ level: Level) {
        add(level)
        nullCount += 1
    }

    /// Empty for the next page, keeping the buffers' capacity.
    mutating func reset() {
        values.removeAll(keepingCapacity: true)
        definitionLevels.removeAll(keepingCapacity: true)
        repetitionLevels.removeAll(keepingCapacity: true)
        (levelCount, rowCount, nullCount, booleanCount, min, max) = (0, 0, 0, 0, .max, .min)
    }
}
