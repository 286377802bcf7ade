/// A small JSON reader over bytes (RFC 8259) for value schemas and record values: no
/// Foundation, nesting bounded by `depthMax`, strings checked to be UTF-8. Record values are
/// scanned, not built into trees: members the schema does not name are skipped in place.
/// formats/table.md, "Typed value columns".
struct TableJSONScanner {
    /// Arrays and objects nest at most this deep; deeper input is not JSON to this reader.
    static let depthMax = 64

    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The next byte after whitespace, not consumed.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Consumes `byte` (after whitespace) when it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    /// Consumes the literal (`true`, `false`, `null`) when it is next.
    mutating func consume(literal: StaticString) -> Bool {
        skipWhitespace()
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let matches = literal.withUTF8Buffer { text in
            for i in 0 ..< count where bytes[index + i] != text[i] { return false }
            return true
        }
        if matches { index += count }
        return matches
    }

    /// A string (the opening quote next, after whitespace), escapes decoded; nil when it is not
    /// a well-formed JSON string of valid UTF-8.
    mutating func string() -> String? {
        guard let range = plainString() else { return slowString() }
        return range.isEmpty ? "" : String(validating: bytes[range], as: UTF8.self)
    }

    /// The bytes between the quotes of a string with no escape (the common case), consumed;
    /// nil, consuming nothing, when the next value is not such a string.
    mutating func plainString() -> Range<Int>? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        var i = index + 1
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") {
                defer { index = i + 1 }
                return index + 1 ..< i
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            i += 1
        }
        return nil
    }

    /// Skips a string, checked as `string()` checks it, without building it when it has no escape.
    mutating func skipString() -> Bool {
        guard let range = plainString() else { return slowString() != nil }
        return bytes[range].allSatisfy { $0 < 0x80 } || String(validating: bytes[range], as: UTF8.self) != nil
    }

    mutating func slowString() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        var out: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800 ..< 0xDC00).contains(scalar) {
                        // A high surrogate must be followed by an escaped low one.
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00 ..< 0xE000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let s = Unicode.Scalar(scalar) else { return nil }
                    UTF8.encode(s) { out.append($0) }
                default: return nil
                }
            case 0x00 ..< 0x20: return nil
            default: out.append(byte)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard bytes.count - index >= 4 else { return nil }
        var v: UInt32 = 0
        for _ in 0 ..< 4 {
            let c = bytes[index]
            index += 1
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): v = v << 4 | UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): v = v << 4 | UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): v = v << 4 | UInt32(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        return v
    }

    /// A number token as JSON's grammar has it, and whether it is an integer (no fraction, no
    /// exponent); nil when no number is next.
    mutating func number() -> (text: String, isInteger: Bool)? {
        guard let (range, isInteger) = numberRange() else { return nil }
        // The token is ASCII by construction.
        return (String(decoding: bytes[range], as: UTF8.self), isInteger)
    }

    /// An integer token (no fraction, no exponent) that fits 64 bits, read without building text.
    mutating func integer() -> Int64? {
        let start = index
        guard let (range, isInteger) = numberRange(), isInteger else {
            index = start
            return nil
        }
        let negative = bytes[range.lowerBound] == UInt8(ascii: "-")
        var v: Int64 = 0
        for c in bytes[(negative ? range.lowerBound + 1 : range.lowerBound) ..< range.upperBound] {
            // Accumulate negatively so Int64.min fits.
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (d, o2) = m.subtractingReportingOverflow(Int64(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            v = d
        }
        if negative { return v }
        guard v != .min else { return nil }
        return -v
    }

    mutating func numberRange() -> (range: Range<Int>, isInteger: Bool)? {
        skipWhitespace()
        let start = index
        func digits() -> Int {
            let from = index
            while index < bytes.count, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits()
        // No leading zeros: `0` alone, or a digit 1–9 first.
        guard integerDigits > 0, integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
            index = start
            return nil
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            isInteger = false
            guard digits() > 0 else {
                index = start
                return nil
            }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            isInteger = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else {
                index = start
                return nil
            }
        }
        return (start ..< index, isInteger)
    }

    /// Skips one value of any type; false when it is not well-formed or nests deeper than `depthMax`.
    mutating func skipValue(depth: Int = 0) -> Bool {
        guard depth < Self.depthMax, let next = peek() else { return false }
        switch next {
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "{"):
            index += 1
            if consume(UInt8(ascii: "}")) { return true }
            repeat {
                guard skipString(), consume(UInt8(ascii: ":")), skipValue(depth: depth + 1) else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            index += 1
            if consume(UInt8(ascii: "]")) { return true }
            repeat {
                guard skipValue(depth: depth + 1) else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): return consume(literal: "true")
        case UInt8(ascii: "f"): return consume(literal: "false")
        case UInt8(ascii: "n"): return consume(literal: "null")
        default: return numberRange() != nil
        }
    }

    /// A whole value as a tree (for the value schema's text, which is small); nil when not JSON.
    mutating func node(depth: Int = 0) -> TableJSONNode? {
        guard depth < Self.depthMax, let next = peek() else { return nil }
        switch next {
        case UInt8(ascii: "\""): return string().map(TableJSONNode.string)
        case UInt8(ascii: "{"):
            index += 1
            var members: [(String, TableJSONNode)] = []
            if consume(UInt8(ascii: "}")) { return .object(members) }
            repeat {
                guard let key = string(), consume(UInt8(ascii: ":")), let value = node(depth: depth + 1) else {
                    return nil
                }
                members.append((key, value))
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}")) ? .object(members) : nil
        case UInt8(ascii: "["):
            index += 1
            var items: [TableJSONNode] = []
            if consume(UInt8(ascii: "]")) { return .array(items) }
            repeat {
                guard let item = node(depth: depth + 1) else { return nil }
                items.append(item)
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "]")) ? .array(items) : nil
        case UInt8(ascii: "t"): return consume(literal: "true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return consume(literal: "false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return consume(literal: "null") ? .null : nil
        default: return number().map { .number($0.text, isInteger: $0.isInteger) }
        }
    }
}

/// A parsed JSON value; object members keep their order (duplicates are the caller's concern).
indirect enum TableJSONNode: Sendable {
    case null
    case bool(Bool)
    case number(String, isInteger: Bool)
    case string(String)
    case array([TableJSONNode])
    case object([(String, TableJSONNode)])

    /// Parses a whole document; nil when it is not exactly one JSON value.
    static func parse(_ bytes: [UInt8]) -> TableJSONNode? {
        var scanner = TableJSONScanner(bytes)
        guard let node = scanner.node() else { return nil }
        scanner.skipWhitespace()
        return scanner.atEnd ? node : nil
    }

    subscript(key: String) -> TableJSONNode? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }
}
