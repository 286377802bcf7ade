import StrataFormat

/// How a key, value or header value is written as text (formats/export.md, "Encoding of bytes").
public enum BytesEncoding: String, Sendable, CaseIterable {
    /// The bytes are valid UTF-8 and written as they are (JSON-escaped in JSON).
    case utf8
    /// The bytes are not valid UTF-8: standard base64 (RFC 4648 §4, padded, no line breaks).
    case base64

    /// How `bytes` are written: `utf8` exactly when they are valid UTF-8.
    public init(of bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { TextBytes.isValidUTF8($0) } ? .utf8 : .base64
    }
}

/// The byte-level pieces every text encoding shares: UTF-8 validation, base64 and decimal
/// integers, written straight into a byte buffer (no `String`, no Foundation).
public enum TextBytes {
    /// True when `bytes` are well-formed UTF-8 (Unicode Table 3-7: no overlong forms, no
    /// surrogates, nothing above U+10FFFF), the rule `String(validating:as:)` applies.
    public static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if index + 8 <= count, bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & highBits == 0 {
                index += 8
                continue
            }
            if bytes[index] < 0x80 {
                index += 1
                continue
            }
            guard let length = sequenceLength(bytes, at: index) else { return false }
            index += length
        }
        return true
    }

    /// The length of the well-formed multi-byte UTF-8 sequence starting at `index` (whose
    /// byte is ≥ 0x80), or nil when it is not one.
    @inline(__always)
    static func sequenceLength(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Int? {
        let lead = bytes[index]
        let remaining = bytes.count - index
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80 ... 0xBF) -> Bool {
            offset < remaining && range.contains(bytes[index + offset])
        }
        switch lead {
        case 0xC2 ... 0xDF:
            return continuation(1) ? 2 : nil
        case 0xE0:
            return continuation(1, 0xA0 ... 0xBF) && continuation(2) ? 3 : nil
        case 0xE1 ... 0xEC, 0xEE ... 0xEF:
            return continuation(1) && continuation(2) ? 3 : nil
        case 0xED:
            return continuation(1, 0x80 ... 0x9F) && continuation(2) ? 3 : nil
        case 0xF0:
            return continuation(1, 0x90 ... 0xBF) && continuation(2) && continuation(3) ? 4 : nil
        case 0xF1 ... 0xF3:
            return continuation(1) && continuation(2) && continuation(3) ? 4 : nil
        case 0xF4:
            return continuation(1, 0x80 ... 0x8F) && continuation(2) && continuation(3) ? 4 : nil
        default:
            return nil
        }
    }

    static let highBits: UInt64 = 0x8080_8080_8080_8080
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let lowSevenBits: UInt64 = 0x7F7F_7F7F_7F7F_7F7F

    /// The high bit of each byte of `word` (read little-endian) that equals `byte`, exactly: no
    /// carry crosses bytes, so `trailingZeroBitCount / 8` is the first such byte.
    @inline(__always)
    static func bytesEqual(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        let x = word ^ (ones &* UInt64(byte))
        return ~(((x & lowSevenBits) &+ lowSevenBits) | x) & highBits
    }

    /// The high bit of each byte of `word` below 0x20 (a control character), exactly.
    @inline(__always)
    static func bytesBelowSpace(_ word: UInt64) -> UInt64 {
        ~(((word & lowSevenBits) &+ (ones &* 0x60)) | word) & highBits
    }

    /// Appends the standard base64 of `bytes` (RFC 4648 §4: `+`, `/`, `=` padding, no line breaks).
    public static func appendBase64(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        appendWriting(bound: (bytes.count + 2) / 3 * 4, to: &out) { $0.put(base64: bytes) }
    }

    static let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends `value` in decimal, `-` first when negative.
    public static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        appendWriting(bound: 20, to: &out) { $0.put(decimal: value) }
    }
}
