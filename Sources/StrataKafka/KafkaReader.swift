/// Reads Kafka's big-endian primitives from a byte array. Every read is bounds-checked and a
/// failure is a `KafkaDecodeError` naming the field (with its path in the message) and the byte
/// position; nothing traps on hostile input, and no allocation is larger than the bytes present.
public struct KafkaReader: Sendable {
    public let bytes: [UInt8]
    /// Next byte to read.
    public private(set) var position: Int
    /// Reads stop here: the end of the input, or of a tagged field being decoded.
    public private(set) var limit: Int
    /// Names of the structures being decoded, outermost first, for error messages.
    private var path: [String] = []

    /// A reader over `bytes[position..<limit]` (`limit` defaults to the end).
    public init(_ bytes: [UInt8], position: Int = 0, limit: Int? = nil) {
        self.bytes = bytes
        self.position = max(0, min(position, bytes.count))
        self.limit = max(self.position, min(limit ?? bytes.count, bytes.count))
    }

    public var remaining: Int { limit - position }
    public var isAtEnd: Bool { position >= limit }

    // MARK: - Paths and errors

    /// Runs `body` with `name` appended to the path that errors report.
    public mutating func within<T>(
        _ name: String, _ body: (inout KafkaReader) throws(KafkaDecodeError) -> T
    ) throws(KafkaDecodeError) -> T {
        path.append(name)
        defer { path.removeLast() }
        return try body(&self)
    }

    /// The dotted path of `field` inside the structures being decoded.
    public func fieldPath(_ field: String) -> String {
        guard !path.isEmpty else { return field }
        var joined = path[0]
        for part in path.dropFirst() {
            if part.first != "[" { joined += "." }
            joined += part
        }
        return field.isEmpty ? joined : (field.first == "[" ? joined + field : joined + "." + field)
    }

    public func error(
        _ code: KafkaDecodeError.Code, _ field: String, at position: Int? = nil, _ message: String
    ) -> KafkaDecodeError {
        KafkaDecodeError(code, field: fieldPath(field), position: position ?? self.position, message)
    }

    /// Runs `body` over the next `count` bytes only; the reader then sits after them.
    /// - Throws: `.truncated` when fewer than `count` bytes are left; `.trailingBytes` when
    ///   `body` leaves some of them unread (a tagged field longer than its value).
    mutating func bounded<T>(
        _ count: Int, _ field: String, _ body: (inout KafkaReader) throws(KafkaDecodeError) -> T
    ) throws(KafkaDecodeError) -> T {
        try need(count, field)
        let savedLimit = limit
        let end = position + count
        limit = end
        defer { limit = savedLimit }
        let value = try body(&self)
        guard position == end else {
            throw error(.trailingBytes, field, "\(end - position) bytes left inside the field's \(count)")
        }
        return value
    }

    @inline(__always)
    mutating func need(_ count: Int, _ field: String) throws(KafkaDecodeError) {
        guard count >= 0, count <= limit - position else {
            throw error(.truncated, field, "needs \(count) bytes, \(limit - position) left")
        }
    }

    // MARK: - Fixed-width integers (big-endian)

