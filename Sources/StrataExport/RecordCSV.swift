import StrataFormat

/// Records as CSV (formats/export.md, "CSV"): RFC 4180, CRLF-terminated, the header row
/// `offset,timestamp,key,keyEncoding,value,valueEncoding,headers`. Keys and values use the text
/// and encodings of `RecordJSON`; CSV has no null, so null is an empty field with an empty
/// encoding field; `headers` is the JSON array of `RecordJSON.appendHeaders` as text.
public enum RecordCSV {
    /// The header row, CRLF included.
    public static let headerRow: [UInt8] = Array(
        "offset,timestamp,key,keyEncoding,value,valueEncoding,headers\r\n".utf8)

    /// Appends `record` as one CSV row, CRLF included.
    public static func append(_ record: Record, to out: inout [UInt8]) {
        TextBytes.appendDecimal(record.offset, to: &out)
        out.append(comma)
        TextBytes.appendDecimal(record.timestamp, to: &out)
        out.append(comma)
        appendBytes(record.key, to: &out)
        out.append(comma)
        appendBytes(record.value, to: &out)
        out.append(comma)
        if record.headers.isEmpty {
            out.append(contentsOf: [UInt8(ascii: "["), UInt8(ascii: "]")])
        } else {
            var json: [UInt8] = []
            RecordJSON.appendHeaders(record.headers, to: &json)
            json.withUnsafeBytes { appendField($0, to: &out) }
        }
        out.append(contentsOf: [0x0D, 0x0A])
    }

    static let comma = UInt8(ascii: ",")
    static let utf8Suffix: [UInt8] = Array(",utf8".utf8)
    static let base64Suffix: [UInt8] = Array(",base64".utf8)

    /// Appends the text field and its encoding field: `text,utf8`, `base64text,base64`, or `,`
    /// for null.
    static func appendBytes(_ bytes: [UInt8]?, to out: inout [UInt8]) {
        guard let bytes else {
            out.append(comma)
            return
        }
        bytes.withUnsafeBytes { raw in
            if TextBytes.isValidUTF8(raw) {
                appendField(raw, to: &out)
                out.append(contentsOf: utf8Suffix)
            } else {
                // The base64 alphabet holds no character that needs quoting.
                TextBytes.appendBase64(raw, to: &out)
                out.append(contentsOf: base64Suffix)
            }
        }
    }

    /// RFC 4180: a field holding `,`, `"`, CR or LF is quoted, its quotes doubled; others are
    /// copied as they are.
    static func appendField(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        guard text.contains(where: { $0 == comma || $0 == quote || $0 == 0x0A || $0 == 0x0D }) else {
            out.append(contentsOf: text)
            return
        }
        out.reserveCapacity(out.count + text.count + 8)
        out.append(quote)
        var runStart = 0
        for (index, byte) in text.enumerated() where byte == quote {
            // Copy through the quote, then double it.
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[runStart ... index]))
            out.append(quote)
            runStart = index + 1
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[runStart...]))
        out.append(quote)
    }

    static let quote = UInt8(ascii: "\"")
}
