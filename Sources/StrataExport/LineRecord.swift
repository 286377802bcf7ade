import StrataFormat

/// What the line encoders read of one record, so `Record` values and `RecordView`s (records
/// read in place from a batch's bytes, no copy) go through the same encoding code.
public protocol LineRecord {
    var offset: Int64 { get }
    var timestamp: Int64 { get }
    /// Bytes of the key, nil for a null key (for output bounds).
    var keyByteCount: Int? { get }
    var valueByteCount: Int? { get }
    var hasHeaders: Bool { get }
    func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R
    func withValueBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R
    /// Calls `body` with each header's key (UTF-8) and value (nil for null), in order.
    func forEachHeader(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void)
}

extension Record: LineRecord {
    public var keyByteCount: Int? { key?.count }
    public var valueByteCount: Int? { value?.count }
    public var hasHeaders: Bool { !headers.isEmpty }

    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R { Self.with(key, body) }
    public func withValueBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R { Self.with(value, body) }

    public func forEachHeader(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) {
        for header in headers {
            var key = header.key
            key.withUTF8 { utf8 in Self.with(header.value) { body(UnsafeRawBufferPointer(utf8), $0) } }
        }
    }

    private static func with<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let bytes else { return body(nil) }
        return bytes.withUnsafeBytes { body($0) }
    }
}

extension RecordView: LineRecord {
    public var keyByteCount: Int? { key?.count }
    public var valueByteCount: Int? { value?.count }
    public var hasHeaders: Bool { headers.count > 0 }

    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R { body(key) }
    public func withValueBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R { body(value) }

    public func forEachHeader(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) {
        for header in headers { body(header.key, header.value) }
    }
}
