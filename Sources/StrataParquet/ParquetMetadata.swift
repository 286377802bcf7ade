// Parquet's metadata structures (parquet.thrift), the subset Strata writes and reads, with their
// Thrift field ids. Enum-valued fields keep the raw i32 so files from other writers decode.
// formats/table.md, "Metadata".

/// Parquet's enum values used by this writer (parquet.thrift).
public enum ParquetEnum {
    public enum PhysicalType: Int32, Sendable {
        case boolean = 0, int32, int64, int96, float, double, byteArray, fixedLenByteArray
    }
    public enum Repetition: Int32, Sendable { case required = 0, optional, repeated }
    /// ConvertedType: the pre-LogicalType annotations older readers use.
    public static let convertedUTF8: Int32 = 0
    public static let convertedList: Int32 = 3
    public static let convertedTimestampMicros: Int32 = 10
    public static let convertedDecimal: Int32 = 5
    public static let convertedDate: Int32 = 6
    public static let encodingPlain: Int32 = 0
    public static let encodingRLE: Int32 = 3
    public static let pageTypeData: Int32 = 0
    public static let boundaryUnordered: Int32 = 0
    public static let boundaryAscending: Int32 = 1
    public static let boundaryDescending: Int32 = 2
}

/// Page compression codecs this writer produces (CompressionCodec).
public enum ParquetCodec: Int32, Sendable, Codable {
    case uncompressed = 0
    case zstd = 6
}

/// LogicalType, the annotations this writer uses (the union's other members decode as `other`).
public enum ParquetLogicalType: Sendable, Equatable {
    case string
    case list
    /// TimestampType with MICROS: `isAdjustedToUTC` true is Iceberg's `timestamptz`.
    case timestampMicros(isAdjustedToUTC: Bool)
    /// DateType: days since 1970-01-01 in an INT32.
    case date
    /// DecimalType: an unscaled integer (INT32 up to precision 9, INT64 up to 18).
    case decimal(scale: Int32, precision: Int32)
    /// A union member this reader does not interpret: its field id.
    case other(Int16)

    var thrift: ThriftStruct {
        switch self {
        case .string: return ThriftStruct([.init(id: 1, value: .struct(ThriftStruct()))])
        case .list: return ThriftStruct([.init(id: 3, value: .struct(ThriftStruct()))])
        case .timestampMicros(let utc):
            let unit = ThriftStruct([.init(id: 2, value: .struct(ThriftStruct()))])
            let timestamp = ThriftStruct([.init(id: 1, value: .bool(utc)), .init(id: 2, value: .struct(unit))])
            return ThriftStruct([.init(id: 8, value: .struct(timestamp))])
        case .date: return ThriftStruct([.init(id: 6, value: .struct(ThriftStruct()))])
        case .decimal(let scale, let precision):
            let decimal = ThriftStruct([.init(id: 1, value: .i32(scale)), .init(id: 2, value: .i32(precision))])
            return ThriftStruct([.init(id: 5, value: .struct(decimal))])
        case .other(let id): return ThriftStruct([.init(id: id, value: .struct(ThriftStruct()))])
        }
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        guard let member = s.fields.first, s.fields.count == 1 else {
            throw ParquetError(.invalidValue, field: "LogicalType", position: s.position, "a union needs one member")
        }
        switch member.id {
        case 1: self = .string
        case 3: self = .list
        case 8:
            let d = FieldDecoder(try FieldDecoder(s, "LogicalType").requiredStruct(8, "TIMESTAMP"), "TimestampType")
            let utc = try d.bool(1, "isAdjustedToUTC")
            let unit = try d.requiredStruct(2, "unit")
            self = unit[2] != nil ? .timestampMicros(isAdjustedToUTC: utc) : .other(8)
        case 5:
            let d = FieldDecoder(try FieldDecoder(s, "LogicalType").requiredStruct(5, "DECIMAL"), "DecimalType")
            self = .decimal(scale: try d.i32(1, "scale"), precision: try d.i32(2, "precision"))
        case 6: self = .date
        default: self = .other(member.id)
        }
    }
}

/// SchemaElement: one node of the flattened (depth-first) schema.
public struct SchemaElement: Sendable, Equatable {
    public var type: Int32?
    public var repetition: Int32?
    public var name: String
    public var childCount: Int32?
    public var convertedType: Int32?
    public var fieldId: Int32?
    public var logicalType: ParquetLogicalType?
    /// Of a DECIMAL column, repeated from the logical type for readers of the converted type.
    public var scale: Int32?
    public var precision: Int32?

