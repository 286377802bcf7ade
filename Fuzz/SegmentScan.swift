// Fuzz target: SegmentScanner over an arbitrary segment image, then a full decode of every
// batch it accepted (what recovery and the reader do). Must never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSegmentScan(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    if let (header, scan) = try? SegmentScanner.scanFile(raw) {
        var expected = header.baseOffset
        for batch in scan.batches {
            precondition(batch.header.baseOffset == expected)
            expected = batch.header.nextOffset
            _ = try? BatchCodec.decode(raw, at: batch.position, basePosition: 0)
        }
        precondition(scan.validEnd <= size)
    }
    // Unchecked scan (the read path skips CRCs when it decodes right after).
    let loose = SegmentScanner.scan(raw, from: 0, expectedOffset: 0, basePosition: 100, verifyChecksums: false)
    precondition(loose.validEnd <= size + 100)
    return 0
}
