import StrataFormat
import Testing

@testable import StrataParquet

@Suite struct WriterTests {
    func write(_ records: [Record], _ options: RecordTableOptions = RecordTableOptions()) throws -> [UInt8] {
        let writer = try RecordTableWriter(partition: 2, options: options)
        for record in records { try writer.append(record) }
        return try writer.finish()
    }

    @Test func recordsRoundTrip() throws {
        var rng = SeededRNG(seed: 1)
        let records = randomRecords(&rng, count: 1500, firstOffset: 77)
        for codec in [ParquetCodec.zstd, .uncompressed] {
            let options = RecordTableOptions(
                rowGroupRawBytesTarget: 50_000, parquet: ParquetWriterOptions(codec: codec, pageRowCountMax: 64))
            let bytes = try write(records, options)
            let (partitions, read) = try RecordTableReader.records(bytes)
            #expect(read == records)
            #expect(partitions == Array(repeating: 2, count: records.count))
            try checkPageBounds(try ParquetFileReader(bytes), rows: records, partition: 2)
            #expect(
                try ParquetFileReader(bytes).metadata.rowGroups.allSatisfy {
                    $0.columns.allSatisfy { $0.metaData.codec == codec.rawValue }
                })
        }
    }

    /// Every row group but the last reaches the raw byte target, and none passes it by more
    /// than its last record.
    @Test func rowGroupsAreBoundedByTheByteTarget() throws {
        var rng = SeededRNG(seed: 2)
        let records = randomRecords(&rng, count: 2000)
        let target = 30_000
        let bytes = try write(records, RecordTableOptions(rowGroupRawBytesTarget: target))
        let groups = try ParquetFileReader(bytes).metadata.rowGroups
        #expect(groups.count >= 3)
        func raw(_ r: Record) -> Int {
            20 + (r.key?.count ?? 0) + (r.value?.count ?? 0)
                + r.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
        }
        var start = 0
        for (g, group) in groups.enumerated() {
            let rows = records[start ..< start + Int(group.rowCount)]
            start += Int(group.rowCount)
            let total = rows.reduce(0) { $0 + raw($1) }
            if g < groups.count - 1 {
                #expect(total >= target && total - raw(rows.last!) < target, "row group \(g): \(total) bytes")
            } else {
                #expect(total < target)
            }
        }
        #expect(start == records.count)
    }

    /// Pages start at rows: a repeated column's pages each begin with repetition level 0, and
    /// the OffsetIndex rows agree across columns.
    @Test func pagesStartAtRows() throws {
        var rng = SeededRNG(seed: 4)
        let records = randomRecords(&rng, count: 400)
        let bytes = try write(
            records, RecordTableOptions(parquet: ParquetWriterOptions(pageBytesTarget: 300, pageRowCountMax: 1000)))
        let file = try ParquetFileReader(bytes)
        let pages = try file.pages(rowGroup: 0, column: 5)
        #expect(pages.count >= 5)
        let rows = try #require(try file.offsetIndex(rowGroup: 0, column: 5)).pageLocations.map(\.firstRowIndex)
        #expect(rows == rows.sorted() && rows.first == 0)
        let column = try file.column(rowGroup: 0, column: 5)
        // Rows are where repetition is 0: the page starts are among them.
        var rowStarts: [Int64] = []
        var row: Int64 = -1
        for level in column.repetitionLevels {
            if level == 0 { row += 1; rowStarts.append(row) }
        }
        #expect(Set(rows).isSubset(of: Set(rowStarts)))
        #expect(row + 1 == Int64(records.count))
    }

    @Test func takenBytesEqualTheWholeFile() throws {
        var rng = SeededRNG(seed: 5)
        let records = randomRecords(&rng, count: 600)
        let options = RecordTableOptions(rowGroupRawBytesTarget: 10_000)
        let whole = try write(records, options)
        let writer = try RecordTableWriter(partition: 2, options: options)
        var streamed: [UInt8] = []
        for record in records {
            try writer.append(record)
            streamed += writer.takeBytes()
        }
        streamed += try writer.finish()
        #expect(streamed == whole)
    }

    @Test func statisticsAndColumnIndex() throws {
        let records = [
            Record(offset: 10, timestamp: 5, key: nil, value: [1]),
            Record(offset: 11, timestamp: -7, key: [2], value: nil),
            Record(offset: 12, timestamp: 3, key: nil, value: nil),
        ]
        let file = try ParquetFileReader(try write(records))
        let chunks = file.metadata.rowGroups[0].columns
        let le64: (Int64) -> [UInt8] = { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        #expect(
            chunks[1].metaData.statistics == ParquetStatistics(nullCount: 0, minValue: le64(10), maxValue: le64(12)))
        #expect(
            chunks[2].metaData.statistics
                == ParquetStatistics(nullCount: 0, minValue: le64(-7_000), maxValue: le64(5_000)))
        #expect(chunks[0].metaData.statistics?.minValue == [2, 0, 0, 0])
        #expect(chunks[3].metaData.statistics == ParquetStatistics(nullCount: 2))
        #expect(chunks[4].metaData.statistics == ParquetStatistics(nullCount: 2))
        #expect(chunks[5].metaData.statistics == ParquetStatistics(nullCount: 3), "three empty header lists")
        let index = try #require(try file.columnIndex(rowGroup: 0, column: 2))
        #expect(index.minValues == [le64(-7_000)] && index.maxValues == [le64(5_000)] && index.nullPages == [false])
        #expect(file.metadata.columnOrdersTypeDefined == Array(repeating: true, count: 7))
        let timestamp = file.metadata.schema[3]
        #expect(timestamp.logicalType == .timestampMicros(isAdjustedToUTC: true) && timestamp.convertedType == 10)
    }

    @Test func badRecordsChangeNothing() throws {
        let good = [Record(offset: 5, timestamp: 1, value: [1]), Record(offset: 6, timestamp: 2, value: [2])]
        let expected = try write(good)
        let writer = try RecordTableWriter(partition: 2)
        try writer.append(good[0])
        let backwards = parquetError { () throws(ParquetError) in
            try writer.append(Record(offset: 5, timestamp: 1, value: nil))
        }
        #expect(backwards?.code == .invalidArgument && backwards?.field == "offset")
        let overflow = parquetError { () throws(ParquetError) in
            try writer.append(Record(offset: 9, timestamp: Int64.max / 100, value: nil))
        }
        #expect(overflow?.code == .invalidArgument && overflow?.field == "timestamp")
        #expect(overflow?.message.contains("offset 9") == true)
        #expect(writer.recordCount == 1)
        try writer.append(good[1])
        #expect(try writer.finish() == expected)
        #expect(parquetError { () throws(ParquetError) in try writer.append(good[1]) }?.code == .closed)
        #expect(
            parquetError { () throws(ParquetError) in try RecordTableWriter(partition: -1) }?.code == .invalidArgument)
        let negative = parquetError { () throws(ParquetError) in
            try RecordTableWriter(partition: 0).append(Record(offset: -1, timestamp: 0, value: nil))
        }
        #expect(negative?.field == "offset")
    }

    /// The generic column API refuses levels and types that do not fit the leaf.
    @Test func columnWriterChecksItsArguments() throws {
        let schema = try ParquetSchema(RecordTableWriter.fields)
        let file = try ParquetFileWriter(schema: schema)
        let offset = file.columns[1]
        let headerValue = file.columns[6]
        func code(_ body: () throws(ParquetError) -> Void) -> ParquetError.Code? { parquetError(body)?.code }
        #expect(code { () throws(ParquetError) in try offset.append(int32: 1) } == .invalidArgument)
        #expect(code { () throws(ParquetError) in try offset.appendNull(definitionLevel: 0) } == .invalidArgument)
        #expect(code { () throws(ParquetError) in try offset.append(int64: 1, repetitionLevel: 1) } == .invalidArgument)
        #expect(
            code { () throws(ParquetError) in try headerValue.append(bytes: [1], repetitionLevel: 1) }
                == .invalidArgument)
        #expect(
            code { () throws(ParquetError) in try headerValue.append(bytes: [1], definitionLevel: 2) }
                == .invalidArgument)
        #expect(code { () throws(ParquetError) in try headerValue.appendNull(definitionLevel: 3) } == .invalidArgument)
        #expect(offset.rowCount == 0 && headerValue.rowCount == 0, "refused appends change nothing")
        try offset.append(int64: 1)
        let uneven = parquetError { () throws(ParquetError) in try file.endRowGroup() }
        #expect(uneven?.code == .invalidArgument && uneven?.message.contains("rows") == true)
        #expect(offset.rowCount == 1)
        #expect(code { () throws(ParquetError) in _ = try ParquetSchema([]) } == .invalidArgument)
        let duplicate = [
            ParquetField("a", .required, .int32, fieldId: 1), ParquetField("a", .required, .int64, fieldId: 2),
        ]
        #expect(code { () throws(ParquetError) in _ = try ParquetSchema(duplicate) } == .invalidArgument)
    }

    /// A schema of our own through the generic API, a null list among them: pyarrow checks it in
    /// TableVectorTests through the record schema; here our reader checks levels and values.
    @Test func genericColumnsRoundTrip() throws {
        let schema = try ParquetSchema([
            ParquetField("id", .required, .int32, fieldId: 1),
            .list("tags", .optional, fieldId: 2, element: ParquetField("element", .optional, .byteArray, fieldId: 3)),
        ])
        #expect(
            schema.leaves.map(\.maxDefinitionLevel) == [0, 3] && schema.leaves.map(\.maxRepetitionLevel) == [0, 1])
        let file = try ParquetFileWriter(schema: schema, options: ParquetWriterOptions(codec: .uncompressed))
        // Rows: [a, null], null, [], [b]
        let levels: [(def: Int, rep: Int, value: [UInt8]?)] = [
            (3, 0, [0x61]), (2, 1, nil), (0, 0, nil), (1, 0, nil), (3, 0, [0x62]),
        ]
        for id in 0 ..< 4 { try file.columns[0].append(int32: Int32(id)) }
        for l in levels {
            if let value = l.value {
                try file.columns[1].append(bytes: value, repetitionLevel: l.rep)
            } else {
                try file.columns[1].appendNull(definitionLevel: l.def, repetitionLevel: l.rep)
            }
        }
        let bytes = try file.finish()
        let reader = try ParquetFileReader(bytes)
        let tags = try reader.column(rowGroup: 0, column: 1)
        #expect(tags.definitionLevels == [3, 2, 0, 1, 3] && tags.repetitionLevels == [0, 1, 0, 0, 0])
        #expect(tags.values == .byteArray([[0x61], [0x62]]))
        #expect(try reader.column(rowGroup: 0, column: 0).values == .int32([0, 1, 2, 3]))
        #expect(reader.metadata.rowCount == 4)
    }

    @Test func emptyFileIsValid() throws {
        let bytes = try write([])
        let file = try ParquetFileReader(bytes)
        #expect(file.metadata.rowGroups.isEmpty && file.metadata.rowCount == 0)
        #expect(try RecordTableReader.records(bytes).records.isEmpty)
    }
}

