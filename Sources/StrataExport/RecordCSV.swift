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
        appendWriting(bound: bound(record), to: &out) { write(record, into: &$0) }
    }

    /// The most bytes `record`'s row can take.
    static func bound<R: LineRecord>(_ record: R) -> Int {
        64 + fieldBound(record.keyByteCount) + fieldBound(record.valueByteCount) + 2 * RecordJSON.headersBound(record)
            + 2
    }

    static func write<R: LineRecord>(_ record: R, into w: inout RawWriter) {
        w.put(decimal: record.offset)
        w.put(comma)
        w.put(decimal: record.timestamp)
        w.put(comma)
        record.withKeyBytes { writeBytes($0, into: &w) }
        w.put(comma)
        record.withValueBytes { writeBytes($0, into: &w) }
        w.put(comma)
        if !record.hasHeaders {
            w.put(literal: "[]")
        } else {
            // The JSON array, then as one CSV field (it always holds quotes).
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: RecordJSON.headersBound(record)) {
                scratch in
                var json = RawWriter(scratch)
                RecordJSON.writeHeaders(of: record, into: &json)
                writeQuoted(UnsafeRawBufferPointer(start: json.start, count: json.count), into: &w)
            }
        }
        w.put(literal: "\r\n")
    }

    static let comma = UInt8(ascii: ",")
    static let quote = UInt8(ascii: "\"")

    /// A text field quoted with every quote doubled, its encoding field, and the comma between.
    static func fieldBound(_ count: Int?) -> Int { 2 * (count ?? 0) + 2 + 8 }

    /// The text field and its encoding field: `text,utf8`, `base64text,base64`, or `,` for null.
    static func writeBytes(_ bytes: UnsafeRawBufferPointer?, into w: inout RawWriter) {
        guard let raw = bytes else {
            w.put(comma)
            return
        }
        do {
            switch scan(raw) {
            case .plainUTF8:
                w.put(raw)
                w.put(literal: ",utf8")
            case .quotedUTF8:
                writeQuoted(raw, into: &w)
                w.put(literal: ",utf8")
            case .notUTF8:
                // The base64 alphabet holds no character that needs quoting.
                w.put(base64: raw)
                w.put(literal: ",base64")
            }
        }
    }

    enum FieldKind { case plainUTF8, quotedUTF8, notUTF8 }

    /// One pass: is it UTF-8, and does it hold `,`, `"`, CR or LF (RFC 4180: then it is quoted)?
    /// Measured against a single pass that writes while it scans: two passes are faster, since
    /// the copy then stops only at quotes, not at commas too.
    static func scan(_ text: UnsafeRawBufferPointer) -> FieldKind {
        var needsQuotes = false
        var index = 0
        let count = text.count
        while index < count {
            if count - index >= 8 {
                let word = text.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                if word & TextBytes.highBits == 0 {
                    if !needsQuotes { needsQuotes = specialBytes(word) != 0 }
                    index += 8
                    continue
                }
            }
            let byte = text[index]
            if byte >= 0x80 {
                guard let length = TextBytes.sequenceLength(text, at: index) else { return .notUTF8 }
                index += length
            } else {
                if byte == comma || byte == quote || byte == 0x0A || byte == 0x0D { needsQuotes = true }
                index += 1
            }
        }
        return needsQuotes ? .quotedUTF8 : .plainUTF8
    }

    /// The high bit of each of eight bytes that is `,`, `"`, LF or CR.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        TextBytes.bytesEqual(word, comma) | TextBytes.bytesEqual(word, quote) | TextBytes.bytesEqual(word, 0x0A)
            | TextBytes.bytesEqual(word, 0x0D)
    }

    /// `"…"` with every quote doubled. Bytes before the next quote go eight at a time; the bound
    /// (twice the text) leaves room for a whole word.
    static func writeQuoted(_ text: UnsafeRawBufferPointer, into w: inout RawWriter) {
        w.put(quote)
        var index = 0
        let count = text.count
        while index < count {
            if count - index >= 8 {
                let word = text.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let plainCount = TextBytes.bytesEqual(word, quote).trailingZeroBitCount / 8
                if plainCount > 0 {
                    w.put(word: word, keeping: plainCount)
                    index += plainCount
                    continue
                }
            }
            let byte = text[index]
            w.put(byte)
            if byte == quote { w.put(quote) }
            index += 1
        }
        w.put(quote)
    }
}
