extension CRC32C {
    /// The CRC32C of `a + b` from the CRC32C of `a`, the CRC32C of `b` and `b`'s length, without
    /// reading either (zlib's `crc32_combine`, for the Castagnoli polynomial): frames checked on
    /// several cores add up to the checksum of the whole segment.
    /// - Parameters:
    ///   - crcA: CRC32C of the first part (0 for an empty one).
    ///   - crcB: CRC32C of the second part.
    ///   - lengthB: bytes of the second part (≥ 0).
    public static func combine(_ crcA: UInt32, _ crcB: UInt32, lengthB: Int) -> UInt32 {
        guard lengthB > 0 else { return crcA }
        return multiplyModP(powerOfXModP(bytes: lengthB), crcA) ^ crcB
    }

    /// The CRC32C of `b` from the CRC32C of `a + b`, the CRC32C of `a` and `b`'s length, without
    /// reading `b` (`combine` solved for `crcB`): a batch whose checksum was checked over header
    /// and records gets a checksum over another header and the same records without a pass over
    /// them.
    public static func suffix(ofWhole crcWhole: UInt32, prefix crcA: UInt32, lengthB: Int) -> UInt32 {
        guard lengthB > 0 else { return 0 }
        return crcWhole ^ multiplyModP(powerOfXModP(bytes: lengthB), crcA)
    }

    /// The CRC32C of a message after 8 of its bytes changed from `old` to `new` (little-endian
    /// values), from its CRC before and how many bytes follow the changed ones, without reading
    /// the message again (CRC is linear over GF(2)): stamping a batch's base offset changes 8 bytes
    /// of a 64 KiB batch whose CRC `BatchCheck` just checked.
    public static func replacing(_ crc: UInt32, old: UInt64, new: UInt64, bytesAfter: Int) -> UInt32 {
        let difference = (old ^ new).littleEndian
        guard difference != 0 else { return crc }
        // The CRC register after the difference's 8 bytes alone, started from 0 and without
        // the final inversion.
        let register = withUnsafeBytes(of: difference) { ~checksum($0, continuing: 0xFFFF_FFFF) }
        return crc ^ multiplyModP(powerOfXModP(bytes: bytesAfter), register)
    }

    /// Reflected Castagnoli polynomial.
    static let reflectedPolynomial: UInt32 = 0x82F6_3B78

    /// x^(2^k) mod p for k = 3 ... 66, in reflected form: x^(8 · 2^j) is entry j, one byte and up.
    static let powersOfX: [UInt32] = {
        var table: [UInt32] = []
        var p: UInt32 = 1 << 30  // x^1
        for k in 0 ..< 67 {
            if k >= 3 { table.append(p) }
            p = multiplyModP(p, p)
        }
        return table
    }()

    /// a(x) · b(x) mod p(x), both reflected (bit 31 is x^0).
    static func multiplyModP(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var (a, b, product) = (a, b, UInt32(0))
        var m: UInt32 = 1 << 31
        while m != 0 {
            if a & m != 0 {
                product ^= b
                a ^= m
                if a == 0 { break }
            }
            m >>= 1
            b = b & 1 != 0 ? (b >> 1) ^ reflectedPolynomial : b >> 1
        }
        return product
    }

    /// x^(8 · bytes) mod p: the factor `bytes` more bytes apply to the CRC of what precedes them.
    static func powerOfXModP(bytes: Int) -> UInt32 {
        var p: UInt32 = 1 << 31  // x^0
        var n = UInt64(bytes)
        var k = 0
        while n != 0 {
            if n & 1 != 0 { p = multiplyModP(powersOfX[k], p) }
            n >>= 1
            k += 1
        }
        return p
    }
}
