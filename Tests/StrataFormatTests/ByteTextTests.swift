import StrataBlob
import Testing

@testable import StrataFormat

/// The one set of bytes-to-text helpers, and the one seeded generator.
@Suite struct ByteTextTests {
    @Test func hex32IsEightLowercaseDigits() {
        #expect(ByteText.hex32(0) == "00000000")
        #expect(ByteText.hex32(0x2A) == "0000002a")
        #expect(ByteText.hex32(0xDEAD_BEEF) == "deadbeef")
    }

    @Test func quotedShowsUTF8AsALiteralAndTheRestAsBase64() {
        #expect(ByteText.quoted(nil) == "null")
        #expect(ByteText.quoted(Array("clé \"x\"\n".utf8)) == #""clé \"x\"\n""#)
        #expect(ByteText.quoted([0xFF, 0x00]) == "base64:/wA=")
        #expect(ByteText.quoted([]) == #""""#)
    }

    @Test func splitMixIsTheReferenceSequenceAndMixIsItsFirstOutput() {
        var generator = SplitMix64(seed: 0)
        // The published SplitMix64 outputs for seed 0.
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
        #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(SplitMix64.mix(0) == 0xE220_A839_7B1D_CDAF)
        var seeded = SplitMix64(seed: 12_345)
        #expect(SplitMix64.mix(12_345) == seeded.next())
    }
}
