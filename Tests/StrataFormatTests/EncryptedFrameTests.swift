import Foundation
import Testing

@testable import StrataFormat

/// Encrypted cold objects at the format level (formats/cold-object.md, "Encrypted objects";
/// formats/keys.md): round trip, what the associated data binds, tamper, missing keys, rings.
@Suite struct EncryptedFrameTests {
    static func key(_ byte: UInt8) -> String { Data(repeating: byte, count: 32).base64EncodedString() }
    static let ringA = try! ColdKeyRing.parse("A:\(key(1))", source: "test")
    static let ringBA = try! ColdKeyRing.parse("B:\(key(2))\nA:\(key(1))", source: "test")

    func encrypted(seed: UInt64 = 0x5EED_1801, batches: Int = 12, target: Int = 300, topic: String = "orders")
        throws -> (segment: [UInt8], object: EncodedColdObject)
    {
        var rng = SeededRNG(seed: seed)
        let (segment, _) = Random.segment(&rng, baseOffset: 500, batchCount: batches)
        let object = try ColdObject.encode(
            segment: segment, topic: topic, frameRawBytesTarget: target, sealer: Self.ringA.sealer)
        return (segment, object)
    }

    @Test func roundTripThroughTheFooter() throws {
        let (segment, encoded) = try encrypted()
        #expect(encoded.index.frames.count >= 3)
        #expect(encoded.index.encryption == ColdEncryption(cipher: .aes256gcm, keyId: "A"))
        let suffix = Array(encoded.bytes.suffix(encoded.index.footerBytes))
        let parsed = try withBytes(suffix) { (raw) throws(FormatError) in
            try ColdObjectFooter.parse(tail: raw, objectSize: encoded.bytes.count)
        }
        #expect(parsed == encoded.index)
        var rebuilt: [UInt8] = []
        for frame in parsed.frames {
            #expect(frame.checksum == 0 && frame.sealed?.keyId == "A")
            // One ranged read of the frame's range is all a reader needs.
            rebuilt += try ColdObject.decodeFrame(Array(encoded.bytes[frame.objectRange]), frame: frame, keys: Self.ringBA)
        }
        #expect(rebuilt == segment)
        #expect(try ColdObject.decodeSegment(encoded.bytes, keys: Self.ringA).segment == segment)
        #expect(try ColdObject.uploadDecodes(encoded.bytes, expected: encoded.index, keys: Self.ringA))
        // The plaintext's zstd frames are not in the object: it is not a zstd stream.
        #expect(encoded.bytes.prefix(4) != [0x28, 0xB5, 0x2F, 0xFD])
    }

    @Test func freshNoncePerFrameAndObject() throws {
        var rng = SeededRNG(seed: 0x5EED_1802)
        let (segment, _) = Random.segment(&rng, baseOffset: 0, batchCount: 4)
        let one = try ColdObject.encode(segment: segment, topic: "t", frameRawBytesTarget: 1 << 20, sealer: Self.ringA.sealer)
        let two = try ColdObject.encode(segment: segment, topic: "t", frameRawBytesTarget: 1 << 20, sealer: Self.ringA.sealer)
        #expect(one.index == two.index)
        #expect(one.bytes.prefix(12) != two.bytes.prefix(12))
        #expect(one.bytes != two.bytes)
    }

    @Test func missingKeyNamesTheKeyId() throws {
        let (_, encoded) = try encrypted()
        let frame = encoded.index.frames[1]
        let bytes = Array(encoded.bytes[frame.objectRange])
        for keys in [nil, try ColdKeyRing.parse("B:\(Self.key(2))", source: "test")] {
            let error = #expect(throws: FormatError.self) { try ColdObject.decodeFrame(bytes, frame: frame, keys: keys) }
            #expect(error?.code == .missingKey)
            #expect(error?.message.contains("key id 'A'") == true)
            #expect(error?.message.hasPrefix("frame 1: ") == true)
        }
    }

