import Testing

@testable import StrataParquet

@Suite struct LevelCodecTests {
    func encode(_ levels: [UInt8], _ width: Int) -> [UInt8] {
        var out: [UInt8] = []
        LevelCodec.encode(levels, bitWidth: width, into: &out)
        return out
    }

    /// The examples of the Parquet encodings spec, and an RLE run.
    @Test func knownEncodings() {
        // 0…7 at width 3, bit-packed: one group, header (1 << 1) | 1, then 10001000 11000110 11111010.
        #expect(encode([0, 1, 2, 3, 4, 5, 6, 7], 3) == [0x03, 0x88, 0xC6, 0xFA])
        // 100 ones at width 1: RLE run, header 100 << 1 = 200 (varint C8 01), value byte.
        #expect(encode(Array(repeating: 1, count: 100), 1) == [0xC8, 0x01, 0x01])
        // 3 values: one bit-packed group padded with zeros.
        #expect(encode([1, 0, 1], 1) == [0x03, 0x05])
        #expect(LevelCodec.bitWidth(0) == 0 && LevelCodec.bitWidth(1) == 1 && LevelCodec.bitWidth(3) == 2)
    }

    @Test func roundTripRandomLevels() throws {
        var rng = SeededRNG(seed: 3)
        for _ in 0 ..< 300 {
            let maxLevel = Int.random(in: 1 ... 7, using: &rng)
            let width = LevelCodec.bitWidth(maxLevel)
            var levels: [UInt8] = []
            while levels.count < Int.random(in: 1 ... 400, using: &rng) {
                let level = UInt8.random(in: 0 ... UInt8(maxLevel), using: &rng)
                let run = Bool.random(using: &rng) ? Int.random(in: 1 ... 40, using: &rng) : 1
                levels += Array(repeating: level, count: run)
            }
            let bytes = encode(levels, width)
            let decoded = try LevelCodec.decode(
                bytes[...], count: levels.count, bitWidth: width, maxLevel: maxLevel, basePosition: 0, field: "t")
            #expect(decoded == levels)
        }
    }

    @Test func badLevelsAreErrors() {
        func decode(_ bytes: [UInt8], count: Int, maxLevel: Int) -> ParquetError? {
            parquetError { () throws(ParquetError) in
                try LevelCodec.decode(
                    bytes[...], count: count, bitWidth: LevelCodec.bitWidth(maxLevel), maxLevel: maxLevel,
                    basePosition: 50, field: "levels")
            }
        }
        #expect(decode([0x10], count: 8, maxLevel: 1)?.code == .truncated)  // RLE value missing
        #expect(decode([0x10, 0x02], count: 8, maxLevel: 1)?.code == .invalidValue)  // level 2 > max 1
        #expect(decode([0x03], count: 8, maxLevel: 1)?.code == .truncated)  // bit-packed bytes missing
        #expect(decode([0x03, 0xFF], count: 8, maxLevel: 2)?.code == .truncated)  // width 2 needs 2 bytes
        #expect(decode([], count: 1, maxLevel: 1)?.position == 50)
    }
}
