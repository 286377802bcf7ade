extension ByteRange {
    /// The `(offset, length)` this range selects in an object of `size` bytes.
    /// A range running past the end is cut; one starting exactly at the end is empty.
    /// Throws `invalid` for negative numbers or a start beyond the end.
    public func resolve(size: Int64, key: String, location: String) throws -> (offset: Int64, length: Int64) {
        switch self {
        case .whole:
            return (0, size)
        case .range(let offset, let length):
            guard offset >= 0, length >= 0 else {
                throw BlobError(.invalid, "negative range \(offset)+\(length)", key: key, location: location)
            }
            guard offset <= size else {
                throw BlobError(
                    .invalid, "range starts at \(offset), past the end (\(size) bytes)", key: key, location: location)
            }
            return (offset, min(length, size - offset))
        case .suffix(let length):
            guard length >= 0 else {
                throw BlobError(.invalid, "negative suffix length \(length)", key: key, location: location)
            }
            let cut = min(length, size)
            return (size - cut, cut)
        }
    }
}