    @Test func everyFlippedBitFailsAuthenticationNamingTheFrame() throws {
        let (_, encoded) = try encrypted(batches: 3, target: 1 << 20)
        let frame = encoded.index.frames[0]
        let bytes = Array(encoded.bytes[frame.objectRange])
        for bit in stride(from: 0, to: bytes.count * 8, by: 7) {
            let error = #expect(throws: FormatError.self) {
                try ColdObject.decodeFrame(flipped(bytes, bit: bit), frame: frame, keys: Self.ringA)
            }
            #expect(error?.code == .authenticationFailed, "bit \(bit)")
            #expect(error?.message.hasPrefix("frame 0: ") == true)
        }
    }

    @Test func theWrongKeyUnderTheSameIdFailsAuthentication() throws {
        let (_, encoded) = try encrypted()
        let impostor = try ColdKeyRing.parse("A:\(Self.key(9))", source: "test")
        let error = #expect(throws: FormatError.self) { try ColdObject.decodeSegment(encoded.bytes, keys: impostor) }
        #expect(error?.code == .authenticationFailed)
    }

    /// The associated data binds the frame number, the object's identity and the frame's entry:
    /// a frame moved to another position, or read with another object's index, does not open.
    @Test func framesCannotBeSwappedOrMoved() throws {
        let (_, encoded) = try encrypted(target: 200)
        let frames = encoded.index.frames
        #expect(frames.count >= 3)
        // Frame 1's bytes presented as frame 2 (entry adjusted so the sizes agree).
        var moved = frames[2]
        moved.compressedBytes = frames[1].compressedBytes
        let error = #expect(throws: FormatError.self) {
            try ColdObject.decodeFrame(Array(encoded.bytes[frames[1].objectRange]), frame: moved, keys: Self.ringA)
        }
        #expect(error?.code == .authenticationFailed)
        // The same segment under another log name: same offsets, another identity.
        var rng = SeededRNG(seed: 0x5EED_1801)
        let (segment, _) = Random.segment(&rng, baseOffset: 500, batchCount: 12)
        let other = try ColdObject.encode(
            segment: segment, topic: "orders/1", frameRawBytesTarget: 200, sealer: Self.ringA.sealer)
        var foreign = other.index.frames[0]
        foreign.sealed = frames[0].sealed
        let swapped = #expect(throws: FormatError.self) {
            try ColdObject.decodeFrame(Array(other.bytes[foreign.objectRange]), frame: foreign, keys: Self.ringA)
        }
        #expect(swapped?.code == .authenticationFailed)
    }

    @Test func plainObjectsNeedNoKeyAndStayVersionOne() throws {
        var rng = SeededRNG(seed: 0x5EED_1803)
        let (segment, _) = Random.segment(&rng, baseOffset: 0, batchCount: 5)
        let plain = try ColdObject.encode(segment: segment, topic: "t", frameRawBytesTarget: 200)
        #expect(plain.index.encryption == nil && plain.index.frames.allSatisfy { $0.sealed == nil })
        let content = plain.index.indexFrameOffset + 8
        #expect(plain.bytes[content + 4] == 1 && plain.bytes[content + 6] == 0)
        #expect(try ColdObject.decodeSegment(plain.bytes, keys: Self.ringA).segment == segment)
    }

    @Test func encryptedIndexRejectsBadFields() throws {
        let (_, encoded) = try encrypted()
        let content = encoded.index.indexFrameOffset + 8
        let topicLength = 6  // "orders"
        func reparse(_ change: (inout [UInt8]) -> Void) -> FormatError? {
            var bytes = encoded.bytes
            change(&bytes)
            // Keep the index CRC right, so the field check itself is what refuses.
            let crcAt = encoded.index.indexFrameOffset + encoded.index.indexFrameBytes - 4
            let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[content ..< crcAt])) }
            for i in 0 ..< 4 { bytes[crcAt + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
            do { _ = try ColdObjectFooter.parse(object: bytes) } catch { return error }
            return nil
        }
        #expect(reparse { $0[content + 6] = 0 }?.field == "coldIndex.flags")
        #expect(reparse { $0[content + 74 + topicLength] = 7 }?.field == "coldIndex.cipher")
        #expect(reparse { $0[content + 74 + topicLength + 2] = UInt8(ascii: "/") }?.field == "coldIndex.keyId")
        #expect(reparse { $0[content + 4] = 3 }?.code == .unsupportedVersion)
    }

    @Test func keyRingParsing() throws {
        let ring = try ColdKeyRing.parse(
            "# comment\n  new-2:\(Self.key(2)) , old.1:\(Self.key(1))\n\nolder_0:\(Self.key(0))\n", source: "f")
        #expect(ring.ids == ["new-2", "old.1", "older_0"])
        #expect(ring.newestId == "new-2" && ring.sealer.keyId == "new-2")
        #expect(!ring.description.contains(Self.key(2)) && ring.description.contains("new-2"))
        let secret = Data(repeating: 7, count: 31).base64EncodedString()
        for (text, field) in [
            ("", "keyRing"), ("A", "keyRing.entry"), ("A:not base64!", "keyRing.key"), ("A:\(secret)", "keyRing.key"),
            ("A:\(Self.key(1)),A:\(Self.key(2))", "keyRing.id"), ("a b:\(Self.key(1))", "keyRing.id"),
        ] {
            let error = #expect(throws: FormatError.self) { try ColdKeyRing.parse(text, source: "ring.txt") }
            #expect(error?.field == field, "\(text)")
            #expect(error?.message.hasPrefix("ring.txt: ") == true)
            #expect(error.map { !$0.description.contains(secret) && !$0.description.contains(Self.key(1)) } == true)
        }
    }

    /// formats/vectors/segment.encrypted.seg.zst: opens with the vector's key to `segment.seg`,
    /// its footer is the description's, and sealing again with the fixed nonces gives its bytes.
    @Test func encryptedGoldenVector() throws {
        let object = try vector("segment.encrypted.seg.zst")
        let described = try JSONDecoder().decode(
            EncryptedColdObjectDescription.self, from: Data(try vector("segment.encrypted.seg.zst.json")))
        let ring = try ColdKeyRing.parse(described.keyRing, source: "vector")
        let (index, segment) = try ColdObject.decodeSegment(object, keys: ring)
        #expect(index == described.index)
        #expect(segment == (try vector(described.segmentFile)))
        #expect(index.encryption?.keyId == "vector-key-1" && index.frames.count >= 3)
        #expect(#expect(throws: FormatError.self) { try ColdObject.decodeSegment(object) }?.code == .missingKey)
        if Zstd.versionString == described.zstdVersion {
            let again = try ColdObject.encode(
                segment: segment, topic: index.topic, frameRawBytesTarget: index.frameRawBytesTarget,
                level: index.compressionLevel, sealer: ColdSealer.forVector(ring: ring, nonceSeed: described.nonceSeed))
            #expect(again.bytes == object)
        }
    }
}
