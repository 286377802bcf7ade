// Fuzz target: the sealed-segment index (.idx) decoder, then lookups on what it accepted.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSparseIndexDecode(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    guard size >= 16 else { return 0 }
    _ = try? SparseIndex.decode(raw, expectedBaseOffset: 0, segmentBytes: 1 << 20)
    let base = Int64(raw.loadUnaligned(fromByteOffset: 8, as: Int64.self).littleEndian)
    let segmentBytes =
        size >= 32
        ? Int(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self) & 0xFFFF_FFFF) : 4096
    // Random bytes almost never carry a valid CRC32C: fix it up so the entry checks are reached.
    var fixed = Array(raw)
    let crc = CRC32C.checksum(fixed[..<(size - 4)])
    withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { fixed[size - 4 + i] = $0[i] } }
    let decoded = fixed.withUnsafeBytes {
        try? SparseIndex.decode($0, expectedBaseOffset: base, segmentBytes: segmentBytes)
    }
    if let index = decoded {
        for offset in [base, base &+ 1, index.nextOffset, Int64.max, Int64.min] {
            _ = index.position(forOffset: offset)
        }
        for ts in [index.firstTimestamp, index.maxTimestamp, Int64.min, Int64.max] {
            _ = index.position(forTimestamp: ts)
        }
    }
    return 0
}
