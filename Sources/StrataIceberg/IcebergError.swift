/// The one error type of the Avro and Iceberg layer: what was wrong, in which field, at which byte.
///
/// Decoders report bad bytes with it and never trap; builders report bad input (a value that does
/// not match its schema, a snapshot id used twice, a removed file the table does not hold) with it
/// and return nothing.
public struct IcebergError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Input ended before the structure did.
        case truncated
        /// `Obj\u{1}` was not at the start of an Avro container file.
        case badMagic
        /// A length, count, varint or nesting depth is out of its allowed bounds.
        case outOfBounds
        /// A field holds a value the format forbids, or a required field is missing.
        case invalidValue
        /// Valid input this decoder does not handle (a codec such as `deflate`, a schema feature).
        case unsupported
        /// A caller passed a value that cannot be written (wrong type, unknown file, id reused).
        case invalidArgument
    }

    public var code: Code
    /// The field or structure that was wrong, e.g. `manifest_entry.data_file.record_count` or `snapshotId`.
    public var field: String
    /// Byte position in the input being decoded (for builder errors: the index of the item, or 0).
    public var position: Int
    public var message: String

    public init(_ code: Code, field: String, position: Int, _ message: String) {
        self.code = code
        self.field = field
        self.position = position
        self.message = message
    }

    public var description: String { "\(code.rawValue) in \(field) at \(position): \(message)" }
}
