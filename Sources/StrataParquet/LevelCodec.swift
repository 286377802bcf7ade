// The RLE / bit-packed hybrid encoding of definition and repetition levels (formats/table.md,
// "Levels"). A run of 8 or more equal levels is an RLE run; anything else goes into bit-packed
// groups of 8, the last group padded with zeros (readers stop at the page's value count).

public enum LevelCodec {
    /// Bits needed for levels up to `maxLevel` (0 for a column without levels).
    public static func bitWidth(_ maxLevel: Int) -> Int {
        maxLevel == 0 ? 0 : Int.bitWidth - maxLevel.leadingZeroBitCount
    }

    /// Appends `levels` in the hybrid encoding with `bitWidth` bits each (no length prefix).
    public static func encode(_ levels: [UInt8], bitWidth: Int, into out: inout [UInt8]) {
        let n = levels.count
        var i = 0
        while i < n {
            let run = runLength(levels, at: i, limit: n)
            if run >= 8 {
                appendRLE(value: levels[i], count: run, bitWidth: bitWidth, into: &out)
                i += run
                continue
            }
            // Bit-packed groups until a run of 8 starts at a group boundary (or the input ends).
            var end = i
            repeat {
                end += 8
            } while end < n && runLength(levels, at: end, limit: min(n, end + 8)) < 8
            appendBitPacked(levels, from: i, to: min(end, n), groups: (end - i) / 8, bitWidth: bitWidth, into: &out)
            i = min(end, n)
        }
    }

    static func runLength(_ levels: [UInt8], at start: Int, limit: Int) -> Int {
        var end = start + 1
        while end < limit && levels[end] == levels[start] { end += 1 }
        return end - start
    }

    static func appendRLE(value: UInt8, count: Int, bitWidth: Int, into out: inout [UInt8]) {
        var header = UInt64(count) << 1
        while header >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: header) | 0x80)
            header >>= 7
        }
        out.append(UInt8(header))
        // The value in ceil(bitWidth / 8) bytes, little-endian: one byte for any level ≤ 255.
        for b in 0 ..< (bitWidth + 7) / 8 { out.append(b == 0 ? value : 0) }
    }

    static func appendBitPacked(
        _ levels: [UInt8], from start: Int, to end: Int, groups: Int, bitWidth: Int, into out: inout [UInt8]
    ) {
        var header = UInt64(groups) << 1 | 1
        while header >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: header) | 0x80)
            header >>= 7
        }
        out.append(UInt8(header))
        var accumulator: UInt64 = 0
        var bits = 0
        for k in 0 ..< groups * 8 {
            let level = start + k < end ? UInt64(levels[start + k]) : 0
            accumulator |= level << UInt64(bits)
            bits += bitWidth
            while bits >= 8 {
                out.append(UInt8(truncatingIfNeeded: accumulator))
                accumulator >>= 8
                bits -= 8
            }
        }
        // groups * 8 * bitWidth is a multiple of 8: nothing is left over.
    }

    /// Decodes `count` levels of `bitWidth` bits from `bytes` (no length prefix); every level
    /// must be ≤ `maxLevel`. `basePosition` places errors in the file.
    public static func decode(
        _ bytes: ArraySlice<UInt8>, count: Int, bitWidth: Int, maxLevel: Int, basePosition: Int, field: String
    ) throws(ParquetError) -> [UInt8] {
        if bitWidth == 0 { return [UInt8](repeating: 0, count: count) }
        var result: [UInt8] = []
        result.reserveCapacity(min(count, 1 << 20))
        var position = bytes.startIndex
        func fail(_ code: ParquetError.Code, _ message: String) -> ParquetError {
            ParquetError(code, field: field, position: basePosition + (position - bytes.startIndex), message)
        }
        while result.count < count {
            var header: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < bytes.endIndex else { throw fail(.truncated, "levels end inside a run header") }
                let b = bytes[position]
                position += 1
                header |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
                guard shift < 35 else { throw fail(.invalidValue, "run header longer than 5 bytes") }
            }
            if header & 1 == 0 {
                let run = Int(header >> 1)
                let width = (bitWidth + 7) / 8
                guard bytes.endIndex - position >= width else { throw fail(.truncated, "RLE run value cut off") }
                var value = 0
                for b in 0 ..< width { value |= Int(bytes[position + b]) << (8 * b) }
                position += width
                guard value <= maxLevel else { throw fail(.invalidValue, "level \(value) exceeds \(maxLevel)") }
                guard run > 0 else { throw fail(.invalidValue, "empty RLE run") }
                let take = min(run, count - result.count)
                result.append(contentsOf: repeatElement(UInt8(value), count: take))
            } else {
                let groups = Int(header >> 1)
                let byteCount = groups * bitWidth
                guard bytes.endIndex - position >= byteCount else { throw fail(.truncated, "bit-packed run cut off") }
                var accumulator: UInt64 = 0
                var bits = 0
                var cursor = position
                for _ in 0 ..< groups * 8 {
                    while bits < bitWidth {
                        accumulator |= UInt64(bytes[cursor]) << UInt64(bits)
                        cursor += 1
                        bits += 8
                    }
                    let value = Int(accumulator & ((1 << UInt64(bitWidth)) - 1))
                    accumulator >>= UInt64(bitWidth)
                    bits -= bitWidth
                    guard result.count < count else { continue }  // padding of the last group
                    guard value <= maxLevel else { throw fail(.invalidValue, "level \(value) exceeds \(maxLevel)") }
                    result.append(UInt8(value))
                }
                position += byteCount
            }
        }
        return result
    }
}
