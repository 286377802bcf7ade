/// Raw stores into memory sized beforehand by the caller's bound: what keeps the encoders at a
/// few nanoseconds per field (appending to an `Array` byte by byte cost a uniqueness and a
/// capacity check per byte, 5 ns per byte of a JSON value).
struct RawWriter {
    let start: UnsafeMutablePointer<UInt8>
    let end: UnsafeMutablePointer<UInt8>
    var next: UnsafeMutablePointer<UInt8>

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        start = buffer.baseAddress!
        end = start + buffer.count
        next = start
    }

    var count: Int { next - start }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        assert(next < end, "encoder bound too small")
        next.pointee = byte
        next += 1
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        assert(bytes.count <= end - next, "encoder bound too small")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        UnsafeMutableRawPointer(next).copyMemory(from: base, byteCount: bytes.count)
        next += bytes.count
    }

    @inline(__always)
    mutating func put(literal: StaticString) {
        put(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Eight bytes at once, unaligned.
    @inline(__always)
    mutating func put(word: UInt64) {
        assert(end - next >= 8, "encoder bound too small")
        UnsafeMutableRawPointer(next).storeBytes(of: word, as: UInt64.self)
        next += 8
    }

    /// Stores eight bytes but keeps only the first `count`: the rest is overwritten next. The
    /// caller's bound must leave room for all eight.
    @inline(__always)
    mutating func put(word: UInt64, keeping count: Int) {
        assert(end - next >= 8 && count <= 8, "encoder bound too small")
        UnsafeMutableRawPointer(next).storeBytes(of: word, as: UInt64.self)
        next += count
    }

    /// `value` in decimal, `-` first when negative (at most 20 bytes).
    mutating func put(decimal value: Int64) {
        if value < 0 { put(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digitCount = 1
        var rest = magnitude / 10
        while rest > 0 {
            digitCount += 1
            rest /= 10
        }
        assert(end - next >= digitCount, "encoder bound too small")
        var at = next + digitCount
        repeat {
            at -= 1
            at.pointee = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        next += digitCount
    }

    /// Standard base64 of `bytes` (RFC 4648 §4: `+`, `/`, `=` padding, no line breaks).
    mutating func put(base64 bytes: UnsafeRawBufferPointer) {
        assert(end - next >= (bytes.count + 2) / 3 * 4, "encoder bound too small")
        TextBytes.base64Alphabet.withUnsafeBufferPointer { alphabet in
            var index = 0
            while index + 3 <= bytes.count {
                let group = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                next[0] = alphabet[Int(group >> 18)]
                next[1] = alphabet[Int(group >> 12 & 0x3F)]
                next[2] = alphabet[Int(group >> 6 & 0x3F)]
                next[3] = alphabet[Int(group & 0x3F)]
                next += 4
                index += 3
            }
            let left = bytes.count - index
            guard left > 0 else { return }
            let group = UInt32(bytes[index]) << 16 | (left == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            next[0] = alphabet[Int(group >> 18)]
            next[1] = alphabet[Int(group >> 12 & 0x3F)]
            next[2] = left == 2 ? alphabet[Int(group >> 6 & 0x3F)] : UInt8(ascii: "=")
            next[3] = UInt8(ascii: "=")
            next += 4
        }
    }
}

/// Runs `body` with a writer over `bound` bytes of scratch memory (the stack when it has room),
/// then appends what it wrote to `out`.
@inline(__always)
func appendWriting(bound: Int, to out: inout [UInt8], _ body: (inout RawWriter) -> Void) {
    // At least one byte, so the scratch always has an address.
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(bound, 1)) { scratch in
        var writer = RawWriter(scratch)
        body(&writer)
        out.append(contentsOf: UnsafeBufferPointer(start: writer.start, count: writer.count))
    }
}
