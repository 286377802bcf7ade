/// The one error type of the Parquet layer: what was wrong, in which field, at which byte.
///
/// Decoders report bad bytes with it and never trap; writers report bad input (a value that does
/// not fit its column, levels out of range) with it and change nothing.
public struct ParquetError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Input ended before the structure did.
        case truncated
        /// `PAR1` was not where the format puts it.
        case badMagic
        /// A length, count or nesting depth is out of its allowed bounds.
        case outOfBounds
        /// A field holds a value the format forbids, or a required field is missing.
        case invalidValue
        /// Valid Parquet that this reader does not handle (a codec, an encoding, encryption).
        case unsupported
        /// A caller passed a value the writer cannot store (wrong type, level or order).
        case invalidArgument
        /// zstd rejected the data.
        case compression
        /// The writer was used after `finish()`.
        case closed
    }

    public var code: Code
    /// The field or structure that was wrong, e.g. `ColumnMetaData.num_values` or `offset`.
    public var field: String
    /// Byte position in the file being decoded (for writer errors: the row index, or 0).
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

/// Runs a typed-throwing body over the bytes of an array (`withUnsafeBytes` only rethrows
/// untyped errors).
func withParquetBytes<T, E: Error>(
    _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> T
) throws(E) -> T {
    let result: Result<T, E> = bytes.withUnsafeBytes { raw in
        do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
