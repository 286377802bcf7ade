import StrataFormat

/// A JSON value with object keys kept in the order they were given, so the metadata files and
/// Avro schemas the project writes are the same bytes on every run.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// Integers only: Iceberg metadata and Avro schemas hold no fractions.
    case int(Int64)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value of `key` in an object (the first, should it repeat), else nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// Compact JSON (no spaces), as Avro schemas in container headers are written.
    public var compact: String {
        var out = ""
        write(into: &out, indent: nil, depth: 0)
        return out
    }

    /// JSON indented by two spaces, one member per line, for the files people open (metadata JSON).
    public var pretty: String {
        var out = ""
        write(into: &out, indent: "  ", depth: 0)
        return out + "\n"
    }

    func write(into out: inout String, indent: String?, depth: Int) {
        func newline(_ d: Int) {
            guard let indent else { return }
            out += "\n" + String(repeating: indent, count: d)
        }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .string(let s): JSONValue.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                newline(depth + 1)
                item.write(into: &out, indent: indent, depth: depth + 1)
            }
            newline(depth)
            out += "]"
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                newline(depth + 1)
                JSONValue.quote(key, into: &out)
                out += indent == nil ? ":" : ": "
                value.write(into: &out, indent: indent, depth: depth + 1)
            }
            newline(depth)
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String) { JSONString.append(s, to: &out) }

    /// Parses JSON text (as found in an Avro header or a metadata file): nesting is bounded by 64,
    /// numbers must be integers that fit 64 bits; every failure names the byte position.
    public static func parse(_ bytes: [UInt8], field: String) throws(IcebergError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, field: field)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.position == bytes.count else { throw parser.error("trailing bytes after the JSON value") }
        return value
    }
}

struct JSONParser {
    let bytes: [UInt8]
    let field: String
    var position = 0

    init(bytes: [UInt8], field: String) {
        self.bytes = bytes
        self.field = field
    }

    func error(_ message: String, _ code: IcebergError.Code = .invalidValue) -> IcebergError {
        IcebergError(code, field: field, position: position, message)
    }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func expect(_ literal: String) throws(IcebergError) {
        for b in literal.utf8 {
            guard position < bytes.count else { throw error("ends inside \(literal)", .truncated) }
            guard bytes[position] == b else { throw error("expected \(literal)") }
            position += 1
        }
    }

    mutating func value(depth: Int) throws(IcebergError) -> JSONValue {
        guard depth < 64 else { throw error("nesting deeper than 64", .outOfBounds) }
        guard position < bytes.count else { throw error("ends where a value should start", .truncated) }
        switch bytes[position] {
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            position += 1
            var items: [JSONValue] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard position < bytes.count else { throw error("ends inside an array", .truncated) }
                let b = bytes[position]
                position += 1
                if b == UInt8(ascii: "]") { return .array(items) }
                guard b == UInt8(ascii: ",") else { throw error("expected , or ] in an array") }
            }
        case UInt8(ascii: "{"):
            position += 1
            var members: [(String, JSONValue)] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw error("expected a member name", position < bytes.count ? .invalidValue : .truncated)
                }
                let key = try string()
                skipSpace()
                try expect(":")
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard position < bytes.count else { throw error("ends inside an object", .truncated) }
                let b = bytes[position]
                position += 1
                if b == UInt8(ascii: "}") { return .object(members) }
                guard b == UInt8(ascii: ",") else { throw error("expected , or } in an object") }
            }
        default: return try number()
        }
    }

    mutating func number() throws(IcebergError) -> JSONValue {
        let start = position
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        while position < bytes.count, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(bytes[position]) {
            position += 1
        }
        let text = String(decoding: bytes[start ..< position], as: UTF8.self)
        if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
            position = start
            throw error("only integers are expected here", .unsupported)
        }
        guard let value = Int64(text) else {
            position = start
            throw error("not a JSON value or an integer beyond 64 bits")
        }
        return .int(value)
    }

    mutating func string() throws(IcebergError) -> String {
        position += 1  // the opening quote
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush() throws(IcebergError) {
            guard let text = String(validating: run, as: UTF8.self) else { throw error("a string is not UTF-8") }
            scalars.append(contentsOf: text.unicodeScalars)
            run.removeAll(keepingCapacity: true)
        }
        while true {
            guard position < bytes.count else { throw error("ends inside a string", .truncated) }
            let b = bytes[position]
            position += 1
            switch b {
            case UInt8(ascii: "\""):
                try flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                try flush()
                guard position < bytes.count else { throw error("ends inside an escape", .truncated) }
                let e = bytes[position]
                position += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800 ..< 0xDC00).contains(code) {
                        try expect("\\u")
                        let low = try hex4()
                        guard (0xDC00 ..< 0xE000).contains(low) else { throw error("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                    scalars.append(scalar)
                default: throw error("invalid escape")
                }
            case 0 ..< 0x20: throw error("control character inside a string")
            default: run.append(b)
            }
        }
    }

    mutating func hex4() throws(IcebergError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("ends inside a \\u escape", .truncated) }
        guard let code = UInt32(String(decoding: bytes[position ..< position + 4], as: UTF8.self), radix: 16) else {
            throw error("invalid \\u escape")
        }
        position += 4
        return code
    }
}
