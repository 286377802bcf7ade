import StrataKafka
import Testing

/// The primitive codecs: each round-trips, and each hostile input is a typed error.
@Suite struct KafkaPrimitiveTests {
    @Test func fixedWidthIntegersAreBigEndian() throws {
        var w = KafkaWriter()
        w.int8(-2)
        w.int16(0x0102)
        w.int32(-1)
        w.int64(0x0102_0304_0506_0708)
        w.uint32(0xDEAD_BEEF)
        w.bool(true)
        w.float64(1.5)
        #expect(Array(w.bytes[0 ..< 3]) == [0xFE, 0x01, 0x02])
        var r = KafkaReader(w.bytes)
        #expect(try r.int8("a") == -2)
        #expect(try r.int16("b") == 0x0102)
        #expect(try r.int32("c") == -1)
        #expect(try r.int64("d") == 0x0102_0304_0506_0708)
        #expect(try r.uint32("e") == 0xDEAD_BEEF)
        #expect(try r.bool("f"))
        #expect(try r.float64("g") == 1.5)
        #expect(r.isAtEnd)
        let error = kafkaError { () throws(KafkaDecodeError) in try r.int32("Past.End") }
        #expect(error?.code == .truncated)
        #expect(error?.field == "Past.End")
    }

    /// Zigzag: 0→0, -1→1, 1→2, -2→3, and the extremes of both widths.
    @Test func varintsZigzagAndRoundTrip() throws {
        var w = KafkaWriter()
        for v: Int32 in [0, -1, 1, -2] { w.varint(v) }
        #expect(w.bytes == [0, 1, 2, 3])
        let ints: [Int32] = [0, 1, -1, 63, -64, 64, 300, -300, .max, .min]
        let longs: [Int64] = [0, -1, 1, 1 << 40, -(1 << 40), .max, .min, -86_400_000]
        w = KafkaWriter()
        for v in ints { w.varint(v) }
        for v in longs { w.varlong(v) }
        w.unsignedVarint(UInt64(UInt32.max))
        var r = KafkaReader(w.bytes)
        for v in ints { #expect(try r.varint("varint") == v) }
        for v in longs { #expect(try r.varlong("varlong") == v) }
        #expect(try r.unsignedVarint("uvarint") == UInt64(UInt32.max))
        #expect(r.isAtEnd)
    }

    @Test func overlongOrTruncatedVarintsAreErrors() {
        // 6 bytes for a 32-bit varint, a 5th byte carrying more than 4 bits, 11 bytes for 64 bits.
        for bytes: [UInt8] in [[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0xFF, 0xFF, 0xFF, 0xFF, 0x10]] {
            var r = KafkaReader(bytes)
            #expect(kafkaError { () throws(KafkaDecodeError) in try r.varint("v") }?.code == .invalidValue)
        }
        var long = KafkaReader([UInt8](repeating: 0xFF, count: 10) + [0x01])
        #expect(kafkaError { () throws(KafkaDecodeError) in try long.varlong("v") }?.code == .invalidValue)
        var cut = KafkaReader([0x80, 0x80])
        #expect(kafkaError { () throws(KafkaDecodeError) in try cut.varint("v") }?.code == .truncated)
    }

    /// Classic strings: int16 length, -1 null. Compact: unsigned varint length + 1, 0 null.
    @Test func stringsClassicAndCompact() throws {
        for compact in [false, true] {
            var w = KafkaWriter()
            try w.string("été", compact: compact)
            try w.string(nil, compact: compact)
            try w.string("", compact: compact)
            var r = KafkaReader(w.bytes)
            #expect(try r.string("s", compact: compact, nullable: false) == "été")
            #expect(try r.string("s", compact: compact, nullable: true) == nil)
            #expect(try r.string("s", compact: compact, nullable: false) == "")
            #expect(r.isAtEnd)
        }
        var w = KafkaWriter()
        try w.string("ab", compact: false)
        #expect(w.bytes == [0, 2, 0x61, 0x62])
        w = KafkaWriter()
        try w.string("ab", compact: true)
        #expect(w.bytes == [3, 0x61, 0x62])
        w = KafkaWriter()
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try w.string(String(repeating: "x", count: 40_000), compact: false)
            }?.code == .outOfBounds)
    }

