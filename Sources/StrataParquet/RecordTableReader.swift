import StrataFormat

/// Reads a data file of the record schema back into records (for tests, `verify` and
/// rebuilds): the inverse of `RecordTableWriter`.
public enum RecordTableReader {
    /// The partition of every row and the records, in file order (typed value columns, when the
    /// file has them, are not read: `valueFields` reads them).
    /// - Throws: what `ParquetFileReader` throws; `ParquetError(.invalidValue)` when the file's
    ///   leaves are not the record schema's (then only `value_fields` leaves) or its levels do
    ///   not describe whole rows.
    public static func records(_ bytes: [UInt8]) throws(ParquetError) -> (partitions: [Int32], records: [Record]) {
        let file = try ParquetFileReader(bytes)
        let expected = try ParquetSchema(RecordTableWriter.fields).leaves
        let typed = file.leaves.dropFirst(expected.count)
        guard Array(file.leaves.prefix(expected.count)) == expected,
            typed.allSatisfy({ $0.path.count == 2 && $0.path[0] == TableValueSchema.columnName })
        else {
            throw ParquetError(
                .invalidValue, field: "FileMetaData.schema", position: file.footerPosition, "not the record schema")
        }
        var partitions: [Int32] = []
        var records: [Record] = []
        for g in file.metadata.rowGroups.indices {
            var columns: [ParquetFileReader.Column] = []
            for c in expected.indices { columns.append(try file.column(rowGroup: g, column: c)) }
            guard case .int32(let parts) = columns[0].values, case .int64(let offsets) = columns[1].values,
                case .int64(let micros) = columns[2].values, case .byteArray(let keys) = columns[3].values,
                case .byteArray(let values) = columns[4].values, case .byteArray(let headerKeys) = columns[5].values,
                case .byteArray(let headerValues) = columns[6].values
            else { throw ParquetError(.invalidValue, field: "columns", position: 0, "column types differ") }
            let rows = Int(file.metadata.rowGroups[g].rowCount)
            guard parts.count == rows, offsets.count == rows, micros.count == rows,
                columns[3].definitionLevels.count == rows, columns[4].definitionLevels.count == rows
            else {
                throw ParquetError(
                    .invalidValue, field: "RowGroup.num_rows", position: file.footerPosition,
                    "row group \(g) holds \(rows) rows, its flat columns do not")
            }
            var keyIndex = 0
            var valueIndex = 0
            var headerKeyIndex = 0
            var headerValueIndex = 0
            var level = 0  // into the header leaves' levels
            let hk = columns[5]
            let hv = columns[6]
            guard hk.definitionLevels.count == hv.definitionLevels.count, hk.repetitionLevels == hv.repetitionLevels
            else {
                throw ParquetError(.invalidValue, field: "headers", position: 0, "header key and value levels differ")
            }
            for row in 0 ..< rows {
                var record = Record(offset: offsets[row], timestamp: micros[row] / 1000, value: nil)
                if columns[3].definitionLevels[row] == 1 {
                    record.key = keys[keyIndex]
                    keyIndex += 1
                }
                if columns[4].definitionLevels[row] == 1 {
                    record.value = values[valueIndex]
                    valueIndex += 1
                }
                guard level < hk.repetitionLevels.count, hk.repetitionLevels[level] == 0 else {
                    throw ParquetError(.invalidValue, field: "headers", position: 0, "row \(row) has no header levels")
                }
                repeat {
                    if hk.definitionLevels[level] == 2 {
                        guard let key = String(validating: headerKeys[headerKeyIndex], as: UTF8.self) else {
                            throw ParquetError(.invalidValue, field: "headers.key", position: 0, "not UTF-8")
                        }
                        headerKeyIndex += 1
                        var value: [UInt8]? = nil
                        if hv.definitionLevels[level] == 3 {
                            value = headerValues[headerValueIndex]
                            headerValueIndex += 1
                        }
                        record.headers.append(RecordHeader(key: key, value: value))
                    }
                    level += 1
                } while level < hk.repetitionLevels.count && hk.repetitionLevels[level] == 1
                partitions.append(parts[row])
                records.append(record)
            }
        }
        return (partitions, records)
    }

    /// The typed columns of every row, in file order: nil where `value_fields` is null (a null
    /// value, or one that did not match), else each field's value (`.null` where absent).
    /// - Throws: what `ParquetFileReader` throws; `ParquetError(.invalidValue)` when the file's
    ///   leaves are not those `RecordTableWriter` writes for `schema`, or its levels and values
    ///   do not describe whole rows.
    public static func valueFields(
        _ bytes: [UInt8], schema: TableValueSchema
    ) throws(ParquetError) -> [[TableTypedValue]?] {
        let file = try ParquetFileReader(bytes)
        let expected = try ParquetSchema(RecordTableWriter.fields(valueSchema: schema)).leaves
        guard file.leaves == expected else {
            throw ParquetError(
                .invalidValue, field: "FileMetaData.schema", position: file.footerPosition,
                "not the record schema with this value schema's typed columns")
        }
        var rows: [[TableTypedValue]?] = []
        for g in file.metadata.rowGroups.indices {
            let count = Int(file.metadata.rowGroups[g].rowCount)
            var group = [[TableTypedValue]?](repeating: [], count: count)
            for (i, field) in schema.fields.enumerated() {
                let c = RecordTableWriter.recordLeafCount + i
                let column = try file.column(rowGroup: g, column: c)
                let values = try typedValues(column.values, field.type)
                guard column.definitionLevels.count == count,
                    values.count == column.definitionLevels.filter({ $0 == expected[c].maxDefinitionLevel }).count
                else {
                    throw ParquetError(
                        .invalidValue, field: "value_fields.\(field.name)", position: file.footerPosition,
                        "row group \(g): levels or values do not describe \(count) rows")
                }
                var next = 0
                for row in 0 ..< count {
                    switch Int(column.definitionLevels[row]) {
                    case 0: group[row] = nil
                    case expected[c].maxDefinitionLevel:
                        group[row]?.append(values[next])
                        next += 1
                    default: group[row]?.append(.null)
                    }
                }
            }
            rows += group
        }
        return rows
    }

    /// A column's decoded values as the typed values of `type`.
    static func typedValues(
        _ values: ParquetFileReader.Values, _ type: TableValueSchema.FieldType
    ) throws(ParquetError) -> [TableTypedValue] {
        switch (type, values) {
        case (.boolean, .boolean(let v)): return v.map(TableTypedValue.boolean)
        case (.int, .int32(let v)): return v.map(TableTypedValue.int)
        case (.date, .int32(let v)): return v.map(TableTypedValue.date)
        case (.decimal, .int32(let v)): return v.map { .decimal(Int64($0)) }
        case (.decimal, .int64(let v)): return v.map(TableTypedValue.decimal)
        case (.long, .int64(let v)): return v.map(TableTypedValue.long)
        case (.timestamp, .int64(let v)), (.timestamptz, .int64(let v)): return v.map(TableTypedValue.timestamp)
        case (.float, .float(let v)): return v.map(TableTypedValue.float)
        case (.double, .double(let v)): return v.map(TableTypedValue.double)
        case (.binary, .byteArray(let v)): return v.map(TableTypedValue.binary)
        case (.string, .byteArray(let v)):
            var strings: [TableTypedValue] = []
            for bytes in v {
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw ParquetError(.invalidValue, field: "value_fields", position: 0, "a string is not UTF-8")
                }
                strings.append(.string(s))
            }
            return strings
        default:
            throw ParquetError(.invalidValue, field: "value_fields", position: 0, "column values are not \(type)")
        }
    }
}
