import StrataParquet

/// Iceberg's single-value binary serialisation (specification, Appendix D) of the types the
/// table's bounds use: int and date as 4 bytes little-endian, long and timestamptz (µs) as 8.
public enum IcebergValue {
    public static func int(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    public static func long(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    static func readLong(_ b: [UInt8]) -> Int64? {
        guard b.count == 8 else { return nil }
        return b.reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    static func readInt(_ b: [UInt8]) -> Int32? {
        guard b.count == 4 else { return nil }
        return Int32(truncatingIfNeeded: b.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }
}

/// One Parquet data file as a manifest's `data_file`: its path, partition tuple, counts and bounds.
public struct IcebergDataFile: Sendable, Equatable {
    /// The absolute path or URI readers open (`<location>/data/…parquet`).
    public var path: String
    /// identity(`partition`).
    public var partition: Int32
    /// day(`timestamp`): every record of the file has a timestamp in this UTC day (days since 1970-01-01).
    public var day: Int32
    public var recordCount: Int64
    public var fileSizeInBytes: Int64
    /// Per field id, sorted by id when written.
    public var columnSizes: [Int32: Int64]
    public var valueCounts: [Int32: Int64]
    public var nullValueCounts: [Int32: Int64]
    public var lowerBounds: [Int32: [UInt8]]
    public var upperBounds: [Int32: [UInt8]]
    /// Row group starts, ascending.
    public var splitOffsets: [Int64]
    public var sortOrderId: Int32?

    public init(
        path: String, partition: Int32, day: Int32, recordCount: Int64, fileSizeInBytes: Int64,
        columnSizes: [Int32: Int64] = [:], valueCounts: [Int32: Int64] = [:], nullValueCounts: [Int32: Int64] = [:],
        lowerBounds: [Int32: [UInt8]] = [:], upperBounds: [Int32: [UInt8]] = [:], splitOffsets: [Int64] = [],
        sortOrderId: Int32? = IcebergSchema.sortOrderId
    ) {
        self.path = path
        self.partition = partition
        self.day = day
        self.recordCount = recordCount
        self.fileSizeInBytes = fileSizeInBytes
        self.columnSizes = columnSizes
        self.valueCounts = valueCounts
        self.nullValueCounts = nullValueCounts
        self.lowerBounds = lowerBounds
        self.upperBounds = upperBounds
        self.splitOffsets = splitOffsets
        self.sortOrderId = sortOrderId
    }

    static let microsPerDay: Int64 = 86_400_000_000

    /// The data file of a `RecordTableWriter` file, its statistics taken from the footer:
    /// column sizes (compressed bytes) of every leaf; value and null counts of fields 1–5 and of
    /// the typed value columns (the header leaves' level counts are not value counts, so they are
    /// left out); lower and upper bounds of `partition`, `offset`, `timestamp` and the typed int,
    /// long, date and timestamp columns; split offsets at the row groups.
    /// - Throws: what `ParquetFileReader` throws, as `.invalidValue`; `.invalidArgument` for a file with
    ///   no rows, records of several partitions, or timestamps in more than one UTC day (the
    ///   day(`timestamp`) partition holds one day per file).
    public init(path: String, parquet bytes: [UInt8]) throws(IcebergError) {
        let file: ParquetFileReader
        do {
            file = try ParquetFileReader(bytes)
        } catch {
            throw IcebergError(.invalidValue, field: "parquet", position: error.position, "\(path): \(error)")
        }
        func bad(_ message: String) -> IcebergError {
            IcebergError(.invalidArgument, field: "parquet", position: 0, "\(path): \(message)")
        }
        guard file.metadata.rowCount > 0 else { throw bad("holds no rows") }
        var sizes: [Int32: Int64] = [:]
        var values: [Int32: Int64] = [:]
        var nulls: [Int32: Int64] = [:]
        var mins: [Int32: Int64] = [:]
        var maxes: [Int32: Int64] = [:]
        // Typed value columns (ids above 10, never repeated): counts, and bounds where Parquet's
        // plain statistics are Iceberg's single-value bytes (int, date, long, timestamps; not decimals).
        let leafElements = file.metadata.schema.filter { $0.type != nil }
        var typedLower: [Int32: [UInt8]] = [:]
        var typedUpper: [Int32: [UInt8]] = [:]
        var typedUnbounded: Set<Int32> = []
        for group in file.metadata.rowGroups {
            for (j, (leaf, chunk)) in zip(file.leaves, group.columns).enumerated() {
                guard let id = leaf.fieldId else { throw bad("leaf \(leaf.path) has no field id") }
                sizes[id, default: 0] += chunk.metaData.totalCompressedBytes
                if id > TableValueSchema.structFieldId, leaf.maxRepetitionLevel == 0 {
                    values[id, default: 0] += chunk.metaData.valueCount
                    nulls[id, default: 0] += chunk.metaData.statistics?.nullCount ?? 0
                    var decimal = false
                    if case .decimal? = leafElements[j].logicalType { decimal = true }
                    guard !decimal, leaf.type == .int32 || leaf.type == .int64, !typedUnbounded.contains(id) else {
                        continue
                    }
                    guard let stats = chunk.metaData.statistics, let lo = stats.minValue, let hi = stats.maxValue
                    else {
                        // A row group of nulls only has no bounds; the others still bound the file.
                        if chunk.metaData.statistics?.nullCount == chunk.metaData.valueCount { continue }
                        typedUnbounded.insert(id)
                        typedLower[id] = nil
                        typedUpper[id] = nil
                        continue
                    }
                    let less: ([UInt8], [UInt8]) -> Bool =
                        leaf.type == .int32
                        ? { (IcebergValue.readInt($0) ?? 0) < (IcebergValue.readInt($1) ?? 0) }
                        : { (IcebergValue.readLong($0) ?? 0) < (IcebergValue.readLong($1) ?? 0) }
                    guard lo.count == (leaf.type == .int32 ? 4 : 8), hi.count == lo.count else {
                        throw bad("statistics of field \(id) have the wrong width")
                    }
                    if typedLower[id].map({ less(lo, $0) }) ?? true { typedLower[id] = lo }
                    if typedUpper[id].map({ less($0, hi) }) ?? true { typedUpper[id] = hi }
                    continue
                }
                guard id <= 5 else { continue }
                values[id, default: 0] += chunk.metaData.valueCount
                nulls[id, default: 0] += chunk.metaData.statistics?.nullCount ?? 0
                guard id <= 3, let stats = chunk.metaData.statistics, let lo = stats.minValue, let hi = stats.maxValue
                else { continue }
                let (l, h) =
                    id == 1
                    ? (IcebergValue.readInt(lo).map(Int64.init), IcebergValue.readInt(hi).map(Int64.init))
                    : (IcebergValue.readLong(lo), IcebergValue.readLong(hi))
                guard let l, let h else { throw bad("statistics of field \(id) have the wrong width") }
                mins[id] = Swift.min(mins[id] ?? l, l)
                maxes[id] = Swift.max(maxes[id] ?? h, h)
            }
        }
        guard let pLow = mins[1], let pHigh = maxes[1], pLow == pHigh else {
            throw bad("holds several partitions or no partition statistics")
        }
        guard let tLow = mins[3], let tHigh = maxes[3] else { throw bad("has no timestamp statistics") }
        let dayLow = tLow.floorDivided(by: Self.microsPerDay)
        let dayHigh = tHigh.floorDivided(by: Self.microsPerDay)
        guard dayLow == dayHigh else {
            throw bad("timestamps span days \(dayLow)…\(dayHigh); a file holds one UTC day")
        }
        var lower: [Int32: [UInt8]] = [:]
        var upper: [Int32: [UInt8]] = [:]
        for (id, v) in mins { lower[id] = id == 1 ? IcebergValue.int(Int32(v)) : IcebergValue.long(v) }
        for (id, v) in maxes { upper[id] = id == 1 ? IcebergValue.int(Int32(v)) : IcebergValue.long(v) }
        lower.merge(typedLower) { a, _ in a }
        upper.merge(typedUpper) { a, _ in a }
        self.init(
            path: path, partition: Int32(pLow), day: Int32(dayLow), recordCount: file.metadata.rowCount,
            fileSizeInBytes: Int64(bytes.count), columnSizes: sizes, valueCounts: values, nullValueCounts: nulls,
            lowerBounds: lower, upperBounds: upper,
            splitOffsets: file.metadata.rowGroups.map { $0.fileOffset ?? $0.columns[0].fileOffset })
    }

    /// The UTC day of a timestamp in milliseconds, as day(`timestamp`) computes it.
    public static func day(ofMilliseconds ms: Int64) -> Int32 {
        Int32(clamping: ms.floorDivided(by: 86_400_000))
    }

    var avro: AvroValue {
        func map(_ m: [Int32: Int64]) -> AvroValue {
            .optional(.array(m.sorted { $0.key < $1.key }.map { .record([.int($0.key), .long($0.value)]) }))
        }
        func bounds(_ m: [Int32: [UInt8]]) -> AvroValue {
            .optional(.array(m.sorted { $0.key < $1.key }.map { .record([.int($0.key), .bytes($0.value)]) }))
        }
        return .record([
            .int(0),  // content: data
            .string(path),
            .string("PARQUET"),
            .record([.optional(.int(partition)), .optional(.int(day))]),
            .long(recordCount),
            .long(fileSizeInBytes),
            map(columnSizes),
            map(valueCounts),
            map(nullValueCounts),
            .optional(nil),  // nan_value_counts: no floating-point columns
            bounds(lowerBounds),
            bounds(upperBounds),
            .optional(nil),  // key_metadata: not encrypted
            .optional(splitOffsets.isEmpty ? nil : .array(splitOffsets.map { .long($0) })),
            .optional(nil),  // equality_ids: data files only
            .optional(sortOrderId.map { .int($0) }),
        ])
    }
}

extension Int64 {
    /// Division rounding towards negative infinity (days before 1970 are negative).
    func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
