/// One typed column's value in one row, as stored (formats/table.md, "Typed value columns").
public enum TableTypedValue: Sendable, Equatable {
    case null
    case boolean(Bool)
    case int(Int32)
    case long(Int64)
    case float(Float)
    case double(Double)
    case string(String)
    /// Days since 1970-01-01.
    case date(Int32)
    /// Microseconds since 1970-01-01T00:00:00 (UTC for `timestamptz`).
    case timestamp(Int64)
    case binary([UInt8])
    /// The unscaled value: 12.34 in decimal(9,2) is 1234.
    case decimal(Int64)
}

extension TableValueSchema {
    /// The schema's fields read from a record's value, in schema order (`.null` where absent or
    /// null); nil when the value does not match: it is not one JSON object, a field of the
    /// schema appears twice or holds a value its type does not read, or a required field is
    /// absent or null. Members the schema does not name are skipped (checked to be JSON).
    public func extract(_ value: [UInt8]) -> [TableTypedValue]? {
        var scanner = TableJSONScanner(value)
        guard scanner.consume(UInt8(ascii: "{")) else { return nil }
        var result = [TableTypedValue](repeating: .null, count: fields.count)
        var seen = [Bool](repeating: false, count: fields.count)
        if !scanner.consume(UInt8(ascii: "}")) {
            repeat {
                guard let found = key(&scanner), scanner.consume(UInt8(ascii: ":")) else { return nil }
                if let i = found {
                    guard !seen[i], let typed = Self.read(fields[i].type, &scanner) else { return nil }
                    seen[i] = true
                    result[i] = typed
                } else {
                    guard scanner.skipValue(depth: 1) else { return nil }
                }
            } while scanner.consume(UInt8(ascii: ","))
            guard scanner.consume(UInt8(ascii: "}")) else { return nil }
        }
        scanner.skipWhitespace()
        guard scanner.atEnd else { return nil }
        for (i, f) in fields.enumerated() where f.required && result[i] == .null { return nil }
        return result
    }

    /// The next member name's schema field (`.some(nil)` for a name the schema does not have):
    /// few fields are compared as bytes, many looked up by name; nil when no well-formed name is next.
    func key(_ s: inout TableJSONScanner) -> Int?? {
        if fields.count <= 16, let range = s.plainString() {
            let name = s.bytes[range]
            for (i, f) in utf8Names.enumerated() where f.elementsEqual(name) { return .some(i) }
            guard name.allSatisfy({ $0 < 0x80 }) || String(validating: name, as: UTF8.self) != nil else { return nil }
            return .some(nil)
        }
        guard let name = s.string() else { return nil }
        return .some(index[name])
    }

    /// One member's value read as `type`: `.null` for JSON null, nil when the type does not read it.
    static func read(_ type: FieldType, _ s: inout TableJSONScanner) -> TableTypedValue? {
        if s.consume(literal: "null") { return .null }
        switch type {
        case .boolean:
            if s.consume(literal: "true") { return .boolean(true) }
            return s.consume(literal: "false") ? .boolean(false) : nil
        case .int:
            guard let n = s.integer(), let v = Int32(exactly: n) else { return nil }
            return .int(v)
        case .long:
            guard let v = s.integer() else { return nil }
            return .long(v)
        case .float:
            guard let n = s.number(), let v = Float(n.text), v.isFinite else { return nil }
            return .float(v)
        case .double:
            guard let n = s.number(), let v = Double(n.text), v.isFinite else { return nil }
            return .double(v)
        case .string:
            return s.string().map(TableTypedValue.string)
        case .date:
            guard let text = s.string(), let day = TableTime.day(Array(text.utf8)) else { return nil }
            return .date(day)
        case .timestamp, .timestamptz:
            if s.peek() == UInt8(ascii: "\"") {
                guard let text = s.string(),
                    let micros = TableTime.micros(Array(text.utf8), zoned: type == .timestamptz)
                else { return nil }
                return .timestamp(micros)
            }
            guard let ms = s.integer() else { return nil }
            let (micros, overflow) = ms.multipliedReportingOverflow(by: 1000)
            return overflow ? nil : .timestamp(micros)
        case .binary:
            guard let text = s.string(), let bytes = TableBase64.decode(Array(text.utf8)) else { return nil }
            return .binary(bytes)
        case .decimal(let precision, let scale):
            let text: String
            if s.peek() == UInt8(ascii: "\"") {
                guard let t = s.string() else { return nil }
                text = t
            } else {
                guard let n = s.number() else { return nil }
                text = n.text
            }
            return TableDecimal.unscaled(Array(text.utf8), precision: precision, scale: scale).map(
                TableTypedValue.decimal)
        }
    }
}

