import Testing

@testable import StrataIceberg

/// Avro binary encoding and container files (formats/table.md, "Avro"): known bytes, round
/// trips, and typed errors naming the field and byte for bad input.
@Suite struct AvroTests {
    func encoded(_ value: AvroValue, _ schema: AvroSchema) throws -> [UInt8] {
        var w = AvroWriter()
        try w.write(value, as: schema)
        return w.bytes
    }

    @Test func longsAreZigzagVarints() throws {
        let cases: [(Int64, [UInt8])] = [
            (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-64, [0x7F]), (64, [0x80, 0x01]), (-65, [0x81, 0x01]),
            (300, [0xD8, 0x04]),
            (Int64.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            (Int64.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in cases {
            #expect(try encoded(.long(value), .long) == bytes, "\(value)")
            var r = AvroReader(bytes)
            #expect(try r.read(.long) == .long(value))
            #expect(r.remaining == 0)
        }
        #expect(try encoded(.int(Int32.min), .int) == [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
    }

    static let record = AvroSchema.record(
        name: "r",
        fields: [
            AvroField("b", .boolean, fieldId: 1), AvroField("i", .int, fieldId: 2), AvroField("l", .long, fieldId: 3),
            AvroField("bytes", .bytes, fieldId: 4), AvroField("s", .string, fieldId: 5),
            AvroField("f", .fixed(name: "f16", size: 16), fieldId: 6),
            AvroField("a", .array(.long, elementId: 8), fieldId: 7), AvroField("m", .map(.int), fieldId: 9),
            AvroField("o", .optional(.logical("date", .int)), fieldId: 10),
            AvroField(
                "n", .record(name: "inner", fields: [AvroField("x", .optional(.string), fieldId: 12)]), fieldId: 11),
        ])

    static let value = AvroValue.record([
        .boolean(true), .int(-7), .long(1 << 40), .bytes([0, 0xFF, 0x80]), .string("clé ☃ 🚀"), .fixed(Array(0 ..< 16)),
        .array([.long(1), .long(-2), .long(Int64.max)]),
        .map([AvroMapEntry("k", .int(1)), AvroMapEntry("", .int(-1))]),
        .optional(.int(19_675)), .record([.optional(nil)]),
    ])

    @Test func valuesRoundTrip() throws {
        let bytes = try encoded(Self.value, Self.record)
        var r = AvroReader(bytes)
        #expect(try r.read(Self.record) == Self.value)
        #expect(r.remaining == 0)
        // Empty arrays and maps are just the end marker.
        #expect(try encoded(.array([]), .array(.int)) == [0])
        #expect(try encoded(.map([]), .map(.int)) == [0])
        #expect(try encoded(.optional(nil), .optional(.long)) == [0])
        #expect(try encoded(.optional(.long(1)), .optional(.long)) == [2, 2])
    }

    @Test func schemaJSONRoundTrips() throws {
        let text = Self.record.json.compact
        #expect(text.contains(#""field-id":7"#) && text.contains(#""element-id":8"#))
        #expect(
            text.contains(
                #"{"name":"o","type":["null",{"type":"int","logicalType":"date"}],"default":null,"field-id":10}"#))
        let parsed = try AvroSchema.parse(try JSONValue.parse(Array(text.utf8), field: "schema"))
        #expect(parsed == Self.record)
        for schema in [IcebergSchema.manifestEntry, IcebergSchema.manifestFile] {
            #expect(try AvroSchema.parse(try JSONValue.parse(Array(schema.json.compact.utf8), field: "s")) == schema)
        }
    }

    @Test func writerRefusesAMismatchAndWritesNothing() throws {
        var w = AvroWriter()
        try w.write(.long(5), as: .long)
        let before = w.bytes
        var wrong = Self.value
        if case .record(var fields) = wrong {
            fields[6] = .array([.long(1), .int(2)])
            wrong = .record(fields)
        }
        let error = icebergError { () throws(IcebergError) in try w.write(wrong, as: Self.record) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.field == "value.a[1]")
        #expect(w.bytes == before)
        #expect(
            icebergError { () throws(IcebergError) in try w.write(.fixed([1]), as: .fixed(name: "x", size: 2)) } != nil)
        #expect(icebergError { () throws(IcebergError) in try w.write(.union(2, .null), as: .optional(.int)) } != nil)
    }

    func readError(_ bytes: [UInt8], _ schema: AvroSchema) -> IcebergError? {
        icebergError { () throws(IcebergError) in
            var r = AvroReader(bytes)
            return try r.read(schema, field: "x")
        }
    }

    @Test func readerRefusesBadBytesWithTheirPosition() {
        let cases: [([UInt8], AvroSchema, IcebergError.Code, Int)] = [
            ([0x80, 0x80], .long, .truncated, 0),
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x03], .long, .outOfBounds, 0),
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, 0x00], .long, .outOfBounds, 0),
            ([0x80, 0x80, 0x80, 0x80, 0x10], .int, .outOfBounds, 0),
            ([0x01], .bytes, .outOfBounds, 0),  // length -1
            ([0x0A, 1, 2], .bytes, .outOfBounds, 0),  // length 5, 2 bytes left
            ([0x04, 0xC3, 0x28], .string, .invalidValue, 0),
            ([0x02], .boolean, .invalidValue, 0),
            ([], .boolean, .truncated, 0),
            ([0x04, 0x00], .optional(.int), .invalidValue, 0),  // branch 2 of 2
            ([0x02, 0x02, 0x7F], .array(.long), .truncated, 3),  // no end marker
            ([0xC8, 0x01, 0x00], .array(.long), .outOfBounds, 0),  // 100 items, 2 bytes left
            ([0x03, 0x7E, 0x00], .array(.long), .outOfBounds, 1),  // count -2 with a negative block size
            ([0x02, 0x02, 0x41], .fixed(name: "f", size: 4), .truncated, 0),
        ]
        for (bytes, schema, code, position) in cases {
            let error = readError(bytes, schema)
            #expect(
                error?.code == code && error?.position == position,
                "\(bytes) as \(schema.json.compact): \(String(describing: error))")
            #expect(error?.field.hasPrefix("x") == true)
        }
        // A record's error names the field path.
        let error = readError(
            [0x01, 0x0E], .record(name: "r", fields: [AvroField("a", .boolean), AvroField("b", .string)]))
        #expect(error?.field == "x.b" && error?.position == 1)
    }

    @Test func containerRoundTripsInBlocks() throws {
        let values = (0 ..< 2_500).map { AvroValue.record([.long(Int64($0) * 1_000_003), .string("v\($0)")]) }
        let schema = AvroSchema.record(
            name: "t", fields: [AvroField("n", .long, fieldId: 1), AvroField("s", .string, fieldId: 2)])
        let sync = Array(UInt8(100) ..< 116)
        let bytes = try AvroContainer.encode(
            schema: schema, values: values, metadata: [("format-version", Array("2".utf8))], sync: sync)
        #expect(Array(bytes.prefix(4)) == [0x4F, 0x62, 0x6A, 0x01])
        #expect(Array(bytes.suffix(16)) == sync)
        let file = try AvroContainer.decode(bytes)
        #expect(file.values == values)
        #expect(file.schema == schema)
        #expect(file.metadata.map(\.key) == ["avro.schema", "avro.codec", "format-version"])
        #expect(file.metadata("avro.codec") == "null" && file.metadata("format-version") == "2")
        // Three blocks of at most 1000 objects: the sync marker ends the header and each block.
        let markers = (0 ... bytes.count - 16).filter { Array(bytes[$0 ..< $0 + 16]) == sync }
        #expect(markers.count == 4)
        #expect(
            try AvroContainer.decode(try AvroContainer.encode(schema: schema, values: [], metadata: [], sync: sync))
                .values == [])
    }

    @Test func containerRefusesBadFiles() throws {
        let schema = AvroSchema.record(name: "t", fields: [AvroField("n", .long)])
        let sync = [UInt8](repeating: 0xAB, count: 16)
        let good = try AvroContainer.encode(
            schema: schema, values: [.record([.long(1)]), .record([.long(2)])], metadata: [], sync: sync)
        func decodeError(_ bytes: [UInt8]) -> IcebergError? {
            icebergError { () throws(IcebergError) in try AvroContainer.decode(bytes) }
        }
        #expect(decodeError([0x4F, 0x62, 0x6A, 0x02] + good.dropFirst(4))?.code == .badMagic)
        #expect(decodeError(Array(good.prefix(3)))?.code == .truncated)
        var badSync = good
        badSync[good.count - 1] ^= 1
        #expect(
            decodeError(badSync).map { "\($0.code) \($0.field) \($0.position)" }
                == "invalidValue sync \(good.count - 16)")
        // The block holds 2 objects of one byte each: claiming 3 bytes leaves one unread.
        let blockStart = good.count - 16 - 2 - 2
        var longer = good
        longer[blockStart + 1] = 0x06
        longer.insert(0x00, at: blockStart + 4)
        #expect(decodeError(longer)?.field == "block size")
        var truncated = good
        truncated.removeLast(5)
        #expect(decodeError(truncated)?.code == .truncated)
        // A codec other than null is refused, not misread.
        var deflate = AvroWriter()
        deflate.writeRaw(AvroContainer.magic)
        deflate.writeLong(2)
        deflate.writeString("avro.schema")
        deflate.writeBytes(Array(schema.json.compact.utf8))
        deflate.writeString("avro.codec")
        deflate.writeBytes(Array("deflate".utf8))
        deflate.writeLong(0)
        deflate.writeRaw(sync)
        #expect(decodeError(deflate.bytes).map { "\($0.code) \($0.field)" } == "unsupported avro.codec")
        #expect(
            icebergError { () throws(IcebergError) in
                try AvroContainer.encode(schema: schema, values: [], metadata: [("avro.x", [])], sync: sync)
            }?.code == .invalidArgument)
        #expect(
            icebergError { () throws(IcebergError) in
                try AvroContainer.encode(schema: schema, values: [], metadata: [], sync: [1])
            }?.field == "sync")
    }

    @Test func jsonParsesAndRefusesWithPositions() throws {
        let text = #"{"a": [1, -2, true, null, "é\n\u00e9\ud83d\ude80"], "b": {}}"#
        let value = try JSONValue.parse(Array(text.utf8), field: "j")
        #expect(value["a"] == .array([.int(1), .int(-2), .bool(true), .null, .string("é\né🚀")]))
        #expect(value.compact == #"{"a":[1,-2,true,null,"é\né🚀"],"b":{}}"#)
        #expect(try JSONValue.parse(Array(value.pretty.utf8), field: "j") == value)
        let bad: [(String, IcebergError.Code, Int)] = [
            (#"{"a": 1.5}"#, .unsupported, 6), (#"{"a" 1}"#, .invalidValue, 5), (#"[1, 2"#, .truncated, 5),
            (#""abc"#, .truncated, 4), ("[1] x", .invalidValue, 4), (#"99999999999999999999"#, .invalidValue, 0),
            (String(repeating: "[", count: 70), .outOfBounds, 64),
        ]
        for (text, code, position) in bad {
            let error = icebergError { () throws(IcebergError) in try JSONValue.parse(Array(text.utf8), field: "j") }
            #expect(error?.code == code && error?.position == position, "\(text): \(String(describing: error))")
        }
    }
}

/// The decoder on damaged manifests: every single-bit flip and every truncation of a real
/// manifest and manifest list is decoded or refused with an `IcebergError`, never a trap, and a
/// truncated file never yields values that were not written.
@Suite struct AvroDamageTests {
    @Test func flipsAndTruncationsAreRefusedOrHarmless() throws {
        let fixture = try IcebergTableVector(location: "s3://lake/tables/orders", codec: .uncompressed)
        let commit = fixture.commits[2]
        for file in commit.files.prefix(2) {
            let good = try AvroContainer.decode(file.bytes)
            var refused = 0
            for i in file.bytes.indices {
                var damaged = file.bytes
                damaged[i] ^= 1 << UInt8(i % 8)
                if icebergError({ () throws(IcebergError) in try AvroContainer.decode(damaged) }) != nil {
                    refused += 1
                }
            }
            #expect(refused > file.bytes.count / 4, "\(file.path): \(refused) of \(file.bytes.count) flips refused")
            for length in 0 ..< file.bytes.count {
                let prefix = Array(file.bytes.prefix(length))
                do {
                    let decoded = try AvroContainer.decode(prefix)
                    #expect(good.values.starts(with: decoded.values), "\(file.path) cut at \(length)")
                    #expect(decoded.values.count < good.values.count)
                } catch {
                    #expect(error.position <= length)
                }
            }
        }
        // Damaged metadata JSON is refused or read, never a trap.
        var files: [String: [UInt8]] = [:]
        for (path, bytes) in fixture.files { files["s3://lake/tables/orders/" + path] = bytes }
        let metadata = commit.files[2].bytes
        for i in stride(from: 0, to: metadata.count, by: 3) {
            var damaged = metadata
            damaged[i] ^= 1 << UInt8(i % 7)
            _ = icebergError { () throws(IcebergError) in
                try IcebergTable.restoring(metadata: damaged, version: 3) { files[$0] }
            }
        }
    }
}
