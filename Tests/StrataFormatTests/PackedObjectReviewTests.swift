import Foundation
import Testing

@testable import StrataFormat

/// Review of the packed-object codec (branch `packing`): the pack index must parse from a suffix
/// of the object, as `Lake.verify` reads it (`PackedObject.defaultTailReadBytes`, 256 KiB, from a
/// 32 MiB object), and name the same bytes in its errors as a parse of the whole object does.
@Suite struct PackedObjectReviewTests {
    /// A packed object of `count` slices of random segments (logs `p-0`, `p-1`, …).
    static func packed(slices count: Int, seed: UInt64 = 0x9ACC_0001) throws -> EncodedPackedObject {
        var rng = SeededRNG(seed: seed)
        var slices: [EncodedColdObject] = []
        for i in 0 ..< count {
            let (segment, _) = Random.segment(&rng, baseOffset: Int64(i * 100), batchCount: 12)
            slices.append(try ColdObject.encode(segment: segment, topic: "p-\(i)", frameRawBytesTarget: 500, level: 1))
        }
        return try PackedObject.encode(slices)
    }

    /// The suffix of `object` that holds the pack index frame and `extra` bytes before it.
    static func suffix(_ packed: EncodedPackedObject, extra: Int) -> [UInt8] {
        Array(packed.bytes.suffix(packed.index.indexFrameBytes + extra))
    }

    static func parse(tail: [UInt8], objectSize: Int) throws(FormatError) -> PackIndex {
        try withBytes(tail) { (raw) throws(FormatError) in try PackedObject.parseIndex(tail: raw, objectSize: objectSize) }
    }

    /// `parseIndex(tail:objectSize:)` documents "a suffix of the object (the whole object works
    /// too)". On the branch only the whole object works: `parseEntries` compares `r.position`
    /// (relative to the tail buffer) with `crcAt` (a position in the object), so any suffix that
    /// starts after byte 0 fails with `packIndex.slices` "entries end at …". `Lake.verify` reads
    /// a 256 KiB suffix, so every real packed object (> 256 KiB) is reported as a bad footer.
    @Test func thePackIndexParsesFromASuffixShorterThanTheObject() throws {
        let packed = try Self.packed(slices: 3)
        let whole = try PackedObject.parseIndex(object: packed.bytes)
        #expect(whole == packed.index)
        for extra in [0, 1, 100, Int(packed.index.slicesBytes) - 1] {
            let tail = Self.suffix(packed, extra: extra)
            #expect(tail.count < packed.bytes.count)
            let fromTail = formatResult { () throws(FormatError) in try Self.parse(tail: tail, objectSize: packed.bytes.count) }
            #expect(fromTail == .success(packed.index), "suffix of \(tail.count) of \(packed.bytes.count) bytes")
        }
    }

    /// A damaged pack index read from a suffix must name the byte a whole-object parse names
    /// (the object's byte, which `inspect verify` prints). On the branch positions the parser
    /// already computed as object positions (`frameStart`, `crcAt`, `objectSize - 4`) are passed
    /// to `ByteReader.error(at:)`, which adds the tail's start again.
    @Test func aDamagedPackIndexNamesTheSameByteFromASuffixAsFromTheWholeObject() throws {
        let packed = try Self.packed(slices: 3)
        let frameStart = Int(packed.index.slicesBytes)
        let size = packed.bytes.count
        // A byte of the first entry (CRC mismatch), the content magic, the trailer magic.
        for position in [frameStart + 8 + 20 + 3, frameStart + 8, size - 2] {
            var damaged = packed.bytes
            damaged[position] ^= 0x10
            let wholeError = formatError { () throws(FormatError) in try PackedObject.parseIndex(object: damaged) }
            let tail = Array(damaged.suffix(packed.index.indexFrameBytes + 64))
            let tailError = formatError { () throws(FormatError) in try Self.parse(tail: tail, objectSize: size) }
            let whole = try #require(wholeError, "byte \(position)")
            let fromTail = try #require(tailError, "byte \(position)")
            #expect(fromTail.field == whole.field, "byte \(position)")
            #expect(fromTail.position == whole.position, "byte \(position): \(fromTail) vs \(whole)")
            #expect(whole.position >= frameStart && whole.position < size, "byte \(position): \(whole)")
        }
    }

    /// A pack index whose CRC is right but whose `slicesBytes` has its top bit set (a buggy or
    /// hostile writer: the CRC guards against damage, not against bad values) must be a typed
    /// error like every other bad field. On the branch `Int64(try r.u64("packIndex.slicesBytes"))`
    /// traps ("Not enough bits"), killing `strata inspect`, `verify` or the server. Run in a
    /// child process so the trap fails this test instead of the whole run.
    @Test func aSlicesBytesBeyondInt64WithAValidCrcIsATypedError() async {
        await #expect(processExitsWith: .success) {
            let packed = try PackedObjectReviewTests.packed(slices: 2)
            var bytes = packed.bytes
            let frameStart = Int(packed.index.slicesBytes)
            let contentStart = frameStart + 8
            // magic u32, version u16, flags u16, slice count u32, then slicesBytes u64.
            let slicesBytesAt = contentStart + 12
            for i in 0 ..< 8 { bytes[slicesBytesAt + i] = i == 7 ? 0x80 : 0 }
            let crcAt = bytes.count - 12
            let crc = CRC32C.checksum(Array(bytes[contentStart ..< crcAt]))
            for i in 0 ..< 4 { bytes[crcAt + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
            do throws(FormatError) {
                _ = try PackedObject.parseIndex(object: bytes)
                exit(3)  // accepted: wrong too
            } catch {
                exit(error.field.hasPrefix("packIndex") ? 0 : 4)
            }
        }
    }
}

/// `Result` of a throwing codec call, so two outcomes compare with `==`.
private func formatResult<T>(_ body: () throws(FormatError) -> T) -> Result<T, FormatError> {
    do throws(FormatError) { return .success(try body()) } catch { return .failure(error) }
}
