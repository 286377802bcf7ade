// Fuzz target: BatchCodec.decode on arbitrary bytes. Any input must end in a RecordBatch or a
// FormatError; a trap, an overflow or an out-of-bounds read is a bug (ASan + Swift checks).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBatchDecode(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let batch = try? BatchCodec.decode(bytes, basePosition: 0) {
        // A decoded batch must re-encode to the same bytes' record count and offsets.
        precondition(batch.records.count == Int(batch.header.recordCount))
        precondition(batch.records.last?.offset == batch.header.baseOffset + Int64(batch.header.recordCount) - 1)
    }
    _ = try? withBytes(bytes) { (raw) throws(FormatError) in try BatchCodec.parseHeader(raw, at: 0, basePosition: 7) }
    // Random bytes almost never carry a valid CRC32C: fix it up so the record decoder is reached.
    let start = BatchHeader.crcCoverageStart
    if bytes.count > start {
        var fixed = bytes
        let crc = CRC32C.checksum(fixed[start...])
        withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { fixed[8 + i] = $0[i] } }
        _ = try? BatchCodec.decode(fixed, basePosition: 0)
    }
    return 0
}