    public init(
        type: Int32? = nil, repetition: Int32? = nil, name: String, childCount: Int32? = nil,
        convertedType: Int32? = nil, fieldId: Int32? = nil, logicalType: ParquetLogicalType? = nil
    ) {
        if case .decimal(let scale, let precision)? = logicalType {
            self.scale = scale
            self.precision = precision
        }
        self.type = type
        self.repetition = repetition
        self.name = name
        self.childCount = childCount
        self.convertedType = convertedType
        self.fieldId = fieldId
        self.logicalType = logicalType
    }

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(1, type.map { .i32($0) })
        s.set(3, repetition.map { .i32($0) })
        s.set(4, .binary(Array(name.utf8)))
        s.set(5, childCount.map { .i32($0) })
        s.set(6, convertedType.map { .i32($0) })
        s.set(7, scale.map { .i32($0) })
        s.set(8, precision.map { .i32($0) })
        s.set(9, fieldId.map { .i32($0) })
        s.set(10, logicalType.map { .struct($0.thrift) })
        return s
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "SchemaElement")
        type = try d.optionalI32(1, "type")
        repetition = try d.optionalI32(3, "repetition_type")
        name = try d.string(4, "name")
        childCount = try d.optionalI32(5, "num_children")
        convertedType = try d.optionalI32(6, "converted_type")
        scale = try d.optionalI32(7, "scale")
        precision = try d.optionalI32(8, "precision")
        fieldId = try d.optionalI32(9, "field_id")
        logicalType = try d.optionalStruct(10, "logicalType").map { (l) throws(ParquetError) in
            try ParquetLogicalType(l)
        }
    }
}

/// Statistics of a column chunk: min/max in the column type's plain encoding, and the nulls.
public struct ParquetStatistics: Sendable, Equatable {
    public var nullCount: Int64?
    public var minValue: [UInt8]?
    public var maxValue: [UInt8]?

    public init(nullCount: Int64?, minValue: [UInt8]? = nil, maxValue: [UInt8]? = nil) {
        self.nullCount = nullCount
        self.minValue = minValue
        self.maxValue = maxValue
    }

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(3, nullCount.map { .i64($0) })
        s.set(5, maxValue.map { .binary($0) })
        s.set(6, minValue.map { .binary($0) })
        return s
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "Statistics")
        nullCount = try d.optionalI64(3, "null_count")
        maxValue = try d.optionalBinary(5, "max_value")
        minValue = try d.optionalBinary(6, "min_value")
    }
}

/// ColumnMetaData: where a column chunk's pages are and what they hold.
public struct ColumnMetaData: Sendable, Equatable {
    public var type: Int32
    public var encodings: [Int32]
    public var pathInSchema: [String]
    public var codec: Int32
    /// Values including nulls: the number of (definition, repetition) level pairs.
    public var valueCount: Int64
    /// Page headers included, as the format counts them.
    public var totalUncompressedBytes: Int64
    public var totalCompressedBytes: Int64
    public var dataPageOffset: Int64
    public var statistics: ParquetStatistics?

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(1, .i32(type))
        s.set(2, .list(.i32, encodings.map { .i32($0) }))
        s.set(3, .list(.binary, pathInSchema.map { .binary(Array($0.utf8)) }))
        s.set(4, .i32(codec))
        s.set(5, .i64(valueCount))
        s.set(6, .i64(totalUncompressedBytes))
        s.set(7, .i64(totalCompressedBytes))
        s.set(9, .i64(dataPageOffset))
        s.set(12, statistics.map { .struct($0.thrift) })
        return s
    }

    init(
        type: Int32, encodings: [Int32], pathInSchema: [String], codec: Int32, valueCount: Int64,
        totalUncompressedBytes: Int64, totalCompressedBytes: Int64, dataPageOffset: Int64,
        statistics: ParquetStatistics?
    ) {
        self.type = type
        self.encodings = encodings
        self.pathInSchema = pathInSchema
        self.codec = codec
        self.valueCount = valueCount
        self.totalUncompressedBytes = totalUncompressedBytes
        self.totalCompressedBytes = totalCompressedBytes
        self.dataPageOffset = dataPageOffset
        self.statistics = statistics
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "ColumnMetaData")
        type = try d.i32(1, "type")
        encodings = try d.i32s(2, "encodings")
        pathInSchema = try d.strings(3, "path_in_schema")
        codec = try d.i32(4, "codec")
        valueCount = try d.i64(5, "num_values")
        totalUncompressedBytes = try d.i64(6, "total_uncompressed_size")
        totalCompressedBytes = try d.i64(7, "total_compressed_size")
        dataPageOffset = try d.i64(9, "data_page_offset")
        if try d.optionalI64(11, "dictionary_page_offset") != nil {
            throw d.invalid(11, "dictionary_page_offset", "dictionary pages are not supported")
        }
        statistics = try d.optionalStruct(12, "statistics").map { (x) throws(ParquetError) in try ParquetStatistics(x) }
        for (id, field) in [(Int16(5), "num_values"), (6, "total_uncompressed_size"), (7, "total_compressed_size")] {
            if case .i64(let v)? = s[id], v < 0 { throw d.invalid(id, field, "is negative: \(v)") }
        }
    }
}

