// Fuzz target: KafkaBatch.decompressed then toStrata (StrataKafka) on arbitrary batches. The
// harness fixes up the batch length and the CRC-32C so that the codecs see the bytes; any input
// must end in a batch or a KafkaDecodeError; a trap, an overflow or an out-of-bounds read is a bug.
import StrataFormat

/// The bound each input decompresses under: small, so bombs are found quickly.
private let maxBytes = 1 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKafkaBatchDecompress(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard bytes.count >= KafkaBatchHeader.size else {
        _ = try? KafkaBatch.decompressed(bytes, maxBytes: maxBytes)
        return 0
    }
    bytes[16] = 2  // magic
    let length = UInt32(bytes.count - KafkaBatchHeader.lengthFieldEnd)
    withUnsafeBytes(of: length.bigEndian) { for i in 0 ..< 4 { bytes[8 + i] = $0[i] } }
    let crc = CRC32C.checksum(bytes[KafkaBatchHeader.crcCoverageStart...])
    withUnsafeBytes(of: crc.bigEndian) { for i in 0 ..< 4 { bytes[KafkaBatchHeader.crcPosition + i] = $0[i] } }
    guard let output = try? KafkaBatch.decompressed(bytes, maxBytes: maxBytes) else { return 0 }
    // Whatever decompressed returns is within the bound, uncompressed and sealed.
    precondition(output.count <= maxBytes, "output of \(output.count) bytes over the bound")
    guard let header = try? KafkaBatch.parseHeader(output) else { preconditionFailure("output does not parse") }
    precondition(header.compression == KafkaCompression.none && header.totalBytes == output.count)
    precondition(Array(output[..<8]) == Array(bytes[..<8]), "the base offset changed")
    if let strata = try? KafkaBatch.toStrata(output, baseOffset: 0) {
        precondition((try? BatchCodec.decode(strata)) != nil)
    }
    return 0
}
