import Foundation
import StrataFormat
import StrataTesting
import Testing

@testable import StrataParquet

/// Typed value columns (formats/table.md, "Typed value columns"): the value schema's parsing and
/// errors, the extraction of JSON values (matches, partial matches, mismatches), the data file's
/// `value_fields` struct, and real readers reading the golden vector and random files.
@Suite struct TypedColumnsTests {
    static let typedDirectory = tableVectorDirectory.appendingPathComponent("typed")

    static func schema(_ fields: String) throws(ParquetError) -> TableValueSchema {
        try TableValueSchema.parse(icebergJSON: #"{"type":"struct","fields":["# + fields + "]}")
    }

    // MARK: the schema

    @Test func parsesEveryTypeAndAssignsTheTablesIds() throws {
        let schema = try TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)
        #expect(
            schema.fields.map(\.name) == [
                "page", "clicks", "user_id", "ratio", "score", "ok", "day", "at", "local", "blob", "price", "total",
            ])
        #expect(schema.fields.map(\.fieldId) == Array(11 ... 22))
        #expect(schema.lastColumnId == 22)
        #expect(schema.fields[10].type == .decimal(precision: 9, scale: 2))
        #expect(schema.fields[11].doc == "order total")
        #expect(schema.fields.map(\.required) == [true] + Array(repeating: false, count: 11))
        #expect(schema.json == TypedColumnsVector.schemaJSON)
    }

    /// Each bad schema is refused with `invalidArgument` naming the field and why.
    @Test(arguments: [
        ("not json", "valueSchema", "not JSON"),
        (#"[1]"#, "valueSchema", "not a JSON object"),
        (#"{"type":"list","fields":[]}"#, "valueSchema.type", "struct"),
        (#"{"type":"struct"}"#, "valueSchema.fields", "array"),
        (#"{"type":"struct","fields":[]}"#, "valueSchema.fields", "1…989"),
        (#"{"type":"struct","fields":[],"extra":1}"#, "valueSchema.extra", "not a key"),
        (
            #"{"type":"struct","fields":[{"id":1,"required":true,"type":"int"}]}"#, "valueSchema.fields[0].name",
            "missing"
        ),
        (
            #"{"type":"struct","fields":[{"id":0,"name":"a","required":true,"type":"int"}]}"#,
            "valueSchema.fields[0].id", "positive"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"a","required":"yes","type":"int"}]}"#,
            "valueSchema.fields[0].required", "true or false"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"a.b","required":true,"type":"int"}]}"#,
            "valueSchema.fields[0].name", "'.'"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"a","required":true,"type":"uuid"}]}"#,
            "valueSchema.fields[0].type", "field 'a': type uuid"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"a","required":true,"type":"decimal(38,2)"}]}"#,
            "valueSchema.fields[0].type", "precision 1…18"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"a","required":true,"type":"#
                + #"{"type":"list","element-id":2,"element":"int","element-required":true}}]}"#,
            "valueSchema.fields[0].type", "field 'a': nested types"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"a","required":true,"type":"int","write-default":1}]}"#,
            "valueSchema.fields[0].write-default", "not supported"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"a","required":true,"type":"int"},"#
                + #"{"id":1,"name":"b","required":true,"type":"int"}]}"#,
            "valueSchema.fields[1].id", "used twice"
        ),
        (
            #"{"type":"struct","fields":[{"id":1,"name":"Page","required":true,"type":"int"},"#
                + #"{"id":2,"name":"page","required":true,"type":"int"}]}"#,
            "valueSchema.fields[1].name", "used twice"
        ),
    ])
    func refusesBadSchemas(_ json: String, _ field: String, _ why: String) throws {
        let error = try #require(
            parquetError { () throws(ParquetError) in try TableValueSchema.parse(icebergJSON: json) })
        #expect(error.code == .invalidArgument)
        #expect(error.field == field, "\(error)")
        #expect(error.message.contains(why), "\(error)")
    }

    @Test func refusesTooManyFields() throws {
        let fields = (1 ... 990).map { #"{"id":\#($0),"name":"f\#($0)","required":false,"type":"int"}"# }
        let error = try #require(
            parquetError { () throws(ParquetError) in try Self.schema(fields.joined(separator: ",")) })
        #expect(error.field == "valueSchema.fields" && error.message.contains("990"), "\(error)")
        #expect(try Self.schema(fields.dropLast().joined(separator: ",")).lastColumnId == 999)
    }

    // MARK: extraction

    /// The hand-written answers of the golden vector: every match, partial match and mismatch.
    @Test func extractsTheVectorsValues() throws {
        let schema = try TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)
        for (i, value) in TypedColumnsVector.values.enumerated() {
            let got = value.flatMap { schema.extract(Array($0.utf8)) }
            #expect(got.map { render($0, schema) } == TypedColumnsVector.expected[i], "value \(i): \(value ?? "null")")
        }
    }

    @Test(
        arguments: [
            (#"{"n": 1}"#, "int", "1"), (#"{"n": -2147483648}"#, "int", "-2147483648"),
            (#"{"n": 2147483648}"#, "int", nil), (#"{"n": 1.0}"#, "int", nil), (#"{"n": 1e2}"#, "int", nil),
            (#"{"n": 01}"#, "int", nil), (#"{"n": -}"#, "int", nil), (#"{"n": true}"#, "int", nil),
            (#"{"n": 9223372036854775807}"#, "long", "9223372036854775807"),
            (#"{"n": 9223372036854775808}"#, "long", nil),
            (#"{"n": 1e3}"#, "double", "1000"), (#"{"n": 1e400}"#, "double", nil), (#"{"n": 1e39}"#, "float", nil),
            (#"{"n": "1.5"}"#, "double", nil),
            ("{\"n\": \"x\ty\"}", "string", nil), (#"{"n": "x\ty"}"#, "string", "x\ty"),
            (#"{"n": "\ud800"}"#, "string", nil), (#"{"n": "a\"b"}"#, "string", "a\"b"),
            (#"{"n": 3}"#, "string", nil),
            (#"{"n": "2023-02-29"}"#, "date", nil), (#"{"n": "2024-13-01"}"#, "date", nil),
            (#"{"n": "1970-01-02"}"#, "date", "1970-01-02"), (#"{"n": "1970-01-02T00:00:00Z"}"#, "date", nil),
            (#"{"n": "1970-01-01T00:00:01Z"}"#, "timestamptz", "1000000"),
            (#"{"n": "1970-01-01T00:00:00.0000001Z"}"#, "timestamptz", nil),
            (#"{"n": "1970-01-01T01:00:00+0100"}"#, "timestamptz", "0"),
            (#"{"n": "1970-01-01 00:00:00-00:30"}"#, "timestamptz", "1800000000"),
            (#"{"n": "1970-01-01T24:00:00Z"}"#, "timestamptz", nil),
            (#"{"n": "1970-01-01T00:00:60Z"}"#, "timestamptz", nil),
            (#"{"n": "1970-01-01T00:00:00Z"}"#, "timestamp", nil), (#"{"n": 9223372036854776}"#, "timestamp", nil),
            (#"{"n": "AA=="}"#, "binary", "AA=="), (#"{"n": "AA="}"#, "binary", nil),
            (#"{"n": "A?=="}"#, "binary", nil),
            (#"{"n": ""}"#, "binary", ""),
            (#"{"n": 1.5}"#, "decimal(3,1)", "1.5"), (#"{"n": 100}"#, "decimal(3,1)", nil),
            (#"{"n": "-0.5"}"#, "decimal(3,1)", "-0.5"), (#"{"n": 1e1}"#, "decimal(3,1)", nil),
            (#"{"n": 0.55}"#, "decimal(3,1)", nil), (#"{"n": 007.5}"#, "decimal(3,1)", nil),
            (#"{"n": "007.5"}"#, "decimal(3,1)", "7.5"),
            (#"{"n": null}"#, "int", ""), (#"{}"#, "int", ""), (#"{"m": {"deep": [[[]]]}, "n": 2}"#, "int", "2"),
            (#"{"n": 1,}"#, "int", nil), (#"{"n" 1}"#, "int", nil), (#"{"n": 1}}"#, "int", nil),
        ] as [(String, String, String?)])
    func readsOneField(_ value: String, _ type: String, _ want: String?) throws {
        let schema = try Self.schema(#"{"id":1,"name":"n","required":false,"type":"\#(type)"}"#)
        let got = schema.extract(Array(value.utf8)).map { render($0, schema)["n"] ?? "" }
        #expect(got == want, "\(value) as \(type)")
    }

    @Test func nestingIsBounded() throws {
        let schema = try Self.schema(#"{"id":1,"name":"n","required":false,"type":"int"}"#)
        let deep = { (n: Int) in #"{"m": "# + String(repeating: "[", count: n) + String(repeating: "]", count: n) + "}"
        }
        #expect(schema.extract(Array(deep(62).utf8)) == [.null])
        #expect(schema.extract(Array(deep(64).utf8)) == nil, "deeper than 64 levels is not JSON to this reader")
    }

    @Test func aRequiredFieldMustBePresentAndNotNull() throws {
        let schema = try Self.schema(#"{"id":1,"name":"n","required":true,"type":"int"}"#)
        #expect(schema.extract(Array(#"{"n": 1}"#.utf8)) == [.int(1)])
        #expect(schema.extract(Array(#"{"n": null}"#.utf8)) == nil)
        #expect(schema.extract(Array("{}".utf8)) == nil)
    }

    // MARK: the data file

    @Test func writesAndReadsTheTypedColumns() throws {
        let schema = try TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)
        let writer = try RecordTableWriter(
            partition: 1, options: RecordTableOptions(rowGroupRawBytesTarget: 300), valueSchema: schema)
        let records = TypedColumnsVector.records()
        for record in records { try writer.append(record) }
        let bytes = try writer.finish()
        #expect(writer.valueMismatches == Int64(TypedColumnsVector.mismatches))
        let file = try ParquetFileReader(bytes)
        #expect(file.metadata.rowGroups.count >= 2)
        #expect(file.leaves.map(\.fieldId) == [1, 2, 3, 4, 5, 8, 9] + (11 ... 22).map(Int32.init))
        #expect(file.leaves.dropFirst(7).allSatisfy { $0.path.first == "value_fields" && $0.maxRepetitionLevel == 0 })
        #expect(file.leaves.dropFirst(7).allSatisfy { $0.maxDefinitionLevel == 2 }, "optional, required ones too")
        #expect(try RecordTableReader.records(bytes).records == records, "the raw bytes are all kept")
        let rows = try RecordTableReader.valueFields(bytes, schema: schema)
        #expect(rows.map { $0.map { render($0, schema) } } == TypedColumnsVector.expected)
        let other = try TableValueSchema.parse(
            icebergJSON: #"{"type":"struct","fields":[{"id":1,"name":"page","required":true,"type":"int"}]}"#)
        #expect(
            parquetError { () throws(ParquetError) in try RecordTableReader.valueFields(bytes, schema: other) }?.code
                == .invalidValue)
    }

    /// Without a value schema the file is the record schema's alone, as before.
    @Test func noSchemaNoTypedColumns() throws {
        let writer = try RecordTableWriter(partition: 0)
        for record in TypedColumnsVector.records() { try writer.append(record) }
        let file = try ParquetFileReader(try writer.finish())
        #expect(file.leaves.count == 7)
        #expect(writer.valueMismatches == 0)
    }

    @Test func vectorIsReproduced() throws {
        let bytes = [UInt8](try Data(contentsOf: Self.typedDirectory.appendingPathComponent("typed-values.parquet")))
        let description = try JSONDecoder().decode(
            RecordTableVector.self,
            from: try Data(contentsOf: Self.typedDirectory.appendingPathComponent("typed-values.parquet.json")))
        #expect(description.codec == "uncompressed")
        #expect(try description.encode() == bytes)
        #expect(description.valueSchema == TypedColumnsVector.schemaJSON)
        #expect(description.valueFields == TypedColumnsVector.expected)
        #expect(description.valueMismatches == TypedColumnsVector.mismatches)
        #expect(description.rowGroupRowCounts.count >= 2)
    }

    // MARK: real readers

    static let script = repoRoot().appendingPathComponent("Tests/StrataParquetTests/Readers/check_typed_columns.py")
        .path

    /// pyarrow (and DuckDB, polars when importable) read the vector's typed columns with the
    /// Iceberg types' Arrow types and the hand-written values.
    @Test func realReadersReadTheTypedVector() async throws {
        try TableVectorTests.requirePyarrow()
        let result = await runProgram("python3", [Self.script, Self.typedDirectory.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok pyarrow typed-values.parquet"), "\(result.output)")
        #expect(result.output.contains("ok duckdb typed-values.parquet") || result.output.contains("skipped duckdb"))
        #expect(result.output.contains("ok polars typed-values.parquet") || result.output.contains("skipped polars"))
    }

    /// Seeded random values of every type (some not matching) in small pages, zstd: the readers
    /// return what the values say, computed here independently of the reader.
    @Test func realReadersReadRandomTypedFiles() async throws {
        try TableVectorTests.requirePyarrow()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-typed-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let schema = try TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)
        var rng = SeededRNG(seed: 16)
        var records: [Record] = []
        var expected: [[String: String]?] = []
        for i in 0 ..< 700 {
            let (value, want) = randomTypedValue(&rng)
            records.append(Record(offset: Int64(i), timestamp: 1_700_000_000_000 + Int64(i), value: value))
            expected.append(want)
        }
        let options = RecordTableOptions(
            rowGroupRawBytesTarget: 20_000, parquet: ParquetWriterOptions(pageBytesTarget: 900, pageRowCountMax: 41))
        let writer = try RecordTableWriter(partition: 0, options: options, valueSchema: schema)
        for record in records { try writer.append(record) }
        let bytes = try writer.finish()
        let mismatches = zip(records, expected).filter { $0.0.value != nil && $0.1 == nil }.count
        #expect(writer.valueMismatches == Int64(mismatches) && mismatches > 50)
        #expect(
            try RecordTableReader.valueFields(bytes, schema: schema).map { $0.map { render($0, schema) } } == expected)
        let description = RecordTableVector(
            file: "random-typed.parquet", partition: 0, options: options,
            rowGroupRowCounts: try ParquetFileReader(bytes).metadata.rowGroups.map { Int($0.rowCount) },
            records: records, valueSchema: schema.json, valueFields: expected, valueMismatches: mismatches)
        #expect(description.rowGroupRowCounts.count >= 2)
        try Data(bytes).write(to: directory.appendingPathComponent(description.file))
        try JSONEncoder().encode(description).write(to: directory.appendingPathComponent(description.file + ".json"))
        let result = await runProgram("python3", [Self.script, directory.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok pyarrow random-typed.parquet"), "\(result.output)")
    }
}

/// Typed values as `TypedColumnsVector.expected` writes them (nulls left out).
func render(_ values: [TableTypedValue], _ schema: TableValueSchema) -> [String: String] {
    var out: [String: String] = [:]
    for (field, value) in zip(schema.fields, values) {
        switch value {
        case .null: continue
        case .boolean(let v): out[field.name] = String(v)
        case .int(let v): out[field.name] = String(v)
        case .long(let v), .timestamp(let v): out[field.name] = String(v)
        case .float(let v): out[field.name] = renderNumber(Double(v))
        case .double(let v): out[field.name] = renderNumber(v)
        case .string(let v): out[field.name] = v
        case .date(let v): out[field.name] = isoDate(Int64(v))
        case .binary(let v): out[field.name] = Data(v).base64EncodedString()
        case .decimal(let v):
            guard case .decimal(_, let scale) = field.type else { continue }
            out[field.name] = renderDecimal(v, scale: scale)
        }
    }
    return out
}

func renderNumber(_ v: Double) -> String {
    v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
}

func renderDecimal(_ v: Int64, scale: Int) -> String {
    let digits = String(v.magnitude)
    let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
    let sign = v < 0 ? "-" : ""
    guard scale > 0 else { return sign + padded }
    return sign + padded.dropLast(scale) + "." + padded.suffix(scale)
}

/// `yyyy-mm-dd` through Foundation's Gregorian calendar, independently of `TableTime`.
func isoDate(_ day: Int64) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(day) * 86_400))
    return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
}

/// A random JSON value for `TypedColumnsVector.schemaJSON` and what its typed columns hold
/// (nil: it does not match). Built from the parts, not by the extractor.
func randomTypedValue(_ rng: inout SeededRNG) -> (value: [UInt8]?, expected: [String: String]?) {
    let choice = Int.random(in: 0 ..< 20, using: &rng)
    if choice == 0 { return (nil, nil) }
    if choice == 1 { return (Array("garbage".utf8), nil) }
    var members: [String] = []
    var want: [String: String] = [:]
    var matches = true
    let words = ["", "a", "strata", "clé", "日本語", "🚀", "q\"uote", "back\\slash"]
    func escaped(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
    if Int.random(in: 0 ..< 12, using: &rng) == 0 {
        matches = false  // the required page left out
    } else {
        let page = words.randomElement(using: &rng)!
        members.append("\"page\":" + escaped(page))
        want["page"] = page
    }
    if Bool.random(using: &rng) {
        let v = Int32.random(in: .min ... .max, using: &rng)
        members.append("\"clicks\":\(v)")
        want["clicks"] = String(v)
    }
    if Bool.random(using: &rng) {
        let v = Int64.random(in: .min ... .max, using: &rng)
        members.append("\"user_id\":\(v)")
        want["user_id"] = String(v)
    }
    if Bool.random(using: &rng) {
        let v = Double(Int.random(in: -1000 ... 1000, using: &rng)) / 4
        members.append("\"ratio\":\(v)")
        want["ratio"] = renderNumber(v)
    }
    if Bool.random(using: &rng) {
        let v = Double(Int.random(in: -100_000 ... 100_000, using: &rng)) / 8
        members.append("\"score\":\(v)")
        want["score"] = renderNumber(v)
    }
    if Bool.random(using: &rng) {
        let v = Bool.random(using: &rng)
        members.append("\"ok\":\(v)")
        want["ok"] = String(v)
    }
    if Bool.random(using: &rng) {
        let day = Int64.random(in: -140_000 ... 2_900_000, using: &rng)  // Foundation turns Julian before 1583
        let iso = isoDate(day)
        members.append("\"day\":\"\(iso)\"")
        want["day"] = iso
    }
    if Bool.random(using: &rng) {
        let ms = Int64.random(in: -62_000_000_000_000 ... 250_000_000_000_000, using: &rng)
        members.append("\"at\":\(ms)")
        want["at"] = String(ms * 1000)
    }
    if Bool.random(using: &rng) {
        members.append("\"local\":null")
    }
    if Bool.random(using: &rng) {
        let bytes = (0 ..< Int.random(in: 0 ... 9, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
        let b64 = Data(bytes).base64EncodedString()
        members.append("\"blob\":\"\(b64)\"")
        want["blob"] = b64
    }
    if Bool.random(using: &rng) {
        let unscaled = Int64.random(in: -999_999_999 ... 999_999_999, using: &rng)
        let text = renderDecimal(unscaled, scale: 2)
        members.append("\"price\":\(text)")
        want["price"] = text
    }
    if Bool.random(using: &rng) {
        members.append("\"other\":{\"x\":[1,2.5,\"s\",null,true]}")
    }
    if Int.random(in: 0 ..< 12, using: &rng) == 0 {
        members.append("\"clicks\":\"not a number\"")
        matches = false
    }
    members.shuffle(using: &rng)
    let value = Array(("{" + members.joined(separator: ",") + "}").utf8)
    return (value, matches ? want : nil)
}