/// ColumnChunk: a column's metadata in a row group and where its page index is.
public struct ColumnChunk: Sendable, Equatable {
    public var fileOffset: Int64
    public var metaData: ColumnMetaData
    public var offsetIndexOffset: Int64?
    public var offsetIndexLength: Int32?
    public var columnIndexOffset: Int64?
    public var columnIndexLength: Int32?

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(2, .i64(fileOffset))
        s.set(3, .struct(metaData.thrift))
        s.set(4, offsetIndexOffset.map { .i64($0) })
        s.set(5, offsetIndexLength.map { .i32($0) })
        s.set(6, columnIndexOffset.map { .i64($0) })
        s.set(7, columnIndexLength.map { .i32($0) })
        return s
    }

    init(fileOffset: Int64, metaData: ColumnMetaData) {
        self.fileOffset = fileOffset
        self.metaData = metaData
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "ColumnChunk")
        if try d.optionalString(1, "file_path") != nil {
            throw d.invalid(1, "file_path", "column chunks in other files are not supported")
        }
        if s[8] != nil || s[9] != nil { throw d.invalid(8, "crypto_metadata", "encrypted columns are not supported") }
        fileOffset = try d.i64(2, "file_offset")
        guard let meta = try d.optionalStruct(3, "meta_data") else { throw d.missing(3, "meta_data") }
        metaData = try ColumnMetaData(meta)
        offsetIndexOffset = try d.optionalI64(4, "offset_index_offset")
        offsetIndexLength = try d.optionalI32(5, "offset_index_length")
        columnIndexOffset = try d.optionalI64(6, "column_index_offset")
        columnIndexLength = try d.optionalI32(7, "column_index_length")
    }
}

/// RowGroup: one horizontal slice of the file, a chunk per leaf column.
public struct RowGroup: Sendable, Equatable {
    public var columns: [ColumnChunk]
    /// Uncompressed bytes of all column data (page headers included).
    public var totalByteSize: Int64
    public var rowCount: Int64
    public var fileOffset: Int64?
    public var totalCompressedBytes: Int64?
    public var ordinal: Int16?

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(1, .list(.struct, columns.map { .struct($0.thrift) }))
        s.set(2, .i64(totalByteSize))
        s.set(3, .i64(rowCount))
        s.set(5, fileOffset.map { .i64($0) })
        s.set(6, totalCompressedBytes.map { .i64($0) })
        s.set(7, ordinal.map { .i16($0) })
        return s
    }

    init(
        columns: [ColumnChunk], totalByteSize: Int64, rowCount: Int64, fileOffset: Int64?,
        totalCompressedBytes: Int64?, ordinal: Int16?
    ) {
        self.columns = columns
        self.totalByteSize = totalByteSize
        self.rowCount = rowCount
        self.fileOffset = fileOffset
        self.totalCompressedBytes = totalCompressedBytes
        self.ordinal = ordinal
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "RowGroup")
        var chunks: [ColumnChunk] = []
        for c in try d.structs(1, "columns") { chunks.append(try ColumnChunk(c)) }
        columns = chunks
        totalByteSize = try d.i64(2, "total_byte_size")
        rowCount = try d.i64(3, "num_rows")
        guard rowCount >= 0 else { throw d.invalid(3, "num_rows", "is negative: \(rowCount)") }
        fileOffset = try d.optionalI64(5, "file_offset")
        totalCompressedBytes = try d.optionalI64(6, "total_compressed_size")
        ordinal = try d.optionalI16(7, "ordinal")
    }
}