    @inline(__always)
    mutating func fixed<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(KafkaDecodeError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, field)
        var value: T = 0
        for index in position ..< (position + size) { value = (value << 8) | T(truncatingIfNeeded: bytes[index]) }
        position += size
        return value
    }

    public mutating func int8(_ field: String) throws(KafkaDecodeError) -> Int8 {
        Int8(bitPattern: try fixed(UInt8.self, field))
    }
    public mutating func int16(_ field: String) throws(KafkaDecodeError) -> Int16 {
        Int16(bitPattern: try fixed(UInt16.self, field))
    }
    public mutating func int32(_ field: String) throws(KafkaDecodeError) -> Int32 {
        Int32(bitPattern: try fixed(UInt32.self, field))
    }
    public mutating func int64(_ field: String) throws(KafkaDecodeError) -> Int64 {
        Int64(bitPattern: try fixed(UInt64.self, field))
    }
    public mutating func uint16(_ field: String) throws(KafkaDecodeError) -> UInt16 { try fixed(UInt16.self, field) }
    public mutating func uint32(_ field: String) throws(KafkaDecodeError) -> UInt32 { try fixed(UInt32.self, field) }

    /// Kafka's boolean: one byte, non-zero is true (as the Java reader does).
    public mutating func bool(_ field: String) throws(KafkaDecodeError) -> Bool { try fixed(UInt8.self, field) != 0 }

    public mutating func float64(_ field: String) throws(KafkaDecodeError) -> Double {
        Double(bitPattern: try fixed(UInt64.self, field))
    }

    /// 16 raw bytes.
    public mutating func uuid(_ field: String) throws(KafkaDecodeError) -> KafkaUUID {
        try need(16, field)
        let value = KafkaUUID(bytes: Array(bytes[position ..< (position + 16)]))
        position += 16
        return value
    }

    // MARK: - Varints

    /// Unsigned LEB128 of a 32-bit value (at most 5 bytes) or, `wide`, a 64-bit one (10 bytes).
    public mutating func unsignedVarint(_ field: String, wide: Bool = false) throws(KafkaDecodeError) -> UInt64 {
        let start = position
        let maxBytes = wide ? 10 : 5
        let widthBits: UInt64 = wide ? 64 : 32
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for index in 0 ..< maxBytes {
            guard position < limit else { throw error(.truncated, field, at: start, "varint runs past the end") }
            let byte = bytes[position]
            position += 1
            let payload = UInt64(byte & 0x7f)
            // The last byte may carry only the bits the width has left (4 for 32, 1 for 64).
            if index == maxBytes - 1, payload >> (widthBits - shift) != 0 {
                throw error(.invalidValue, field, at: start, "varint overflows \(widthBits) bits")
            }
            value |= payload << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw error(.invalidValue, field, at: start, "varint longer than \(maxBytes) bytes")
    }

    /// Zigzag varint that fits in 32 bits (Kafka's `varint`).
    public mutating func varint(_ field: String) throws(KafkaDecodeError) -> Int32 {
        let u = UInt32(truncatingIfNeeded: try unsignedVarint(field))
        return Int32(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// Zigzag varint of 64 bits (Kafka's `varlong`).
    public mutating func varlong(_ field: String) throws(KafkaDecodeError) -> Int64 {
        let u = try unsignedVarint(field, wide: true)
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    // MARK: - Lengths, strings and bytes

    /// A length prefix: classic `int16`/`int32` (`-1` = null) or compact unsigned varint of
    /// `length + 1` (`0` = null). Returns nil for null. The length is checked against the bytes
    /// left, so a caller may allocate it.
    mutating func length(_ field: String, compact: Bool, wide: Bool) throws(KafkaDecodeError) -> Int? {
        let start = position
        let length: Int
        if compact {
            let raw = try unsignedVarint(field)
            if raw == 0 { return nil }
            length = Int(raw - 1)
        } else {
            length = wide ? Int(try int32(field)) : Int(try int16(field))
            if length == -1 { return nil }
        }
        guard length >= 0, length <= limit - position else {
            throw error(.outOfBounds, field, at: start, "length \(length) outside [0, \(limit - position)]")
        }
        return length
    }

    /// A UTF-8 string; nil when the wire says null. `nullable` false turns null into an error.
    public mutating func string(_ field: String, compact: Bool, nullable: Bool) throws(KafkaDecodeError) -> String? {
        let start = position
        guard let count = try length(field, compact: compact, wide: false) else {
            guard nullable else { throw error(.invalidValue, field, at: start, "null where a string is required") }
            return nil
        }
        // Compact lengths could say more; Kafka strings hold at most 32767 bytes either way.
        guard count <= Int(Int16.max) else {
            throw error(.outOfBounds, field, at: start, "string of \(count) bytes; at most 32767")
        }
        let slice = bytes[position ..< (position + count)]
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw error(.invalidValue, field, at: start, "string is not UTF-8")
        }
        position += count
        return text
    }

    /// Raw bytes; nil when the wire says null. `nullable` false turns null into an error.
    public mutating func bytes(_ field: String, compact: Bool, nullable: Bool) throws(KafkaDecodeError) -> [UInt8]? {
        let start = position
        guard let count = try length(field, compact: compact, wide: true) else {
            guard nullable else { throw error(.invalidValue, field, at: start, "null where bytes are required") }
            return nil
        }
        let value = Array(bytes[position ..< (position + count)])
        position += count
        return value
    }

    /// An array's element count; nil for a null array. The count is bounded by the bytes left
    /// divided by `elementBytesMin`, so a hostile count cannot make the caller allocate.
    public mutating func arrayCount(
        _ field: String, compact: Bool, nullable: Bool, elementBytesMin: Int
    ) throws(KafkaDecodeError) -> Int? {
        let start = position
        let count: Int
        if compact {
            let raw = try unsignedVarint(field)
            if raw == 0 {
                guard nullable else { throw error(.invalidValue, field, at: start, "null where an array is required") }
                return nil
            }
            count = Int(raw - 1)
        } else {
            count = Int(try int32(field))
            if count == -1 {
                guard nullable else { throw error(.invalidValue, field, at: start, "null where an array is required") }
                return nil
            }
        }
        let most = (limit - position) / max(1, elementBytesMin)
        guard count >= 0, count <= most else {
            throw error(.outOfBounds, field, at: start, "\(count) elements cannot fit in \(limit - position) bytes")
        }
        return count
    }

    /// Skips `count` bytes.
    public mutating func skip(_ count: Int, _ field: String) throws(KafkaDecodeError) {
        try need(count, field)
        position += count
    }

    /// Reads `count` raw bytes.
    public mutating func raw(_ count: Int, _ field: String) throws(KafkaDecodeError) -> [UInt8] {
        try need(count, field)
        let value = Array(bytes[position ..< (position + count)])
        position += count
        return value
    }
}

/// A Kafka UUID: 16 bytes, all zero meaning "none".
public struct KafkaUUID: Sendable, Hashable, CustomStringConvertible {
    public var bytes: [UInt8]

    /// The all-zero UUID Kafka uses for "no topic id".
    public static let zero = KafkaUUID(bytes: [UInt8](repeating: 0, count: 16))

    /// `bytes` must hold 16 bytes; shorter input is padded with zeros, longer is cut.
    public init(bytes: [UInt8]) {
        var fixed = Array(bytes.prefix(16))
        fixed += [UInt8](repeating: 0, count: 16 - fixed.count)
        self.bytes = fixed
    }

    public var description: String {
        let digits = Array("0123456789abcdef")
        var text = ""
        for (index, byte) in bytes.enumerated() {
            if [4, 6, 8, 10].contains(index) { text.append("-") }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return text
    }
}
