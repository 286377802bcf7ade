/// Appends Kafka's big-endian primitives, varints and length-prefixed values to a byte array.
public struct KafkaWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    @inline(__always)
    mutating func fixed<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func int8(_ value: Int8) { bytes.append(UInt8(bitPattern: value)) }
    public mutating func int16(_ value: Int16) { fixed(value) }
    public mutating func int32(_ value: Int32) { fixed(value) }
    public mutating func int64(_ value: Int64) { fixed(value) }
    public mutating func uint16(_ value: UInt16) { fixed(value) }
    public mutating func uint32(_ value: UInt32) { fixed(value) }
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    public mutating func float64(_ value: Double) { fixed(value.bitPattern) }
    public mutating func uuid(_ value: KafkaUUID) { bytes.append(contentsOf: value.bytes) }
    public mutating func raw<C: Collection>(_ value: C) where C.Element == UInt8 { bytes.append(contentsOf: value) }

    /// Unsigned LEB128.
    public mutating func unsignedVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Zigzag varint (Kafka's `varint`).
    public mutating func varint(_ value: Int32) {
        unsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    /// Zigzag varlong (Kafka's `varlong`).
    public mutating func varlong(_ value: Int64) {
        unsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// A length prefix: compact `length + 1` (0 = null) or classic `int16`/`int32` (-1 = null).
    mutating func length(_ length: Int?, compact: Bool, wide: Bool) {
        if compact {
            unsignedVarint(length.map { UInt64($0) + 1 } ?? 0)
        } else if wide {
            int32(length.map { Int32(clamping: $0) } ?? -1)
        } else {
            int16(length.map { Int16(clamping: $0) } ?? -1)
        }
    }

    /// A string, compact or classic; nil writes null.
    /// - Throws: `.outOfBounds` for a string over 32767 UTF-8 bytes, the protocol's limit.
    public mutating func string(_ value: String?, compact: Bool, field: String = "string") throws(KafkaDecodeError) {
        guard let value else { return length(nil, compact: compact, wide: false) }
        let utf8 = value.utf8
        guard utf8.count <= Int(Int16.max) else {
            throw KafkaDecodeError(
                .outOfBounds, field: field, position: count,
                "\(utf8.count) bytes; Kafka strings hold at most 32767")
        }
        length(utf8.count, compact: compact, wide: false)
        bytes.append(contentsOf: utf8)
    }

    /// Bytes, compact or classic; nil writes null.
    public mutating func bytes(_ value: [UInt8]?, compact: Bool) {
        guard let value else { return length(nil, compact: compact, wide: true) }
        length(value.count, compact: compact, wide: true)
        bytes.append(contentsOf: value)
    }

    /// An array's element count, compact or classic; nil writes a null array.
    public mutating func arrayCount(_ count: Int?, compact: Bool) {
        length(count, compact: compact, wide: true)
    }

    /// Overwrites 4 bytes at `position` with a big-endian value (sizes and CRCs patched later).
    public mutating func patchUInt32(_ value: UInt32, at position: Int) {
        withUnsafeBytes(of: value.bigEndian) { source in
            for index in 0 ..< 4 { bytes[position + index] = source[index] }
        }
    }
}
