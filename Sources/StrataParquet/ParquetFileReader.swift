import StrataFormat

/// Reads back what `ParquetFileWriter` writes (and files like it: v1 data pages, PLAIN values,
/// RLE levels, no dictionary, uncompressed or zstd): the footer, the page index and the
/// columns. Every length and offset is checked against the file before it is used; bad bytes
/// are a `ParquetError` naming the structure, the field and the byte position.
public struct ParquetFileReader {
    public let bytes: [UInt8]
    public let metadata: FileMetaData
    /// Position of the footer (FileMetaData) in the file.
    public let footerPosition: Int
    /// The leaves described by the footer's schema, in column order.
    public let leaves: [ParquetLeaf]

    /// Decoded values of one column chunk.
    public enum Values: Sendable, Equatable {
        case int32([Int32])
        case int64([Int64])
        case byteArray([[UInt8]])
        case boolean([Bool])
        case float([Float])
        case double([Double])
    }

    /// One column chunk's levels and its non-null values, in order.
    public struct Column: Sendable, Equatable {
        public var definitionLevels: [UInt8]
        public var repetitionLevels: [UInt8]
        public var values: Values
    }

    /// Parses the footer of a whole file.
    /// - Throws: `ParquetError(.badMagic)` without `PAR1` at both ends, `.truncated` /
    ///   `.outOfBounds` / `.invalidValue` for a footer whose lengths, offsets or schema do not
    ///   hold together, `.unsupported` for encryption or chunks in other files.
    public init(_ bytes: [UInt8]) throws(ParquetError) {
        guard bytes.count >= 12 else {
            throw ParquetError(
                .truncated, field: "file", position: 0, "\(bytes.count) bytes cannot hold a Parquet file")
        }
        let magic = Array("PAR1".utf8)
        guard Array(bytes[0 ..< 4]) == magic else {
            throw ParquetError(.badMagic, field: "file.magic", position: 0, "the file does not start with PAR1")
        }
        guard Array(bytes[(bytes.count - 4)...]) == magic else {
            throw ParquetError(
                .badMagic, field: "file.footerMagic", position: bytes.count - 4, "the file does not end with PAR1")
        }
        var length = 0
        for i in 0 ..< 4 { length |= Int(bytes[bytes.count - 8 + i]) << (8 * i) }
        guard length <= bytes.count - 12 else {
            throw ParquetError(
                .outOfBounds, field: "file.footerLength", position: bytes.count - 8,
                "footer of \(length) bytes does not fit in a \(bytes.count)-byte file")
        }
        let start = bytes.count - 8 - length
        let decoded = try withParquetBytes(bytes) { (raw) throws(ParquetError) in
            try ThriftCompactReader.decode(
                UnsafeRawBufferPointer(rebasing: raw[start ..< start + length]), basePosition: start,
                context: "FileMetaData")
        }
        guard decoded.byteCount == length else {
            throw ParquetError(
                .invalidValue, field: "file.footerLength", position: bytes.count - 8,
                "footer declares \(length) bytes, its FileMetaData uses \(decoded.byteCount)")
        }
        self.bytes = bytes
        self.footerPosition = start
        self.metadata = try FileMetaData(decoded.value)
        self.leaves = try Self.leaves(metadata.schema)
        try checkLayout()
    }

    /// Rebuilds the leaves and their levels from the flattened schema.
    static func leaves(_ elements: [SchemaElement]) throws(ParquetError) -> [ParquetLeaf] {
        guard let root = elements.first, let rootChildren = root.childCount, rootChildren >= 0 else {
            throw ParquetError(.invalidValue, field: "FileMetaData.schema", position: 0, "no root element")
        }
        var leaves: [ParquetLeaf] = []
        var index = 1
        func walk(_ count: Int, _ path: [String], _ def: Int, _ rep: Int, _ depth: Int) throws(ParquetError) {
            guard depth < 32 else {
                throw ParquetError(.outOfBounds, field: "FileMetaData.schema", position: 0, "schema nests too deep")
            }
            for _ in 0 ..< count {
                guard index < elements.count else {
                    throw ParquetError(
                        .invalidValue, field: "SchemaElement.num_children", position: 0,
                        "the schema declares more children than it has elements")
                }
                let element = elements[index]
                index += 1
                let repetition = element.repetition ?? ParquetEnum.Repetition.required.rawValue
                let d = def + (repetition == ParquetEnum.Repetition.required.rawValue ? 0 : 1)
                let r = rep + (repetition == ParquetEnum.Repetition.repeated.rawValue ? 1 : 0)
                if let children = element.childCount, element.type == nil {
                    guard children >= 0 else {
                        throw ParquetError(
                            .invalidValue, field: "SchemaElement.num_children", position: 0, "is negative")
                    }
                    try walk(Int(children), path + [element.name], d, r, depth + 1)
                } else {
                    guard let raw = element.type, let type = ParquetEnum.PhysicalType(rawValue: raw) else {
                        throw ParquetError(
                            .invalidValue, field: "SchemaElement.type", position: 0,
                            "\(element.name) has no valid physical type")
                    }
                    leaves.append(
                        ParquetLeaf(
                            path: path + [element.name], type: type, maxDefinitionLevel: d, maxRepetitionLevel: r,
                            fieldId: element.fieldId))
                }
            }
        }
        try walk(Int(rootChildren), [], 0, 0, 0)
        guard index == elements.count else {
            throw ParquetError(
                .invalidValue, field: "SchemaElement.num_children", position: 0,
                "\(elements.count - index) schema elements belong to no group")
        }
        return leaves
    }

