import Foundation
import Testing

@testable import StrataExport

/// UTF-8 validation, base64 and decimals: the pieces every text encoding is built of, checked
/// against the standard library and Foundation.
@Suite struct TextBytesTests {
    func valid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { TextBytes.isValidUTF8($0) } }

    @Test func utf8EdgeCases() {
        let good: [[UInt8]] = [
            [], [0x00], [0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF],
            [0xEE, 0x80, 0x80], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], Array("日本語 🚀".utf8),
        ]
        let bad: [[UInt8]] = [
            [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x80, 0x80],
            [0xE0, 0xA0], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFF], [0xFE],
            Array("abcdefgh".utf8) + [0xC3],
        ]
        for bytes in good { #expect(valid(bytes), "\(bytes)") }
        for bytes in bad { #expect(!valid(bytes), "\(bytes)") }
    }

    @Test func utf8AgreesWithTheStandardLibrary() {
        var rng = SplitMix(seed: 3)
        for round in 0 ..< 20_000 {
            var bytes = Random.bytes(&rng, maxCount: 24)
            // Mostly text with one byte changed: the interesting boundary cases.
            if round % 2 == 0, !bytes.isEmpty {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            #expect(valid(bytes) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }

    @Test func base64AgreesWithFoundation() {
        var rng = SplitMix(seed: 5)
        for count in 0 ..< 64 {
            let bytes = (0 ..< count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var out: [UInt8] = []
            bytes.withUnsafeBytes { TextBytes.appendBase64($0, to: &out) }
            #expect(String(decoding: out, as: UTF8.self) == Data(bytes).base64EncodedString(), "\(count) bytes")
        }
    }

    /// The eight-bytes-at-once masks flag exactly the bytes a per-byte test flags.
    @Test func wordMasksAgreeWithPerByteTests() {
        var rng = SplitMix(seed: 9)
        let interesting: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x2C, 0x0A, 0x0D, 0x5C, 0x7F, 0x80, 0xA2, 0xFF]
        for round in 0 ..< 20_000 {
            let bytes = (0 ..< 8).map { _ in
                round % 2 == 0
                    ? interesting[Int(rng.next() % UInt64(interesting.count))] : UInt8(truncatingIfNeeded: rng.next())
            }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            func mask(_ flag: (UInt8) -> Bool) -> UInt64 {
                bytes.enumerated().reduce(0) { $0 | (flag($1.element) ? UInt64(0x80) << (8 * UInt64($1.offset)) : 0) }
            }
            #expect(TextBytes.bytesEqual(word, 0x22) == mask { $0 == 0x22 }, "\(bytes)")
            #expect(TextBytes.bytesEqual(word, 0x00) == mask { $0 == 0x00 }, "\(bytes)")
            #expect(TextBytes.bytesBelowSpace(word) == mask { $0 < 0x20 }, "\(bytes)")
            #expect(
                RecordJSON.needsCare(word) == mask { $0 >= 0x80 || $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }, "\(bytes)")
        }
    }

    @Test func decimals() {
        for value: Int64 in [0, 1, -1, 9, 10, -10, 1_767_225_600_000, Int64.max, Int64.min, Int64.min + 1] {
            var out: [UInt8] = Array("x".utf8)
            TextBytes.appendDecimal(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "x\(value)")
        }
    }
}