/// FileMetaData: the footer.
public struct FileMetaData: Sendable, Equatable {
    public var version: Int32
    public var schema: [SchemaElement]
    public var rowCount: Int64
    public var rowGroups: [RowGroup]
    public var createdBy: String?
    /// One ColumnOrder per leaf; `true` is TYPE_ORDER (min/max use the type's own order).
    public var columnOrdersTypeDefined: [Bool]?

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(1, .i32(version))
        s.set(2, .list(.struct, schema.map { .struct($0.thrift) }))
        s.set(3, .i64(rowCount))
        s.set(4, .list(.struct, rowGroups.map { .struct($0.thrift) }))
        s.set(6, createdBy.map { .binary(Array($0.utf8)) })
        s.set(
            7,
            columnOrdersTypeDefined.map { orders in
                .list(
                    .struct, orders.map { _ in .struct(ThriftStruct([.init(id: 1, value: .struct(ThriftStruct()))])) })
            })
        return s
    }

    init(
        version: Int32, schema: [SchemaElement], rowCount: Int64, rowGroups: [RowGroup], createdBy: String?,
        columnOrdersTypeDefined: [Bool]?
    ) {
        self.version = version
        self.schema = schema
        self.rowCount = rowCount
        self.rowGroups = rowGroups
        self.createdBy = createdBy
        self.columnOrdersTypeDefined = columnOrdersTypeDefined
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "FileMetaData")
        version = try d.i32(1, "version")
        var elements: [SchemaElement] = []
        for e in try d.structs(2, "schema") { elements.append(try SchemaElement(e)) }
        schema = elements
        rowCount = try d.i64(3, "num_rows")
        var groups: [RowGroup] = []
        for g in try d.structs(4, "row_groups") { groups.append(try RowGroup(g)) }
        rowGroups = groups
        createdBy = try d.optionalString(6, "created_by")
        if s[8] != nil { throw d.invalid(8, "encryption_algorithm", "encrypted footers are not supported") }
        if s[7] != nil {
            columnOrdersTypeDefined = try d.structs(7, "column_orders").map { $0[1] != nil }
        } else {
            columnOrdersTypeDefined = nil
        }
    }
}

/// DataPageHeader (v1) inside a PageHeader.
public struct PageHeader: Sendable, Equatable {
    public var type: Int32
    public var uncompressedBytes: Int32
    public var compressedBytes: Int32
    /// DataPageHeader.num_values: level pairs in the page, nulls included.
    public var valueCount: Int32?
    public var encoding: Int32?
    public var definitionLevelEncoding: Int32?
    public var repetitionLevelEncoding: Int32?

    static func dataPage(uncompressedBytes: Int32, compressedBytes: Int32, valueCount: Int32) -> PageHeader {
        PageHeader(
            type: ParquetEnum.pageTypeData, uncompressedBytes: uncompressedBytes, compressedBytes: compressedBytes,
            valueCount: valueCount, encoding: ParquetEnum.encodingPlain,
            definitionLevelEncoding: ParquetEnum.encodingRLE, repetitionLevelEncoding: ParquetEnum.encodingRLE)
    }

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(1, .i32(type))
        s.set(2, .i32(uncompressedBytes))
        s.set(3, .i32(compressedBytes))
        if let valueCount, let encoding, let definitionLevelEncoding, let repetitionLevelEncoding {
            s.set(
                5,
                .struct(
                    ThriftStruct([
                        .init(id: 1, value: .i32(valueCount)), .init(id: 2, value: .i32(encoding)),
                        .init(id: 3, value: .i32(definitionLevelEncoding)),
                        .init(id: 4, value: .i32(repetitionLevelEncoding)),
                    ])))
        }
        return s
    }

    init(
        type: Int32, uncompressedBytes: Int32, compressedBytes: Int32, valueCount: Int32?, encoding: Int32?,
        definitionLevelEncoding: Int32?, repetitionLevelEncoding: Int32?
    ) {
        self.type = type
        self.uncompressedBytes = uncompressedBytes
        self.compressedBytes = compressedBytes
        self.valueCount = valueCount
        self.encoding = encoding
        self.definitionLevelEncoding = definitionLevelEncoding
        self.repetitionLevelEncoding = repetitionLevelEncoding
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "PageHeader")
        type = try d.i32(1, "type")
        uncompressedBytes = try d.i32(2, "uncompressed_page_size")
        compressedBytes = try d.i32(3, "compressed_page_size")
        guard uncompressedBytes >= 0 else { throw d.invalid(2, "uncompressed_page_size", "is negative") }
        guard compressedBytes >= 0 else { throw d.invalid(3, "compressed_page_size", "is negative") }
        if let page = try d.optionalStruct(5, "data_page_header") {
            let p = FieldDecoder(page, "DataPageHeader")
            valueCount = try p.i32(1, "num_values")
            encoding = try p.i32(2, "encoding")
            definitionLevelEncoding = try p.i32(3, "definition_level_encoding")
            repetitionLevelEncoding = try p.i32(4, "repetition_level_encoding")
            if let n = valueCount, n < 0 { throw p.invalid(1, "num_values", "is negative: \(n)") }
        } else {
            valueCount = nil
            encoding = nil
            definitionLevelEncoding = nil
            repetitionLevelEncoding = nil
        }
    }
}