    /// Row counts add up, every chunk matches its leaf and lies between the magic and the footer.
    func checkLayout() throws(ParquetError) {
        let rows = metadata.rowGroups.reduce(Int64(0)) { $0 + $1.rowCount }
        guard rows == metadata.rowCount else {
            throw ParquetError(
                .invalidValue, field: "FileMetaData.num_rows", position: footerPosition,
                "is \(metadata.rowCount), the row groups hold \(rows)")
        }
        for (g, group) in metadata.rowGroups.enumerated() {
            guard group.columns.count == leaves.count else {
                throw ParquetError(
                    .invalidValue, field: "RowGroup.columns", position: footerPosition,
                    "row group \(g) has \(group.columns.count) columns, the schema \(leaves.count)")
            }
            for (chunk, leaf) in zip(group.columns, leaves) {
                let meta = chunk.metaData
                let name = "row group \(g) column \(leaf.path.joined(separator: "."))"
                guard meta.pathInSchema == leaf.path, meta.type == leaf.type.rawValue else {
                    throw ParquetError(
                        .invalidValue, field: "ColumnMetaData.path_in_schema", position: footerPosition,
                        "\(name): chunk is \(meta.pathInSchema.joined(separator: ".")) of type \(meta.type)")
                }
                let (end, overflow) = meta.dataPageOffset.addingReportingOverflow(meta.totalCompressedBytes)
                guard meta.dataPageOffset >= 4, !overflow, end <= Int64(footerPosition) else {
                    throw ParquetError(
                        .outOfBounds, field: "ColumnMetaData.data_page_offset", position: footerPosition,
                        "\(name): [\(meta.dataPageOffset), +\(meta.totalCompressedBytes)) is outside the data")
                }
            }
        }
    }

    /// A range of the file named by the footer, checked to lie before it.
    func range(_ offset: Int64?, _ length: Int32?, _ field: String) throws(ParquetError) -> Range<Int>? {
        guard let offset, let length else { return nil }
        guard offset >= 4, length >= 0, offset <= Int64(footerPosition) - Int64(length) else {
            throw ParquetError(
                .outOfBounds, field: field, position: footerPosition,
                "[\(offset), +\(length)) is outside the file's data")
        }
        return Int(offset) ..< Int(offset) + Int(length)
    }

    func decodeStruct(_ range: Range<Int>, _ context: String) throws(ParquetError) -> ThriftStruct {
        let decoded = try withParquetBytes(bytes) { (raw) throws(ParquetError) in
            try ThriftCompactReader.decode(
                UnsafeRawBufferPointer(rebasing: raw[range]), basePosition: range.lowerBound, context: context)
        }
        guard decoded.byteCount == range.count else {
            throw ParquetError(
                .invalidValue, field: context, position: range.lowerBound,
                "declared \(range.count) bytes, the struct uses \(decoded.byteCount)")
        }
        return decoded.value
    }

    func chunk(_ rowGroup: Int, _ column: Int) throws(ParquetError) -> ColumnChunk {
        guard metadata.rowGroups.indices.contains(rowGroup), leaves.indices.contains(column) else {
            throw ParquetError(
                .invalidArgument, field: "chunk", position: 0,
                "no column \(column) in row group \(rowGroup): \(metadata.rowGroups.count) groups of \(leaves.count)")
        }
        return metadata.rowGroups[rowGroup].columns[column]
    }

    /// The ColumnIndex of a chunk, or nil when the file has none for it.
    public func columnIndex(rowGroup: Int, column: Int) throws(ParquetError) -> ColumnIndex? {
        let chunk = try self.chunk(rowGroup, column)
        guard
            let r = try range(chunk.columnIndexOffset, chunk.columnIndexLength, "ColumnChunk.column_index_offset")
        else { return nil }
        return try ColumnIndex(decodeStruct(r, "ColumnIndex"))
    }

