/// The one error type of the format layer: what was wrong, in which field, at which byte.
///
/// Every decoder in `StrataFormat` reports bad input with this type and never traps, so callers
/// can say "batch at position 4096 of 00000000000000000000.seg: crc mismatch".
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Input ended before the structure did.
        case truncated
        /// A magic number did not match.
        case badMagic
        /// A version this reader does not know.
        case unsupportedVersion
        /// A checksum did not match the bytes.
        case checksumMismatch
        /// A length or count is out of its allowed bounds.
        case outOfBounds
        /// A field holds a value the format forbids.
        case invalidValue
        /// zstd rejected the data.
        case compression
        /// An encrypted cold frame's key id is not in the key ring given (formats/keys.md).
        case missingKey
        /// An encrypted cold frame failed AES-GCM authentication: a changed byte, or the wrong key.
        case authenticationFailed
    }

    public var code: Code
    /// The field (or structure) that was wrong, e.g. `batch.crc`.
    public var field: String
    /// Byte position of that field in the input being decoded.
    public var position: Int
    public var message: String

    public init(_ code: Code, field: String, position: Int, _ message: String) {
        self.code = code
        self.field = field
        self.position = position
        self.message = message
    }

    public var description: String { "\(code.rawValue) in \(field) at byte \(position): \(message)" }

    /// The same error with `position` shifted by `base`, for errors found inside a sub-buffer.
    public func shifted(by base: Int) -> FormatError {
        var copy = self
        copy.position += base
        return copy
    }
}