/// Rows from records read in place (`RecordView`, the table writer's path over cold frames) make
/// the same file, byte for byte, as rows from decoded `Record`s: nulls, empty and null header
/// values, typed value columns and their mismatches included.
@Suite struct RecordViewRowTests {
    /// Both files, from `records` cut into batches of 1 to 40 records.
    func bothFiles(
        _ records: [Record], valueSchema: TableValueSchema?, rng: inout SeededRNG
    ) throws -> (views: [UInt8], records: [UInt8], mismatches: (Int64, Int64)) {
        let options = RecordTableOptions(rowGroupRawBytesTarget: 20_000)
        let fromViews = try RecordTableWriter(partition: 3, options: options, valueSchema: valueSchema)
        let fromRecords = try RecordTableWriter(partition: 3, options: options, valueSchema: valueSchema)
        var start = 0
        while start < records.count {
            let end = min(records.count, start + Int.random(in: 1 ... 40, using: &rng))
            let bytes = BatchCodec.encode(baseOffset: records[start].offset, records: Array(records[start ..< end]))
            let decoded = try BatchCodec.decode(bytes)
            let view = try RecordBatchView(bytes: bytes, header: decoded.header)
            try view.withRecords { (rows) throws(ParquetError) in
                for row in rows { try fromViews.append(row) }
            }
            for record in decoded.records { try fromRecords.append(record) }
            start = end
        }
        return (
            try fromViews.takeBytes() + fromViews.finish(), try fromRecords.takeBytes() + fromRecords.finish(),
            (fromViews.valueMismatches, fromRecords.valueMismatches)
        )
    }

