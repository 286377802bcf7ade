// Thrift's compact protocol (the encoding of every Parquet metadata structure): a generic value
// tree, its encoder, and a bounded decoder for untrusted bytes. formats/table.md, "Thrift".

/// A compact-protocol type code as it appears in field headers and list headers.
public enum ThriftType: UInt8, Sendable {
    case boolTrue = 1
    case boolFalse = 2
    case byte = 3
    case i16 = 4
    case i32 = 5
    case i64 = 6
    case double = 7
    case binary = 8
    case list = 9
    case set = 10
    case map = 11
    case `struct` = 12
}

/// One decoded or to-be-encoded Thrift value.
public indirect enum ThriftValue: Sendable, Equatable {
    case bool(Bool)
    case byte(Int8)
    case i16(Int16)
    case i32(Int32)
    case i64(Int64)
    case double(Double)
    case binary([UInt8])
    /// A list (or a set) with its element type.
    case list(ThriftType, [ThriftValue])
    case map(key: ThriftType, value: ThriftType, [(ThriftValue, ThriftValue)])
    case `struct`(ThriftStruct)

    /// The type code of this value in a field header (`true` and `false` differ there).
    var fieldType: ThriftType {
        switch self {
        case .bool(let b): return b ? .boolTrue : .boolFalse
        case .byte: return .byte
        case .i16: return .i16
        case .i32: return .i32
        case .i64: return .i64
        case .double: return .double
        case .binary: return .binary
        case .list: return .list
        case .map: return .map
        case .struct: return .struct
        }
    }

    public static func == (lhs: ThriftValue, rhs: ThriftValue) -> Bool {
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): return a == b
        case (.byte(let a), .byte(let b)): return a == b
        case (.i16(let a), .i16(let b)): return a == b
        case (.i32(let a), .i32(let b)): return a == b
        case (.i64(let a), .i64(let b)): return a == b
        case (.double(let a), .double(let b)): return a.bitPattern == b.bitPattern
        case (.binary(let a), .binary(let b)): return a == b
        case (.list(let ta, let a), .list(let tb, let b)): return ta == tb && a == b
        case (.map(let ka, let va, let a), .map(let kb, let vb, let b)):
            return ka == kb && va == vb && a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.struct(let a), .struct(let b)): return a == b
        default: return false
        }
    }
}

/// A Thrift struct: its fields in the order written (ascending ids when we write them).
public struct ThriftStruct: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var id: Int16
        public var value: ThriftValue
        /// Byte position of the field header in the decoded input (0 for fields built in memory).
        public var position: Int

        public init(id: Int16, value: ThriftValue, position: Int = 0) {
            self.id = id
            self.value = value
            self.position = position
        }

        public static func == (lhs: Field, rhs: Field) -> Bool { lhs.id == rhs.id && lhs.value == rhs.value }
    }

    public var fields: [Field]
    /// Byte position of the struct's first field header in the decoded input.
    public var position: Int

    public init(_ fields: [Field] = [], position: Int = 0) {
        self.fields = fields
        self.position = position
    }

    /// The value of field `id`, if present (the first one when a malformed input repeats it).
    public subscript(id: Int16) -> ThriftValue? { fields.first { $0.id == id }?.value }

    /// The position of field `id`, or the struct's position when it is absent.
    func position(of id: Int16) -> Int { fields.first { $0.id == id }?.position ?? position }

    /// Appends field `id` when `value` is not nil.
    public mutating func set(_ id: Int16, _ value: ThriftValue?) {
        if let value { fields.append(Field(id: id, value: value)) }
    }

    public static func == (lhs: ThriftStruct, rhs: ThriftStruct) -> Bool { lhs.fields == rhs.fields }
}

