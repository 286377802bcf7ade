import StrataFormat

/// The one JSON shape of a record (formats/export.md, "JSON lines"), shared by
/// `strata consume --format json`, `strata export --format jsonl` and
/// `strata inspect dump --records --json`:
///
/// `{"offset":…,"timestamp":…,"key":…,"keyEncoding":…,"value":…,"valueEncoding":…,"headers":[…]}`
///
/// Bytes that are valid UTF-8 are a JSON string with encoding `"utf8"`, other bytes are their
/// base64 with encoding `"base64"`, and null is `null` with a `null` encoding. Only `"`, `\` and
/// control characters below U+0020 are escaped.
public enum RecordJSON {
    /// Appends `record` as one JSON object (no line terminator) in the field order of
    /// formats/export.md.
    public static func append(_ record: Record, to out: inout [UInt8]) {
        append(literal: "{\"offset\":", to: &out)
        TextBytes.appendDecimal(record.offset, to: &out)
        append(literal: ",\"timestamp\":", to: &out)
        TextBytes.appendDecimal(record.timestamp, to: &out)
        append(literal: ",\"key\":", to: &out)
        let keyEncoding = appendBytes(record.key, to: &out)
        append(literal: ",\"keyEncoding\":", to: &out)
        appendEncoding(keyEncoding, to: &out)
        append(literal: ",\"value\":", to: &out)
        let valueEncoding = appendBytes(record.value, to: &out)
        append(literal: ",\"valueEncoding\":", to: &out)
        appendEncoding(valueEncoding, to: &out)
        append(literal: ",\"headers\":", to: &out)
        appendHeaders(record.headers, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// Appends `[{"key":…,"value":…,"valueEncoding":…},…]` (`[]` when there are none).
    public static func appendHeaders(_ headers: [RecordHeader], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (index, header) in headers.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            append(literal: "{\"key\":", to: &out)
            var key = header.key
            key.withUTF8 { appendString($0, to: &out) }
            append(literal: ",\"value\":", to: &out)
            let encoding = appendBytes(header.value, to: &out)
            append(literal: ",\"valueEncoding\":", to: &out)
            appendEncoding(encoding, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    /// Appends `bytes` as a JSON string (UTF-8 text or base64) or `null`; returns the encoding
    /// used (nil for null).
    @discardableResult
    public static func appendBytes(_ bytes: [UInt8]?, to out: inout [UInt8]) -> BytesEncoding? {
        guard let bytes else {
            append(literal: "null", to: &out)
            return nil
        }
        return bytes.withUnsafeBytes { raw in
            if appendStringIfUTF8(raw, to: &out) { return .utf8 }
            out.append(UInt8(ascii: "\""))
            TextBytes.appendBase64(raw, to: &out)
            out.append(UInt8(ascii: "\""))
            return .base64
        }
    }

    /// Appends text known to be valid UTF-8 as a JSON string.
    static func appendString(_ text: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let written = appendStringIfUTF8(UnsafeRawBufferPointer(text), to: &out)
        assert(written, "a Swift String is valid UTF-8")
    }

    /// Appends `bytes` as a JSON string literal when they are valid UTF-8 and returns true;
    /// otherwise leaves `out` as it was and returns false. One pass: runs of bytes that need no
    /// escaping are copied whole.
    static func appendStringIfUTF8(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        let rollback = out.count
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            // Eight plain ASCII bytes at a time: no high bit, no control, no `"` or `\`.
            if index + 8 <= count, isPlainASCII(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                index += 8
                continue
            }
            let byte = bytes[index]
            if byte >= 0x80 {
                guard let length = TextBytes.sequenceLength(bytes, at: index) else {
                    out.removeSubrange(rollback...)
                    return false
                }
                index += length
                continue
            }
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart ..< index]))
            appendEscape(byte, to: &out)
            index += 1
            runStart = index
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart ..< count]))
        out.append(UInt8(ascii: "\""))
        return true
    }

    /// True when none of the eight bytes has the high bit, is below 0x20, or is `"` or `\`.
    @inline(__always)
    static func isPlainASCII(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high = TextBytes.highBits
        // A byte is zero exactly when `(x - 1) & ~x` has its high bit (x < 0x80 here).
        func hasZero(_ x: UInt64) -> Bool { (x &- ones) & ~x & high != 0 }
        let control = (word &- ones &* 0x20) & ~word & high  // some byte < 0x20
        return word & high == 0 && control == 0
            && !hasZero(word ^ (ones &* UInt64(UInt8(ascii: "\""))))
            && !hasZero(word ^ (ones &* UInt64(UInt8(ascii: "\\"))))
    }

    static func appendEscape(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        default:
            append(literal: "u00", to: &out)
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func appendEncoding(_ encoding: BytesEncoding?, to out: inout [UInt8]) {
        switch encoding {
        case .utf8: append(literal: "\"utf8\"", to: &out)
        case .base64: append(literal: "\"base64\"", to: &out)
        case nil: append(literal: "null", to: &out)
        }
    }

    /// Appends the UTF-8 of a literal; `StaticString` keeps it free of any `String` work.
    @inline(__always)
    static func append(literal: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }
}