    @Test func viewsAndRecordsMakeTheSameFile() throws {
        var rng = SeededRNG(seed: 0x7AB1_E001)
        let records = randomRecords(&rng, count: 3_000, firstOffset: 500)
        let files = try bothFiles(records, valueSchema: nil, rng: &rng)
        #expect(files.views == files.records)
        let (partitions, read) = try RecordTableReader.records(files.views)
        #expect(read == records)
        #expect(Set(partitions) == [3])
    }

    @Test func viewsAndRecordsMakeTheSameTypedFile() throws {
        var rng = SeededRNG(seed: 0x7AB1_E002)
        let schema = try TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)
        let records = TypedColumnsVector.records()
        let files = try bothFiles(records, valueSchema: schema, rng: &rng)
        #expect(files.views == files.records)
        #expect(files.mismatches.0 == files.mismatches.1)
        #expect(files.mismatches.0 > 0, "the vector's records include values that do not match")
        #expect(try RecordTableReader.records(files.views).records == records)
    }
}

/// `appendRows` (column at a time) writes the same file, byte for byte, as `append` of each row:
/// row groups, pages, statistics and the page index close at the same rows.
@Suite struct ColumnAtATimeTests {
    static func rowByRow(_ records: [Record], _ options: RecordTableOptions) throws -> [UInt8] {
        let writer = try RecordTableWriter(partition: 5, options: options)
        for record in records { try writer.append(record) }
        return try writer.finish()
    }