/// Writes compact-protocol bytes.
public struct ThriftCompactWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Encodes `value` as a top-level struct.
    public static func encode(_ value: ThriftStruct) -> [UInt8] {
        var writer = ThriftCompactWriter()
        writer.writeStruct(value)
        return writer.bytes
    }

    mutating func uvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func zigzag(_ v: Int64) { uvarint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    public mutating func writeStruct(_ value: ThriftStruct) {
        var lastId: Int16 = 0
        for field in value.fields {
            let type = field.value.fieldType.rawValue
            let delta = Int(field.id) - Int(lastId)
            if delta > 0 && delta <= 15 {
                bytes.append(UInt8(delta) << 4 | type)
            } else {
                bytes.append(type)
                zigzag(Int64(field.id))
            }
            lastId = field.id
            if case .bool = field.value { continue }  // the value is the type code
            writeValue(field.value)
        }
        bytes.append(0)  // STOP
    }

    mutating func writeValue(_ value: ThriftValue) {
        switch value {
        case .bool(let b): bytes.append(b ? 1 : 2)  // only reached inside lists and maps
        case .byte(let v): bytes.append(UInt8(bitPattern: v))
        case .i16(let v): zigzag(Int64(v))
        case .i32(let v): zigzag(Int64(v))
        case .i64(let v): zigzag(v)
        case .double(let v): withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .binary(let v):
            uvarint(UInt64(v.count))
            bytes.append(contentsOf: v)
        case .list(let type, let elements):
            let code = type == .boolFalse ? ThriftType.boolTrue.rawValue : type.rawValue
            if elements.count < 15 {
                bytes.append(UInt8(elements.count) << 4 | code)
            } else {
                bytes.append(0xF0 | code)
                uvarint(UInt64(elements.count))
            }
            for element in elements { writeValue(element) }
        case .map(let keyType, let valueType, let entries):
            uvarint(UInt64(entries.count))
            if !entries.isEmpty {
                bytes.append(keyType.rawValue << 4 | valueType.rawValue)
                for (k, v) in entries {
                    writeValue(k)
                    writeValue(v)
                }
            }
        case .struct(let s): writeStruct(s)
        }
    }
}

/// Reads compact-protocol bytes from untrusted input: every length and count is bounded by the
/// bytes left, nesting by `depthMax`, and every failure is a `ParquetError` naming the position.
public struct ThriftCompactReader {
    /// Deeper nesting than Parquet's own (about 6) is refused, so hostile input cannot exhaust the stack.
    public static let depthMax = 32

    let buffer: UnsafeRawBufferPointer
    public private(set) var position: Int
    /// Added to positions in errors, so they name bytes of the enclosing file.
    let basePosition: Int
    /// Names the structure being decoded in errors, e.g. `PageHeader`.
    let context: String

    public init(_ buffer: UnsafeRawBufferPointer, position: Int = 0, basePosition: Int = 0, context: String) {
        self.buffer = buffer
        self.position = position
        self.basePosition = basePosition
        self.context = context
    }

