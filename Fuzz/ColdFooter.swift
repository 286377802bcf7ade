// Fuzz target: the cold-object footer parser (seek table + Strata index frame) on arbitrary
// objects and on suffixes of them, then a full decode of every frame it describes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzColdFooter(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? ColdObject.decodeSegment(bytes)
    // A reader fetches a suffix first and asks how much more it needs.
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    for tailCount in [0, 1, 9, 64, size / 2, size] where tailCount <= size {
        let tail = UnsafeRawBufferPointer(rebasing: raw[(size - tailCount)...])
        if let needed = try? ColdObjectFooter.tailBytesNeeded(tail: tail, objectSize: size), needed <= tailCount {
            _ = try? ColdObjectFooter.parse(tail: tail, objectSize: size)
        }
    }
    // A larger claimed object than the bytes given (the tail of something bigger).
    _ = try? ColdObjectFooter.parse(tail: raw, objectSize: size + 4096)
    // Random bytes almost never carry a valid index CRC: fix it up so the index fields are reached.
    if let fixed = withFixedIndexCRC(bytes) { _ = try? ColdObject.decodeSegment(fixed) }
    return 0
}

/// When the footer parse stops at the index CRC, the same object with that CRC recomputed.
func withFixedIndexCRC(_ object: [UInt8]) -> [UInt8]? {
    do throws(FormatError) {
        _ = try ColdObjectFooter.parse(object: object)
        return nil
    } catch {
        guard error.code == .checksumMismatch, error.field == "coldIndex.crc" else { return nil }
        let crcAt = error.position
        // The index frame: magic 0x184D2A5B, content size, content ending with the CRC.
        var start = crcAt - 8
        while start >= 0 {
            if start + 8 <= object.count, object[start] == 0x5B, object[start + 1] == 0x2A, object[start + 2] == 0x4D,
                object[start + 3] == 0x18
            {
                let contentBytes =
                    Int(object[start + 4]) | Int(object[start + 5]) << 8 | Int(object[start + 6]) << 16
                    | Int(object[start + 7]) << 24
                if start + 8 + contentBytes == crcAt + 4, crcAt + 4 <= object.count {
                    var fixed = object
                    let crc = CRC32C.checksum(fixed[(start + 8) ..< crcAt])
                    withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { fixed[crcAt + i] = $0[i] } }
                    return fixed
                }
            }
            start -= 1
        }
        return nil
    }
}
