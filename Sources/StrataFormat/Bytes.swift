/// Appends little-endian integers and Kafka-style varints to a byte array.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    @inlinable public mutating func u8(_ v: UInt8) { bytes.append(v) }
    @inlinable public mutating func u16(_ v: UInt16) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    @inlinable public mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    @inlinable public mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    @inlinable public mutating func i16(_ v: Int16) { u16(UInt16(bitPattern: v)) }
    @inlinable public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    @inlinable public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    @inlinable public mutating func raw<C: Collection>(_ v: C) where C.Element == UInt8 { bytes.append(contentsOf: v) }

    /// Unsigned LEB128 varint.
    @inlinable public mutating func uvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zigzag-encoded signed varint (Kafka's varint/varlong).
    @inlinable public mutating func varint(_ v: Int64) {
        uvarint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    /// Overwrites 4 bytes at `position` (used to patch lengths and checksums).
    public mutating func patchU32(_ v: UInt32, at position: Int) {
        let le = v.littleEndian
        withUnsafeBytes(of: le) { src in
            for i in 0 ..< 4 { bytes[position + i] = src[i] }
        }
    }
}

/// Reads little-endian integers and varints from a buffer, reporting every failure as a
/// `FormatError` that names the field and the absolute byte position.
public struct ByteReader {
    public let buffer: UnsafeRawBufferPointer
    /// Current position, relative to `buffer`.
    public var position: Int
    /// Added to positions in errors, so they name bytes of the enclosing file.
    public let basePosition: Int

    public init(_ buffer: UnsafeRawBufferPointer, position: Int = 0, basePosition: Int = 0) {
        self.buffer = buffer
        self.position = position
        self.basePosition = basePosition
    }

    public var remaining: Int { buffer.count - position }
    public var absolutePosition: Int { basePosition + position }

    @inlinable
    mutating func need(_ n: Int, _ field: String) throws(FormatError) {
        if n > buffer.count - position {
            throw FormatError(
                .truncated, field: field, position: basePosition + position,
                "needs \(n) bytes, \(buffer.count - position) left")
        }
    }

    @inlinable
    mutating func fixed<T: FixedWidthInteger>(_ type: T.Type, _ field: String) throws(FormatError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, field)
        let v = buffer.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: v)
    }

    public mutating func u8(_ field: String) throws(FormatError) -> UInt8 { try fixed(UInt8.self, field) }
    public mutating func u16(_ field: String) throws(FormatError) -> UInt16 { try fixed(UInt16.self, field) }
    public mutating func u32(_ field: String) throws(FormatError) -> UInt32 { try fixed(UInt32.self, field) }
    public mutating func u64(_ field: String) throws(FormatError) -> UInt64 { try fixed(UInt64.self, field) }
    public mutating func i16(_ field: String) throws(FormatError) -> Int16 { try fixed(Int16.self, field) }
    public mutating func i32(_ field: String) throws(FormatError) -> Int32 { try fixed(Int32.self, field) }
    public mutating func i64(_ field: String) throws(FormatError) -> Int64 { try fixed(Int64.self, field) }

    /// Unsigned LEB128 varint of at most 10 bytes.
    public mutating func uvarint(_ field: String) throws(FormatError) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < buffer.count else {
                throw FormatError(.truncated, field: field, position: basePosition + start, "varint runs past the end")
            }
            let byte = buffer[position]
            position += 1
            if shift == 63 && byte > 1 {
                throw FormatError(
                    .invalidValue, field: field, position: basePosition + start, "varint overflows 64 bits")
            }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Zigzag signed varint.
    public mutating func varint(_ field: String) throws(FormatError) -> Int64 {
        // One byte is the common case (record deltas, short lengths): no loop, no error path.
        if position < buffer.count, case let byte = buffer[position], byte < 0x80 {
            position += 1
            return Int64(byte >> 1) ^ -Int64(byte & 1)
        }
        let u = try uvarint(field)
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// Zigzag varint that must fit in Int32 (Kafka's `varint`, used for lengths and deltas).
    public mutating func varint32(_ field: String) throws(FormatError) -> Int32 {
        if position < buffer.count, case let byte = buffer[position], byte < 0x80 {
            position += 1
            return Int32(byte >> 1) ^ -Int32(byte & 1)
        }
        let start = absolutePosition
        let v = try varint(field)
        guard let narrow = Int32(exactly: v) else {
            throw FormatError(.outOfBounds, field: field, position: start, "\(v) does not fit in 32 bits")
        }
        return narrow
    }

    /// `count` raw bytes; the bound is checked before anything is allocated.
    public mutating func bytes(_ count: Int, _ field: String) throws(FormatError) -> [UInt8] {
        try need(count, field)
        let slice = UnsafeRawBufferPointer(rebasing: buffer[position ..< (position + count)])
        position += count
        return [UInt8](slice)
    }

    public mutating func skip(_ count: Int, _ field: String) throws(FormatError) {
        try need(count, field)
        position += count
    }

    public func error(
        _ code: FormatError.Code, _ field: String, at relative: Int? = nil, _ message: String
    ) -> FormatError {
        FormatError(code, field: field, position: basePosition + (relative ?? position), message)
    }
}

/// Runs a typed-throwing body over the bytes of an array (`withUnsafeBytes` only rethrows
/// untyped errors).
public func withBytes<T>(
    _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(FormatError) -> T
) throws(FormatError) -> T {
    let result: Result<T, FormatError> = bytes.withUnsafeBytes { raw in
        do throws(FormatError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// Bytes and numbers as text for people (error messages, `inspect` dumps, CLI output): the one
/// place they are formatted. Bytes inside JSON documents are `BytesDescription`.
public enum ByteText {
    /// `value` as 8 lowercase hex digits, zero padded: `0000002a` (CRCs, magic numbers).
    public static func hex32(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// One value on a line of text: valid UTF-8 as a quoted string literal, anything else as
    /// `base64:…` (the choice `BytesDescription` makes), nil as `null`.
    public static func quoted(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "null" }
        switch BytesDescription(bytes) {
        case .utf8(let text): return String(reflecting: text)
        case .base64(let text): return "base64:" + text
        }
    }
}

/// `ByteText.hex32`, spelled short for the decoders' error messages.
@inline(__always) func hex(_ value: UInt32) -> String { ByteText.hex32(value) }