    @Test func badStringsAreTypedErrors() {
        var null = KafkaReader([0xFF, 0xFF])
        let nullError = kafkaError { () throws(KafkaDecodeError) in
            try null.string("Name", compact: false, nullable: false)
        }
        #expect(nullError?.code == .invalidValue)
        var long = KafkaReader([0x7F, 0xFF, 0x61])
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try long.string("Name", compact: false, nullable: false)
            }?.code == .outOfBounds)
        var notUTF8 = KafkaReader([0x00, 0x02, 0xC3, 0x28])
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try notUTF8.string("Name", compact: false, nullable: false)
            }?.code == .invalidValue)
        // A compact length may say more than 32767; Kafka's strings never hold more.
        var w = KafkaWriter()
        w.unsignedVarint(40_001)
        var compactLong = KafkaReader(w.bytes + [UInt8](repeating: 0x61, count: 40_000))
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try compactLong.string("Name", compact: true, nullable: false)
            }?.code == .outOfBounds)
        var negative = KafkaReader([0xFF, 0xFE])
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try negative.string("Name", compact: false, nullable: true)
            }?.code == .outOfBounds)
    }

    @Test func bytesClassicAndCompact() throws {
        for compact in [false, true] {
            var w = KafkaWriter()
            w.bytes([1, 2, 3], compact: compact)
            w.bytes(nil, compact: compact)
            w.bytes([], compact: compact)
            var r = KafkaReader(w.bytes)
            #expect(try r.bytes("b", compact: compact, nullable: false) == [1, 2, 3])
            #expect(try r.bytes("b", compact: compact, nullable: true) == nil)
            #expect(try r.bytes("b", compact: compact, nullable: false) == [])
        }
        // A declared 2 GiB value in a 10-byte input: an error before any allocation.
        var huge = KafkaReader([0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try huge.bytes("Records", compact: false, nullable: true)
            }?.code == .outOfBounds)
    }

    /// A hostile element count is bounded by the bytes present.
    @Test func arrayCountsAreBoundedByTheInput() throws {
        var w = KafkaWriter()
        w.arrayCount(3, compact: false)
        w.arrayCount(nil, compact: false)
        w.arrayCount(3, compact: true)
        w.arrayCount(nil, compact: true)
        #expect(w.bytes == [0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 4, 0])
        var r = KafkaReader(w.bytes + [UInt8](repeating: 0, count: 12))
        #expect(try r.arrayCount("a", compact: false, nullable: false, elementBytesMin: 4) == 3)
        #expect(try r.arrayCount("a", compact: false, nullable: true, elementBytesMin: 4) == nil)
        var nonNull = KafkaReader([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try nonNull.arrayCount("a", compact: false, nullable: false, elementBytesMin: 1)
            }?.code == .invalidValue)
        var hostile = KafkaReader([0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try hostile.arrayCount("Topics", compact: false, nullable: false, elementBytesMin: 2)
            }?.code == .outOfBounds)
    }

    @Test func uuidRoundTrips() throws {
        let id = KafkaUUID(bytes: Array(0 ..< 16))
        var w = KafkaWriter()
        w.uuid(id)
        var r = KafkaReader(w.bytes)
        #expect(try r.uuid("TopicId") == id)
        #expect(id.description == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        var short = KafkaReader(Array(0 ..< 15))
        #expect(kafkaError { () throws(KafkaDecodeError) in try short.uuid("TopicId") }?.code == .truncated)
    }

    /// Unknown tagged fields are read and skipped; known ones are written only when not default.
    @Test func taggedFieldsSkipUnknownAndWriteNone() throws {
        let schema = KafkaStructSchema(
            "S",
            [
                KafkaField("A", .int32),
                KafkaField("T", .string, nullable: .all, tag: 1, default: .string(nil)),
            ])
        var w = KafkaWriter()
        w.int32(7)
        w.unsignedVarint(3)  // three tagged fields: 0 (unknown), 1 (T), 5 (unknown)
        w.unsignedVarint(0); w.unsignedVarint(2); w.raw([0xAA, 0xBB])
        w.unsignedVarint(1); w.unsignedVarint(3); try w.string("hi", compact: true)
        w.unsignedVarint(5); w.unsignedVarint(0)
        var r = KafkaReader(w.bytes)
        let value = try KafkaSchemaCodec.decode(schema, version: 0, flexible: true, from: &r)
        #expect(r.isAtEnd)
        #expect(try value.int32("A") == 7)
        #expect(try value.string("T") == "hi")
        #expect(value.unknownTaggedFields.map(\.tag) == [0, 5])
        var out = KafkaWriter()
        try KafkaSchemaCodec.encode(value, as: schema, version: 0, flexible: true, into: &out)
        #expect(out.bytes == [0, 0, 0, 7, 1, 1, 3, 3, 0x68, 0x69], "unknown tags are not written back")
        var none = KafkaWriter()
        try KafkaSchemaCodec.encode(["A": .int(7)], as: schema, version: 0, flexible: true, into: &none)
        #expect(none.bytes == [0, 0, 0, 7, 0], "a default tagged field is left out")
    }

    @Test func badTaggedSectionsAreTypedErrors() {
        let schema = KafkaStructSchema("S", [KafkaField("T", .int32, tag: 0)])
        let cases: [([UInt8], KafkaDecodeError.Code)] = [
            ([2, 1, 0, 0, 0], .invalidValue),  // tag 1 then tag 0: tags must ascend
            ([1, 0, 9, 0], .truncated),  // size 9, one byte left
            ([1, 0, 5, 0, 0, 0, 1, 0], .trailingBytes),  // int32 in a 5-byte field
            ([100], .outOfBounds),  // 100 tagged fields in no bytes
        ]
        for (bytes, code) in cases {
            var r = KafkaReader(bytes)
            let error = kafkaError { () throws(KafkaDecodeError) in
                try KafkaSchemaCodec.decode(schema, version: 0, flexible: true, from: &r)
            }
            #expect(error?.code == code, "\(bytes)")
        }
    }

    /// An encoder refuses a value that does not fit its field instead of writing wrong bytes.
    @Test func encoderRejectsValuesThatDoNotFit() {
        let schema = KafkaStructSchema("S", [KafkaField("N", .int16), KafkaField("S", .string)])
        var w = KafkaWriter()
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try KafkaSchemaCodec.encode(["N": .int(70_000)], as: schema, version: 0, flexible: false, into: &w)
            }?.code == .outOfBounds)
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try KafkaSchemaCodec.encode(["S": .string(nil)], as: schema, version: 0, flexible: false, into: &w)
            }?.code == .invalidValue)
        #expect(
            kafkaError { () throws(KafkaDecodeError) in
                try KafkaSchemaCodec.encode(["N": .string("x")], as: schema, version: 0, flexible: false, into: &w)
            }?.code == .invalidValue)
    }
}
