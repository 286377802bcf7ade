// Fuzz target: Kafka request decoding (StrataKafka) on arbitrary bytes. Any input must end in a
// decoded request or a KafkaDecodeError; a trap, an overflow or an out-of-bounds read is a bug.
// Byte 0 picks an API and byte 1 a version, so that most inputs reach a body decoder rather
// than failing on the API key; the raw input is decoded as a whole frame and as a v2 batch too.
import StrataFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKafkaRequestDecode(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkRoundTrip(bytes)
    if bytes.count >= 2 {
        let api = KafkaApis.all[Int(bytes[0]) % KafkaApis.all.count]
        let span = Int(api.versions.upperBound - api.versions.lowerBound) + 1
        let version = api.versions.lowerBound + Int16(Int(bytes[1]) % span)
        var frame = KafkaWriter()
        frame.int16(api.key.rawValue)
        frame.int16(version)
        frame.int32(1)
        frame.int16(-1)  // null client id
        if api.isFlexible(version) { frame.unsignedVarint(0) }
        frame.raw(bytes[2...])
        checkRoundTrip(frame.bytes)
    }
    _ = try? KafkaBatch.split(bytes)
    // Random bytes almost never carry a valid CRC-32C: fix it up so the record checks are reached.
    if bytes.count > KafkaBatchHeader.crcCoverageStart {
        var fixed = bytes
        let crc = CRC32C.checksum(fixed[KafkaBatchHeader.crcCoverageStart...])
        withUnsafeBytes(of: crc.bigEndian) { for i in 0 ..< 4 { fixed[KafkaBatchHeader.crcPosition + i] = $0[i] } }
        if let strata = try? KafkaBatch.toStrata(fixed, baseOffset: 0) {
            // Whatever toStrata accepts, Strata's decoder accepts and fromStrata turns back.
            precondition((try? BatchCodec.decode(strata)) != nil)
            precondition((try? KafkaBatch.fromStrata(strata)) != nil)
        }
    }
    return 0
}

/// A decoded request re-encodes, and its re-encoding is stable: encode(decode(e)) == e.
private func checkRoundTrip(_ frame: [UInt8]) {
    guard let request = try? KafkaRequest.decode(frame) else { return }
    guard let first = try? KafkaRequest.encode(request.header, body: request.body) else {
        preconditionFailure("a decoded \(request.api.name) v\(request.version) request does not re-encode")
    }
    guard let again = try? KafkaRequest.decode(first),
        let second = try? KafkaRequest.encode(again.header, body: again.body)
    else { preconditionFailure("a re-encoded \(request.api.name) request does not decode") }
    precondition(first == second, "re-encoding \(request.api.name) v\(request.version) is not stable")
}
