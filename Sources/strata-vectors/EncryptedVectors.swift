import Foundation
import StrataFormat

/// The test key of the encrypted vector: bytes 0x00...0x1f, id `vector-key-1`. Public on purpose.
let encryptedVectorKeyRing = "vector-key-1:" + Data((0 ..< 32).map { UInt8($0) }).base64EncodedString()
let encryptedVectorNonceSeed: UInt32 = 0x5354_5241

/// `segment.encrypted.seg.zst` (+ `.json`): `segment.seg` as an encrypted cold object
/// (formats/cold-object.md, "Encrypted objects") at the plain vector's frame target, so it has
/// the same frames, sealed with the fixed test key and nonces.
func generateEncryptedVectors(into directory: URL, mainSegment segment: [UInt8]) throws {
    let ring = try ColdKeyRing.parse(encryptedVectorKeyRing, source: "vector")
    let sealer = ColdSealer.forVector(ring: ring, nonceSeed: encryptedVectorNonceSeed)
    let cold = try ColdObject.encode(
        segment: segment, topic: topic, frameRawBytesTarget: frameRawBytesTarget, level: 3, sealer: sealer)
    try write(cold.bytes, "segment.encrypted.seg.zst", in: directory)
    let description = EncryptedColdObjectDescription(
        segmentFile: "segment.seg", zstdVersion: Zstd.versionString, keyRing: encryptedVectorKeyRing,
        nonceSeed: encryptedVectorNonceSeed, index: cold.index)
    try write([UInt8](try prettyJSON(description)), "segment.encrypted.seg.zst.json", in: directory)
}
