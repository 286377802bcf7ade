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
        appendWriting(bound: bound(record), to: &out) { write(record, into: &$0) }
    }

    /// Appends `[{"key":…,"value":…,"valueEncoding":…},…]` (`[]` when there are none).
    public static func appendHeaders(_ headers: [RecordHeader], to out: inout [UInt8]) {
        appendWriting(bound: headersBound(headers), to: &out) { writeHeaders(headers, into: &$0) }
    }

    /// Appends `bytes` as a JSON string (UTF-8 text or base64) or `null`; returns the encoding
    /// used (nil for null).
    @discardableResult
    public static func appendBytes(_ bytes: [UInt8]?, to out: inout [UInt8]) -> BytesEncoding? {
        var encoding: BytesEncoding?
        appendWriting(bound: bytesBound(bytes), to: &out) { encoding = writeBytes(bytes, into: &$0) }
        return encoding
    }

    // MARK: - Bounds: the most bytes each part can take

    /// Fixed text of a record object: field names, punctuation, two 20-byte integers, encodings.
    static let recordFixedBytesMax = 160
    /// Fixed text of one header object and its separator.
    static let headerFixedBytesMax = 48

    static func bound<R: LineRecord>(_ record: R) -> Int {
        recordFixedBytesMax + bytesBound(record.keyByteCount) + bytesBound(record.valueByteCount)
            + headersBound(record)
    }

    /// An escaped byte takes at most 6 (`\u00XX`); base64 takes fewer.
    static func bytesBound(_ bytes: [UInt8]?) -> Int { bytesBound(bytes?.count) }

    static func bytesBound(_ count: Int?) -> Int {
        guard let count else { return 4 }
        return 6 * count + 2
    }

    static func headersBound(_ headers: [RecordHeader]) -> Int {
        var total = 2
        for header in headers {
            total += headerFixedBytesMax + 6 * header.key.utf8.count + 2 + bytesBound(header.value)
        }
        return total
    }

    static func headersBound<R: LineRecord>(_ record: R) -> Int {
        guard record.hasHeaders else { return 2 }
        var total = 2
        record.forEachHeader { key, value in total += headerFixedBytesMax + 6 * key.count + 2 + bytesBound(value?.count)
        }
        return total
    }

    // MARK: - Writing

    static func write<R: LineRecord>(_ record: R, into w: inout RawWriter) {
        w.put(literal: "{\"offset\":")
        w.put(decimal: record.offset)
        w.put(literal: ",\"timestamp\":")
        w.put(decimal: record.timestamp)
        w.put(literal: ",\"key\":")
        let keyEncoding = record.withKeyBytes { writeBytes($0, into: &w) }
        w.put(literal: ",\"keyEncoding\":")
        writeEncoding(keyEncoding, into: &w)
        w.put(literal: ",\"value\":")
        let valueEncoding = record.withValueBytes { writeBytes($0, into: &w) }
        w.put(literal: ",\"valueEncoding\":")
        writeEncoding(valueEncoding, into: &w)
        w.put(literal: ",\"headers\":")
        writeHeaders(of: record, into: &w)
        w.put(UInt8(ascii: "}"))
    }

    static func writeHeaders(_ headers: [RecordHeader], into w: inout RawWriter) {
        writeHeaders(of: Record(timestamp: 0, value: nil, headers: headers), into: &w)
    }

    static func writeHeaders<R: LineRecord>(of record: R, into w: inout RawWriter) {
        w.put(UInt8(ascii: "["))
        var first = true
        record.forEachHeader { key, value in
            if !first { w.put(UInt8(ascii: ",")) }
            first = false
            w.put(literal: "{\"key\":")
            // Header keys are checked UTF-8 (a `String`, or checked when the batch was read).
            let written = writeStringIfUTF8(key, into: &w)
            assert(written, "header keys are valid UTF-8")
            w.put(literal: ",\"value\":")
            let encoding = writeBytes(value, into: &w)
            w.put(literal: ",\"valueEncoding\":")
            writeEncoding(encoding, into: &w)
            w.put(UInt8(ascii: "}"))
        }
        w.put(UInt8(ascii: "]"))
    }

    static func writeBytes(_ bytes: [UInt8]?, into w: inout RawWriter) -> BytesEncoding? {
        guard let bytes else { return writeBytes(UnsafeRawBufferPointer?.none, into: &w) }
        return bytes.withUnsafeBytes { writeBytes($0, into: &w) }
    }

    static func writeBytes(_ bytes: UnsafeRawBufferPointer?, into w: inout RawWriter) -> BytesEncoding? {
        guard let raw = bytes else {
            w.put(literal: "null")
            return nil
        }
        if writeStringIfUTF8(raw, into: &w) { return .utf8 }
        w.put(UInt8(ascii: "\""))
        w.put(base64: raw)
        w.put(UInt8(ascii: "\""))
        return .base64
    }

    /// Writes `bytes` as a JSON string literal when they are valid UTF-8 and returns true;
    /// otherwise takes back what it wrote and returns false. One pass, eight plain ASCII bytes
    /// at a time where it can.
    static func writeStringIfUTF8(_ bytes: UnsafeRawBufferPointer, into w: inout RawWriter) -> Bool {
        let rollback = w.next
        w.put(UInt8(ascii: "\""))
        var index = 0
        let count = bytes.count
        while index < count {
            if count - index >= 8 {
                // Copy the plain ASCII bytes before the first one that needs care, eight at once;
                // the bound leaves room for the whole word (an escape takes 6 bytes, not 1).
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let plainCount = (needsCare(word).trailingZeroBitCount) / 8
                if plainCount > 0 {
                    w.put(word: word, keeping: plainCount)
                    index += plainCount
                    continue
                }
            }
            let byte = bytes[index]
            if byte >= 0x80 {
                guard let length = TextBytes.sequenceLength(bytes, at: index) else {
                    w.next = rollback
                    return false
                }
                w.put(UnsafeRawBufferPointer(rebasing: bytes[index ..< index + length]))
                index += length
            } else if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                writeEscape(byte, into: &w)
                index += 1
            } else {
                w.put(byte)
                index += 1
            }
        }
        w.put(UInt8(ascii: "\""))
        return true
    }

    /// The high bit of each byte of `word` that is not plain ASCII text: a byte ≥ 0x80 (UTF-8 to
    /// check), below 0x20, `"` or `\` (to escape). Zero when all eight are plain.
    @inline(__always)
    static func needsCare(_ word: UInt64) -> UInt64 {
        (word & TextBytes.highBits) | TextBytes.bytesBelowSpace(word)
            | TextBytes.bytesEqual(word, UInt8(ascii: "\"")) | TextBytes.bytesEqual(word, UInt8(ascii: "\\"))
    }

    static func writeEscape(_ byte: UInt8, into w: inout RawWriter) {
        w.put(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): w.put(byte)
        case 0x0A: w.put(UInt8(ascii: "n"))
        case 0x0D: w.put(UInt8(ascii: "r"))
        case 0x09: w.put(UInt8(ascii: "t"))
        default:
            w.put(literal: "u00")
            w.put(hexDigit(byte >> 4))
            w.put(hexDigit(byte & 0x0F))
        }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    static func writeEncoding(_ encoding: BytesEncoding?, into w: inout RawWriter) {
        switch encoding {
        case .utf8: w.put(literal: "\"utf8\"")
        case .base64: w.put(literal: "\"base64\"")
        case nil: w.put(literal: "null")
        }
    }
}