/// ColumnIndex: per page, min and max (plain-encoded) and null counts, for page skipping.
public struct ColumnIndex: Sendable, Equatable {
    public var nullPages: [Bool]
    public var minValues: [[UInt8]]
    public var maxValues: [[UInt8]]
    public var boundaryOrder: Int32
    public var nullCounts: [Int64]?

    var thrift: ThriftStruct {
        var s = ThriftStruct()
        s.set(1, .list(.boolTrue, nullPages.map { .bool($0) }))
        s.set(2, .list(.binary, minValues.map { .binary($0) }))
        s.set(3, .list(.binary, maxValues.map { .binary($0) }))
        s.set(4, .i32(boundaryOrder))
        s.set(5, nullCounts.map { .list(.i64, $0.map { .i64($0) }) })
        return s
    }

    init(nullPages: [Bool], minValues: [[UInt8]], maxValues: [[UInt8]], boundaryOrder: Int32, nullCounts: [Int64]?) {
        self.nullPages = nullPages
        self.minValues = minValues
        self.maxValues = maxValues
        self.boundaryOrder = boundaryOrder
        self.nullCounts = nullCounts
    }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "ColumnIndex")
        nullPages = try d.bools(1, "null_pages")
        minValues = try d.binaries(2, "min_values")
        maxValues = try d.binaries(3, "max_values")
        boundaryOrder = try d.i32(4, "boundary_order")
        nullCounts = try d.optionalI64s(5, "null_counts")
        guard minValues.count == nullPages.count, maxValues.count == nullPages.count,
            nullCounts.map({ $0.count == nullPages.count }) ?? true
        else { throw d.invalid(1, "null_pages", "per-page lists differ in length") }
    }
}

/// PageLocation, one entry of an OffsetIndex.
public struct PageLocation: Sendable, Equatable {
    /// File offset of the page header.
    public var offset: Int64
    /// Header and compressed data.
    public var compressedPageBytes: Int32
    /// Index of the page's first row within the row group.
    public var firstRowIndex: Int64

    public init(offset: Int64, compressedPageBytes: Int32, firstRowIndex: Int64) {
        self.offset = offset
        self.compressedPageBytes = compressedPageBytes
        self.firstRowIndex = firstRowIndex
    }
}

/// OffsetIndex: where each page of a column chunk is and which row it starts with.
public struct OffsetIndex: Sendable, Equatable {
    public var pageLocations: [PageLocation]

    var thrift: ThriftStruct {
        let locations: [ThriftValue] = pageLocations.map {
            .struct(
                ThriftStruct([
                    .init(id: 1, value: .i64($0.offset)), .init(id: 2, value: .i32($0.compressedPageBytes)),
                    .init(id: 3, value: .i64($0.firstRowIndex)),
                ]))
        }
        return ThriftStruct([.init(id: 1, value: .list(.struct, locations))])
    }

    init(pageLocations: [PageLocation]) { self.pageLocations = pageLocations }

    init(_ s: ThriftStruct) throws(ParquetError) {
        let d = FieldDecoder(s, "OffsetIndex")
        var locations: [PageLocation] = []
        for l in try d.structs(1, "page_locations") {
            let p = FieldDecoder(l, "PageLocation")
            locations.append(
                PageLocation(
                    offset: try p.i64(1, "offset"), compressedPageBytes: try p.i32(2, "compressed_page_size"),
                    firstRowIndex: try p.i64(3, "first_row_index")))
        }
        pageLocations = locations
    }
}