    @Test(arguments: [UInt64(3), 11, 2026])
    func runsOfAnyLengthWriteTheSameBytes(seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let all = randomRecords(&rng, count: 1500, firstOffset: 9)
        // Row groups of a few rows, one row group with pages cut by bytes, a row group per row.
        for (groupTarget, pageRows, pageBytes, count) in [
            (40_000, 64, 1 << 20, 1500), (1 << 27, 20_000, 2_000, 1500), (1, 7, 1 << 20, 200),
        ] {
            let records = Array(all.prefix(count))
            let options = RecordTableOptions(
                rowGroupRawBytesTarget: groupTarget,
                parquet: ParquetWriterOptions(pageBytesTarget: pageBytes, pageRowCountMax: pageRows))
            let expected = try Self.rowByRow(records, options)
            let writer = try RecordTableWriter(partition: 5, options: options)
            var i = 0
            var raw = 0
            while i < records.count {
                // Runs of 1 to 300 rows, as a batch would bring them.
                let n = min(records.count - i, Int.random(in: 1 ... 300, using: &rng))
                raw += try writer.appendRows(records[i ..< i + n])
                i += n
            }
            #expect(raw == records.reduce(0) { $0 + RecordTableWriter.rawBytes(of: $1) })
            #expect(writer.recordCount == records.count)
            let bytes = try writer.finish()
            #expect(bytes == expected, "row groups of \(groupTarget) B, pages of \(pageRows) rows / \(pageBytes) B")
            #expect(try RecordTableReader.records(bytes).records == records)
        }
    }

    /// Rows read in place from a batch (`RecordView`, what the table writer feeds) give the
    /// same file as the decoded records.
    @Test func recordViewsWriteWhatRecordsWrite() throws {
        var rng = SeededRNG(seed: 8)
        let records = randomRecords(&rng, count: 400, firstOffset: 100)
        let options = RecordTableOptions(parquet: ParquetWriterOptions(pageRowCountMax: 50))
        let batch = BatchCodec.encode(baseOffset: 100, records: records)
        let header = try withBytes(batch) { (raw) throws(FormatError) in try BatchCodec.parseHeader(raw, basePosition: 0) }
        let view = try RecordBatchView(bytes: batch, header: header)
        let writer = try RecordTableWriter(partition: 5, options: options)
        try view.withRecords { views in
            let rows = Array(views)
            #expect(rows.count == records.count)
            try writer.appendRows(rows[...])
        }
        #expect(try writer.finish() == Self.rowByRow(records, options))
    }

    /// A refused row stops the run there: the rows before it are in, it and the rest are not,
    /// and the error is `append`'s for that row.
    @Test func aRefusedRowKeepsTheRowsBeforeIt() throws {
        var rng = SeededRNG(seed: 4)
        var records = randomRecords(&rng, count: 50)
        records[30].offset = records[29].offset  // not above the previous
        let options = RecordTableOptions()
        let bulk = try RecordTableWriter(partition: 5, options: options)
        let error = parquetError { () throws(ParquetError) in try bulk.appendRows(records[...]) }
        let single = try RecordTableWriter(partition: 5, options: options)
        let expected = parquetError { () throws(ParquetError) in for record in records { try single.append(record) } }
        #expect(error != nil && error == expected, "\(String(describing: error))")
        #expect(bulk.recordCount == 30)
        #expect(try bulk.finish() == single.finish())
    }
}
