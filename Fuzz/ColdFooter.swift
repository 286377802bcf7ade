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
    return 0
}
