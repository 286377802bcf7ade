import Foundation

/// One element of a parsed S3 XML document: name, child elements and the text directly inside.
/// Attributes and namespaces are dropped: S3 answers carry their data in element text.
struct S3XMLElement: Sendable, Equatable {
    var name: String
    var children: [S3XMLElement] = []
    var text: String = ""

    func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }
    func children(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }
    func childText(_ name: String) -> String? { child(name)?.text }
}

/// A small, bounded XML reader for S3 responses (error bodies, ListObjectsV2, multipart and
/// DeleteObjects results). No DTDs, no external entities: nothing in a response can make it
/// fetch or expand anything.
struct S3XMLParser {
    struct Failure: Error, Sendable, CustomStringConvertible {
        var message: String
        var offset: Int
        var description: String { "bad XML at byte \(offset): \(message)" }
    }

    static let depthMax = 32

    private let bytes: [UInt8]
    private var index = 0

    /// Parses `bytes` and returns the root element. Throws `Failure` on malformed input.
    static func parse(_ bytes: [UInt8]) throws -> S3XMLElement {
        var parser = S3XMLParser(bytes: bytes)
        try parser.skipProlog()
        return try parser.element(depth: 0)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ message: String) -> Failure { Failure(message: message, offset: index) }

    private func starts(with text: String) -> Bool {
        var cursor = index
        for byte in text.utf8 {
            guard cursor < bytes.count, bytes[cursor] == byte else { return false }
            cursor += 1
        }
        return true
    }

    private mutating func skip(past terminator: String) throws {
        while index < bytes.count {
            if starts(with: terminator) {
                index += terminator.utf8.count
                return
            }
            index += 1
        }
        throw fail("unterminated, expected \(terminator)")
    }

    private mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    /// Skips `<?xml …?>`, comments and a DOCTYPE line before the root element.
    private mutating func skipProlog() throws {
        while true {
            skipSpace()
            if starts(with: "<?") {
                try skip(past: "?>")
            } else if starts(with: "<!--") {
                try skip(past: "-->")
            } else if starts(with: "<!") {
                try skip(past: ">")
            } else {
                return
            }
        }
    }

    private mutating func name() throws -> String {
        let start = index
        while index < bytes.count, !" \t\r\n/>".utf8.contains(bytes[index]) { index += 1 }
        guard index > start else { throw fail("empty element name") }
        return String(decoding: bytes[start ..< index], as: UTF8.self)
    }

    /// Reads attributes up to `>` or `/>`; returns true for a self-closing tag.
    private mutating func skipAttributes() throws -> Bool {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: ">"):
                index += 1
                return false
            case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: ">"):
                index += 2
                return true
            case UInt8(ascii: "\""):
                index += 1
                try skip(past: "\"")
            case UInt8(ascii: "'"):
                index += 1
                try skip(past: "'")
            default:
                index += 1
            }
        }
        throw fail("unterminated tag")
    }

    private mutating func element(depth: Int) throws -> S3XMLElement {
        guard depth < S3XMLParser.depthMax else { throw fail("nested deeper than \(S3XMLParser.depthMax)") }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else { throw fail("expected '<'") }
        index += 1
        var element = S3XMLElement(name: try name())
        if try skipAttributes() { return element }
        // Entities are decoded per run of character data; CDATA is taken verbatim.
        var text = ""
        var raw = [UInt8]()
        while true {
            guard index < bytes.count else { throw fail("unclosed <\(element.name)>") }
            if bytes[index] != UInt8(ascii: "<") {
                raw.append(bytes[index])
                index += 1
            } else if starts(with: "</") {
                index += 2
                guard try name() == element.name else { throw fail("mismatched close of <\(element.name)>") }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { throw fail("expected '>'") }
                index += 1
                element.text = try text + S3XMLParser.decodeEntities(raw)
                return element
            } else if starts(with: "<![CDATA[") {
                index += 9
                let start = index
                try skip(past: "]]>")
                text +=
                    try S3XMLParser.decodeEntities(raw) + String(decoding: bytes[start ..< index - 3], as: UTF8.self)
                raw.removeAll()
            } else if starts(with: "<!--") || starts(with: "<?") {
                try skip(past: starts(with: "<?") ? "?>" : "-->")
            } else {
                element.children.append(try self.element(depth: depth + 1))
            }
        }
    }

    /// Replaces the five predefined entities and numeric character references.
    static func decodeEntities(_ raw: [UInt8]) throws -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        // Bytes, not Characters: ";" followed by a combining mark is one Character that is not
        // ";" (tools/fuzz s3xml). ASCII bytes never occur inside a multi-byte UTF-8 sequence.
        var out = ""
        var rest = raw[...]
        while let amp = rest.firstIndex(of: UInt8(ascii: "&")) {
            out += String(decoding: rest[..<amp], as: UTF8.self)
            guard let semi = rest[amp...].firstIndex(of: UInt8(ascii: ";")) else {
                throw Failure(message: "unterminated entity", offset: 0)
            }
            out += try entity(String(decoding: rest[(amp + 1) ..< semi], as: UTF8.self))
            rest = rest[(semi + 1)...]
        }
        return out + String(decoding: rest, as: UTF8.self)
    }

    private static func entity(_ name: String) throws -> String {
        switch name {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        default:
            let number: UInt32? =
                name.hasPrefix("#x")
                ? UInt32(name.dropFirst(2), radix: 16)
                : name.hasPrefix("#") ? UInt32(name.dropFirst(1)) : nil
            guard let number, let scalar = Unicode.Scalar(number) else {
                throw Failure(message: "unknown entity &\(name);", offset: 0)
            }
            return String(Character(scalar))
        }
    }

    /// Escapes text for an element body we send (DeleteObjects keys, ETags).
    static func escape(_ text: String) -> String {
        // Scalars, not Characters: "<" followed by a combining mark is one Character that is
        // not "<", and went out unescaped (tools/fuzz s3xml).
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&apos;".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
