import Testing

@testable import StrataParquet

@Suite struct ThriftTests {
    /// Bytes worked out by hand from the compact protocol spec.
    @Test func knownEncodings() {
        // Field 1 i32 = 42: header (delta 1, type 5), zigzag 84.
        #expect(ThriftCompactWriter.encode(ThriftStruct([.init(id: 1, value: .i32(42))])) == [0x15, 0x54, 0x00])
        // Field 20 (delta > 15): type byte, zigzag i16 id 40; bool true lives in the type.
        #expect(ThriftCompactWriter.encode(ThriftStruct([.init(id: 20, value: .bool(true))])) == [0x01, 0x28, 0x00])
        // A list of 2 i64 (-1, 1) in field 2: header 0x29, list header 0x26, zigzag 1 and 2.
        #expect(
            ThriftCompactWriter.encode(ThriftStruct([.init(id: 2, value: .list(.i64, [.i64(-1), .i64(1)]))]))
                == [0x29, 0x26, 0x01, 0x02, 0x00])
        // 15 elements or more: size in a varint after 0xF_.
        let long = ThriftCompactWriter.encode(
            ThriftStruct([.init(id: 1, value: .list(.boolTrue, Array(repeating: .bool(false), count: 15)))]))
        #expect(Array(long.prefix(3)) == [0x19, 0xF1, 15] && long[3] == 2 && long.count == 3 + 15 + 1)
    }

    static func sample() -> ThriftStruct {
        let inner = ThriftStruct([.init(id: 1, value: .binary(Array("x".utf8))), .init(id: 3, value: .double(-2.5))])
        return ThriftStruct([
            .init(id: 1, value: .bool(false)), .init(id: 2, value: .byte(-7)), .init(id: 3, value: .i16(-300)),
            .init(id: 4, value: .i32(Int32.min)), .init(id: 5, value: .i64(Int64.max)),
            .init(id: 40, value: .binary([0, 255])), .init(id: 9, value: .struct(inner)),
            .init(id: 10, value: .list(.struct, (0 ..< 20).map { _ in .struct(inner) })),
            .init(id: 11, value: .list(.boolTrue, [.bool(true), .bool(false)])),
            .init(id: 12, value: .map(key: .i32, value: .binary, [(.i32(1), .binary([1]))])),
        ])
    }

    @Test func roundTrip() throws {
        let bytes = ThriftCompactWriter.encode(Self.sample())
        let decoded = try bytes.withUnsafeBytes { try ThriftCompactReader.decode($0, context: "sample") }
        #expect(decoded.value == Self.sample())
        #expect(decoded.byteCount == bytes.count)
    }

    /// Every strict prefix is a typed error, never a crash or a silent success.
    @Test func truncatedInputIsAnError() {
        let bytes = ThriftCompactWriter.encode(Self.sample())
        for n in 0 ..< bytes.count {
            let prefix = Array(bytes.prefix(n))
            let error = parquetError { () throws(ParquetError) in
                try withParquetBytes(prefix) { (raw) throws(ParquetError) in
                    try ThriftCompactReader.decode(raw, basePosition: 100, context: "sample")
                }
            }
            #expect(
                error?.code == .truncated || error?.code == .outOfBounds, "prefix \(n): \(String(describing: error))")
            #expect((error?.position ?? 0) >= 100, "positions are absolute")
        }
    }

    @Test func hostileInputIsBounded() {
        func decode(_ bytes: [UInt8]) -> ParquetError? {
            parquetError { () throws(ParquetError) in
                try withParquetBytes(bytes) { (raw) throws(ParquetError) in
                    try ThriftCompactReader.decode(raw, context: "hostile")
                }
            }
        }
        // A list claiming 2^32 elements in 6 bytes.
        #expect(decode([0x19, 0xF5, 0xFF, 0xFF, 0xFF, 0x0F])?.code == .outOfBounds)
        // A binary longer than the input.
        #expect(decode([0x18, 0x7F, 0x00])?.code == .outOfBounds)
        // Structs nested 10,000 deep.
        #expect(decode(Array(repeating: 0x1C, count: 10_000))?.code == .outOfBounds)
        // An unknown type code, and an 11-byte varint.
        #expect(decode([0x1D])?.code == .invalidValue)
        #expect(decode([0x16] + Array(repeating: 0xFF, count: 10) + [0x01])?.code == .invalidValue)
        // An i32 field holding a value beyond 32 bits.
        #expect(decode([0x15, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00])?.code == .invalidValue)
    }

    @Test func randomCorruptionNeverCrashes() {
        let bytes = ThriftCompactWriter.encode(Self.sample())
        var rng = SeededRNG(seed: 7)
        for _ in 0 ..< 2000 {
            var copy = bytes
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                copy[Int.random(in: 0 ..< copy.count, using: &rng)] = UInt8.random(in: 0 ... 255, using: &rng)
            }
            _ = parquetError { () throws(ParquetError) in
                try withParquetBytes(copy) { (raw) throws(ParquetError) in
                    try ThriftCompactReader.decode(raw, context: "fuzz")
                }
            }
        }
    }
}