    /// The OffsetIndex of a chunk, or nil when the file has none for it.
    public func offsetIndex(rowGroup: Int, column: Int) throws(ParquetError) -> OffsetIndex? {
        let chunk = try self.chunk(rowGroup, column)
        guard
            let r = try range(chunk.offsetIndexOffset, chunk.offsetIndexLength, "ColumnChunk.offset_index_offset")
        else { return nil }
        return try OffsetIndex(decodeStruct(r, "OffsetIndex"))
    }

    /// The pages of a chunk: each header's position and the range of its (compressed) data.
    /// - Throws: `ParquetError` when a page header is malformed, is not a v1 data page, or
    ///   the pages do not fill the chunk exactly or hold its value count.
    public func pages(
        rowGroup: Int, column: Int
    ) throws(ParquetError) -> [(position: Int, header: PageHeader, data: Range<Int>)] {
        let meta = try chunk(rowGroup, column).metaData
        let end = Int(meta.dataPageOffset + meta.totalCompressedBytes)
        var position = Int(meta.dataPageOffset)
        var pages: [(position: Int, header: PageHeader, data: Range<Int>)] = []
        var values: Int64 = 0
        while position < end {
            let decoded = try withParquetBytes(bytes) { (raw) throws(ParquetError) in
                try ThriftCompactReader.decode(
                    UnsafeRawBufferPointer(rebasing: raw[position ..< end]), basePosition: position,
                    context: "PageHeader")
            }
            let header = try PageHeader(decoded.value)
            guard header.type == ParquetEnum.pageTypeData, let count = header.valueCount else {
                throw ParquetError(
                    .unsupported, field: "PageHeader.type", position: position, "page type \(header.type) is not read")
            }
            let dataStart = position + decoded.byteCount
            guard Int(header.compressedBytes) <= end - dataStart else {
                throw ParquetError(
                    .outOfBounds, field: "PageHeader.compressed_page_size", position: position,
                    "\(header.compressedBytes) bytes run past the chunk's end at \(end)")
            }
            pages.append((position, header, dataStart ..< dataStart + Int(header.compressedBytes)))
            values += Int64(count)
            position = dataStart + Int(header.compressedBytes)
        }
        guard values == meta.valueCount else {
            throw ParquetError(
                .invalidValue, field: "ColumnMetaData.num_values", position: footerPosition,
                "is \(meta.valueCount), the pages hold \(values)")
        }
        return pages
    }

    /// Decodes a whole column chunk: decompresses each page, reads its levels and PLAIN values.
    public func column(rowGroup: Int, column: Int) throws(ParquetError) -> Column {
        let meta = try chunk(rowGroup, column).metaData
        let leaf = leaves[column]
        var result = Column(definitionLevels: [], repetitionLevels: [], values: .int32([]))
        var int32s: [Int32] = []
        var int64s: [Int64] = []
        var arrays: [[UInt8]] = []
        var others = OtherValues()
        for page in try pages(rowGroup: rowGroup, column: column) {
            let body = try pageBody(page.header, page.data, codec: meta.codec)
            guard page.header.encoding == ParquetEnum.encodingPlain else {
                throw ParquetError(
                    .unsupported, field: "DataPageHeader.encoding", position: page.position,
                    "encoding \(page.header.encoding ?? -1) is not read (only PLAIN)")
            }
            let count = Int(page.header.valueCount ?? 0)
            var cursor = 0
            let reps = try levels(body, &cursor, count, leaf.maxRepetitionLevel, page.data.lowerBound, "repetition")
            let defs = try levels(body, &cursor, count, leaf.maxDefinitionLevel, page.data.lowerBound, "definition")
            let present =
                leaf.maxDefinitionLevel == 0 ? count : defs.filter { Int($0) == leaf.maxDefinitionLevel }.count
            result.repetitionLevels += reps
            result.definitionLevels += defs
            if [.boolean, .float, .double].contains(leaf.type) {
                try others.append(body, cursor, present, leaf.type, page.data.lowerBound)
            } else {
                try plainValues(body, cursor, present, leaf.type, page.data.lowerBound, &int32s, &int64s, &arrays)
            }
        }
        switch leaf.type {
        case .int32: result.values = .int32(int32s)
        case .int64: result.values = .int64(int64s)
        case .boolean: result.values = .boolean(others.booleans)
        case .float: result.values = .float(others.floats)
        case .double: result.values = .double(others.doubles)
        default: result.values = .byteArray(arrays)
        }
        return result
    }

