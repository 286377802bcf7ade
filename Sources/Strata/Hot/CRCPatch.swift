/// CRC32C arithmetic that updates a checksum without reading the bytes it covers again
/// (CRC is linear over GF(2): zlib's `crc32_combine` uses the same algebra). Stamping a batch's
/// base offset changes 8 bytes of a 64 KiB batch; recomputing its CRC was a second pass over
/// every byte right after `BatchCheck` had read them all to verify the producer's CRC.
enum CRCPatch {
    /// The reflected Castagnoli polynomial.
    private static let polynomial: UInt32 = 0x82F6_3B78

    /// `a · b mod P` in the reflected representation (bit 31 is x^0).
    private static func multiply(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var product: UInt32 = 0
        var b = b
        var mask: UInt32 = 1 << 31
        while mask != 0 {
            if a & mask != 0 { product ^= b }
            mask >>= 1
            b = b & 1 != 0 ? (b >> 1) ^ polynomial : b >> 1
        }
        return product
    }

    /// x^(2^k) mod P for k in 0..<67: enough for any `Int` byte count (x^1 is `1 << 30`).
    private static let powersOfTwo: [UInt32] = {
        var table: [UInt32] = []
        var p: UInt32 = 1 << 30
        for _ in 0 ..< 67 {
            table.append(p)
            p = multiply(p, p)
        }
        return table
    }()

    /// x^(8 · count) mod P: what `count` zero bytes do to a CRC register.
    private static func zeroBytesOperator(_ count: Int) -> UInt32 {
        var result: UInt32 = 1 << 31  // x^0
        var n = UInt64(count)
        var k = 3  // 8 = 2^3 bits per byte
        while n != 0 {
            if n & 1 != 0 { result = multiply(powersOfTwo[k], result) }
            n >>= 1
            k += 1
        }
        return result
    }

    /// The CRC32C of `A ‖ B` from the CRC of `A`, the CRC of `B` and `B`'s length.
    static func combine(_ crcA: UInt32, _ crcB: UInt32, lengthB: Int) -> UInt32 {
        multiply(zeroBytesOperator(lengthB), crcA) ^ crcB
    }

    /// The CRC32C of a message after 8 of its bytes changed from `old` to `new`, given its CRC
    /// before and how many bytes follow the changed ones (the message length is unchanged).
    static func replacing(
        _ crc: UInt32, old: UInt64, new: UInt64, bytesAfter: Int
    ) -> UInt32 {
        let difference = (old ^ new).littleEndian
        guard difference != 0 else { return crc }
        // The CRC of the difference alone, without the initial and final inversion: the CRC
        // register after those 8 bytes, started from 0.
        let register = withUnsafeBytes(of: difference) { ~CRC32C.checksum($0, continuing: 0xFFFF_FFFF) }
        return crc ^ multiply(zeroBytesOperator(bytesAfter), register)
    }
}