/// Dates and times as Iceberg's JSON single values write them (ISO 8601, proleptic Gregorian).
enum TableTime {
    /// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `n` ASCII digits at `i` as a number, nil when any is not a digit.
    static func digits(_ b: [UInt8], _ i: Int, _ n: Int) -> Int64? {
        guard i >= 0, b.count - i >= n else { return nil }
        var v: Int64 = 0
        for c in b[i ..< i + n] {
            guard (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(c) else { return nil }
            v = v * 10 + Int64(c - UInt8(ascii: "0"))
        }
        return v
    }

    /// `yyyy-mm-dd` at the start of `b`: its day number and where it ends.
    static func date(_ b: [UInt8]) -> (day: Int64, end: Int)? {
        guard let y = digits(b, 0, 4), b.count > 4, b[4] == UInt8(ascii: "-"), let m = digits(b, 5, 2),
            b.count > 7, b[7] == UInt8(ascii: "-"), let d = digits(b, 8, 2), (1 ... 12).contains(m),
            (1 ... daysIn(month: m, year: y)).contains(d)
        else { return nil }
        return (days(year: y, month: m, day: d), 10)
    }

    /// A `date` value: exactly `yyyy-mm-dd`.
    static func day(_ b: [UInt8]) -> Int32? {
        guard let (day, end) = date(b), end == b.count else { return nil }
        return Int32(day)
    }

    /// `yyyy-mm-ddThh:mm:ss[.f…]` (at most 6 fraction digits: a finer value does not match
    /// rather than lose digits), then for `zoned` `Z` or `±hh:mm` / `±hhmm`, else nothing.
    static func micros(_ b: [UInt8], zoned: Bool) -> Int64? {
        guard let (day, end) = date(b), b.count > end,
            b[end] == UInt8(ascii: "T") || b[end] == UInt8(ascii: "t") || b[end] == UInt8(ascii: " "),
            let hh = digits(b, end + 1, 2), b.count > end + 3, b[end + 3] == UInt8(ascii: ":"),
            let mm = digits(b, end + 4, 2), b.count > end + 6, b[end + 6] == UInt8(ascii: ":"),
            let ss = digits(b, end + 7, 2), hh < 24, mm < 60, ss < 60
        else { return nil }
        var i = end + 9
        var fraction: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var n = 0
            while i < b.count, let d = digits(b, i, 1) {
                n += 1
                guard n <= 6 else { return nil }
                fraction = fraction * 10 + d
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in n ..< 6 { fraction *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if zoned {
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
                i += 1
            } else {
                guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), let oh = digits(b, i + 1, 2) else {
                    return nil
                }
                let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 3
                if i < b.count, b[i] == UInt8(ascii: ":") { i += 1 }
                guard let om = digits(b, i, 2), oh < 24, om < 60 else { return nil }
                i += 2
                offsetSeconds = sign * (oh * 3600 + om * 60)
            }
        }
        guard i == b.count else { return nil }
        // Four-digit years keep this far inside 64-bit microseconds.
        let seconds = day * 86_400 + hh * 3600 + mm * 60 + ss - offsetSeconds
        return seconds * 1_000_000 + fraction
    }
}

/// RFC 4648 base64, standard alphabet, padded to a multiple of 4.
enum TableBase64 {
    static func decode(_ b: [UInt8]) -> [UInt8]? {
        guard b.count % 4 == 0 else { return nil }
        func sextet(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "A") ... UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a") ... UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): return 62
            case UInt8(ascii: "/"): return 63
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(b.count / 4 * 3)
        var i = 0
        while i < b.count {
            let last = i + 4 == b.count
            let padding = last ? (b[i + 3] == UInt8(ascii: "=") ? (b[i + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
            var v: UInt32 = 0
            for j in 0 ..< 4 - padding {
                guard let s = sextet(b[i + j]) else { return nil }
                v = v << 6 | s
            }
            v <<= UInt32(6 * padding)
            out.append(UInt8(truncatingIfNeeded: v >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: v >> 8)) }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: v)) }
            i += 4
        }
        return out
    }
}

/// Decimal text (`-12.34`) as the unscaled integer of decimal(P,S), with no rounding.
enum TableDecimal {
    static func unscaled(_ b: [UInt8], precision: Int, scale: Int) -> Int64? {
        var i = 0
        let negative = b.first == UInt8(ascii: "-")
        if negative { i = 1 }
        var integer: [UInt8] = []
        var fraction: [UInt8] = []
        while i < b.count, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(b[i]) {
            integer.append(b[i])
            i += 1
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(b[i]) {
                fraction.append(b[i])
                i += 1
            }
            guard !fraction.isEmpty else { return nil }
        }
        guard i == b.count, !integer.isEmpty, fraction.count <= scale else { return nil }
        let significant = integer.drop { $0 == UInt8(ascii: "0") }
        guard significant.count + scale <= precision else { return nil }
        var v: Int64 = 0
        for c in significant + fraction + [UInt8](repeating: UInt8(ascii: "0"), count: scale - fraction.count) {
            v = v * 10 + Int64(c - UInt8(ascii: "0"))
        }
        return negative ? -v : v
    }
}