    func pageBody(_ header: PageHeader, _ data: Range<Int>, codec: Int32) throws(ParquetError) -> [UInt8] {
        switch codec {
        case ParquetCodec.uncompressed.rawValue:
            guard data.count == Int(header.uncompressedBytes) else {
                throw ParquetError(
                    .invalidValue, field: "PageHeader.uncompressed_page_size", position: data.lowerBound,
                    "an uncompressed page of \(data.count) bytes declares \(header.uncompressedBytes)")
            }
            return Array(bytes[data])
        case ParquetCodec.zstd.rawValue:
            do {
                return try withParquetBytes(bytes) { (raw) throws(FormatError) in
                    try Zstd.decompressFrame(
                        UnsafeRawBufferPointer(rebasing: raw[data]), rawSize: Int(header.uncompressedBytes),
                        basePosition: data.lowerBound)
                }
            } catch {
                throw ParquetError(.compression, field: "page", position: data.lowerBound, error.message)
            }
        default:
            throw ParquetError(
                .unsupported, field: "ColumnMetaData.codec", position: footerPosition, "codec \(codec) is not read")
        }
    }

    func levels(
        _ body: [UInt8], _ cursor: inout Int, _ count: Int, _ maxLevel: Int, _ base: Int, _ kind: String
    ) throws(ParquetError) -> [UInt8] {
        guard maxLevel > 0 else { return [] }
        guard body.count - cursor >= 4 else {
            throw ParquetError(.truncated, field: "page.\(kind)Levels", position: base, "no room for the length")
        }
        var length = 0
        for i in 0 ..< 4 { length |= Int(body[cursor + i]) << (8 * i) }
        cursor += 4
        guard length <= body.count - cursor else {
            throw ParquetError(
                .outOfBounds, field: "page.\(kind)Levels", position: base, "\(length) bytes run past the page")
        }
        let levels = try LevelCodec.decode(
            body[cursor ..< cursor + length], count: count, bitWidth: LevelCodec.bitWidth(maxLevel), maxLevel: maxLevel,
            basePosition: base, field: "page.\(kind)Levels")
        cursor += length
        return levels
    }

    func plainValues(
        _ body: [UInt8], _ start: Int, _ count: Int, _ type: ParquetEnum.PhysicalType, _ base: Int,
        _ int32s: inout [Int32], _ int64s: inout [Int64], _ arrays: inout [[UInt8]]
    ) throws(ParquetError) {
        var cursor = start
        func read(_ n: Int) throws(ParquetError) -> UInt64 {
            guard body.count - cursor >= n else {
                throw ParquetError(.truncated, field: "page.values", position: base, "values end early")
            }
            var v: UInt64 = 0
            for i in 0 ..< n { v |= UInt64(body[cursor + i]) << (8 * UInt64(i)) }
            cursor += n
            return v
        }
        for _ in 0 ..< count {
            switch type {
            case .int32: int32s.append(Int32(bitPattern: UInt32(truncatingIfNeeded: try read(4))))
            case .int64: int64s.append(Int64(bitPattern: try read(8)))
            case .byteArray:
                let n = Int(try read(4))
                guard n <= body.count - cursor else {
                    throw ParquetError(.outOfBounds, field: "page.values", position: base, "a value runs past the page")
                }
                arrays.append(Array(body[cursor ..< cursor + n]))
                cursor += n
            default:
                throw ParquetError(
                    .unsupported, field: "SchemaElement.type", position: base, "type \(type) is not read")
            }
        }
        guard cursor == body.count else {
            throw ParquetError(
                .invalidValue, field: "page.values", position: base, "\(body.count - cursor) bytes follow the values")
        }
    }
}

/// PLAIN values of the BOOLEAN (bit-packed, low bit first), FLOAT and DOUBLE columns.
struct OtherValues {
    var booleans: [Bool] = []
    var floats: [Float] = []
    var doubles: [Double] = []

    mutating func append(
        _ body: [UInt8], _ start: Int, _ count: Int, _ type: ParquetEnum.PhysicalType, _ base: Int
    ) throws(ParquetError) {
        let width = type == .boolean ? 0 : type == .float ? 4 : 8
        let needed = type == .boolean ? (count + 7) / 8 : count * width
        guard body.count - start == needed else {
            throw ParquetError(
                .invalidValue, field: "page.values", position: base,
                "\(count) \(type) values need \(needed) bytes, the page holds \(body.count - start)")
        }
        for i in 0 ..< count {
            switch type {
            case .boolean: booleans.append(body[start + i / 8] >> UInt8(i % 8) & 1 == 1)
            case .float:
                var v: UInt32 = 0
                for j in 0 ..< 4 { v |= UInt32(body[start + 4 * i + j]) << (8 * UInt32(j)) }
                floats.append(Float(bitPattern: v))
            default:
                var v: UInt64 = 0
                for j in 0 ..< 8 { v |= UInt64(body[start + 8 * i + j]) << (8 * UInt64(j)) }
                doubles.append(Double(bitPattern: v))
            }
        }
    }
}