    /// Decodes one struct from the start of `bytes`; returns it and the bytes it used.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, basePosition: Int = 0, context: String
    ) throws(ParquetError) -> (value: ThriftStruct, byteCount: Int) {
        var reader = ThriftCompactReader(bytes, basePosition: basePosition, context: context)
        let value = try reader.readStruct(depth: 0)
        return (value, reader.position)
    }

    func error(_ code: ParquetError.Code, _ message: String, at: Int? = nil) -> ParquetError {
        ParquetError(code, field: context, position: basePosition + (at ?? position), message)
    }

    mutating func byte() throws(ParquetError) -> UInt8 {
        guard position < buffer.count else { throw error(.truncated, "input ends inside a Thrift value") }
        defer { position += 1 }
        return buffer[position]
    }

    mutating func uvarint() throws(ParquetError) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            if shift == 63 && b > 1 { throw error(.invalidValue, "varint overflows 64 bits", at: start) }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw error(.invalidValue, "varint longer than 10 bytes", at: start) }
        }
    }

    mutating func zigzag() throws(ParquetError) -> Int64 {
        let u = try uvarint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    mutating func zigzag32(_ bits: Int) throws(ParquetError) -> Int64 {
        let start = position
        let v = try zigzag()
        let bound = Int64(1) << (bits - 1)
        guard v >= -bound && v < bound else {
            throw error(.invalidValue, "\(v) does not fit in \(bits) bits", at: start)
        }
        return v
    }

    mutating func type(_ code: UInt8, at: Int) throws(ParquetError) -> ThriftType {
        guard let type = ThriftType(rawValue: code) else {
            throw error(.invalidValue, "unknown Thrift type code \(code)", at: at)
        }
        return type
    }

    /// Reads a count (list, map or binary length) that cannot exceed the bytes left:
    /// every element takes at least one byte.
    mutating func count(_ what: String) throws(ParquetError) -> Int {
        let start = position
        let n = try uvarint()
        guard n <= UInt64(buffer.count - position) else {
            throw error(.outOfBounds, "\(what) of \(n) exceeds the \(buffer.count - position) bytes left", at: start)
        }
        return Int(n)
    }

    public mutating func readStruct(depth: Int) throws(ParquetError) -> ThriftStruct {
        guard depth < Self.depthMax else { throw error(.outOfBounds, "structs nest deeper than \(Self.depthMax)") }
        var result = ThriftStruct(position: basePosition + position)
        var lastId: Int16 = 0
        while true {
            let at = position
            let header = try byte()
            if header == 0 { return result }
            let fieldType = try type(header & 0x0F, at: at)
            let delta = header >> 4
            let id: Int16
            if delta == 0 {
                id = Int16(truncatingIfNeeded: try zigzag32(16))
            } else {
                let next = Int(lastId) + Int(delta)
                guard next <= Int(Int16.max) else { throw error(.invalidValue, "field id overflows i16", at: at) }
                id = Int16(next)
            }
            lastId = id
            let value: ThriftValue
            switch fieldType {
            case .boolTrue: value = .bool(true)
            case .boolFalse: value = .bool(false)
            default: value = try readValue(fieldType, depth: depth + 1)
            }
            result.fields.append(ThriftStruct.Field(id: id, value: value, position: basePosition + at))
        }
    }

    mutating func readValue(_ type: ThriftType, depth: Int) throws(ParquetError) -> ThriftValue {
        switch type {
        case .boolTrue, .boolFalse:
            let at = position
            switch try byte() {
            case 1: return .bool(true)
            case 0, 2: return .bool(false)
            case let b: throw error(.invalidValue, "boolean element is \(b), not 1 or 2", at: at)
            }
        case .byte: return .byte(Int8(bitPattern: try byte()))
        case .i16: return .i16(Int16(truncatingIfNeeded: try zigzag32(16)))
        case .i32: return .i32(Int32(truncatingIfNeeded: try zigzag32(32)))
        case .i64: return .i64(try zigzag())
        case .double:
            guard buffer.count - position >= 8 else { throw error(.truncated, "double needs 8 bytes") }
            var bits: UInt64 = 0
            for i in 0 ..< 8 { bits |= UInt64(buffer[position + i]) << (8 * UInt64(i)) }
            position += 8
            return .double(Double(bitPattern: bits))
        case .binary:
            let n = try count("binary length")
            defer { position += n }
            return .binary(Array(buffer[position ..< position + n]))
        case .list, .set:
            guard depth < Self.depthMax else { throw error(.outOfBounds, "lists nest deeper than \(Self.depthMax)") }
            let at = position
            let header = try byte()
            let elementType = try self.type(header & 0x0F, at: at)
            var n = Int(header >> 4)
            if n == 15 { n = try count("list size") }
            var elements: [ThriftValue] = []
            elements.reserveCapacity(min(n, buffer.count - position))
            for _ in 0 ..< n { elements.append(try readValue(elementType, depth: depth + 1)) }
            return .list(elementType == .boolFalse ? .boolTrue : elementType, elements)
        case .map:
            guard depth < Self.depthMax else { throw error(.outOfBounds, "maps nest deeper than \(Self.depthMax)") }
            let n = try count("map size")
            guard n > 0 else { return .map(key: .byte, value: .byte, []) }
            let at = position
            let types = try byte()
            let keyType = try self.type(types >> 4, at: at)
            let valueType = try self.type(types & 0x0F, at: at)
            var entries: [(ThriftValue, ThriftValue)] = []
            for _ in 0 ..< n {
                let k = try readValue(keyType, depth: depth + 1)
                entries.append((k, try readValue(valueType, depth: depth + 1)))
            }
            return .map(key: keyType, value: valueType, entries)
        case .struct:
            return .struct(try readStruct(depth: depth + 1))
        }
    }
}
