/// Key rules shared by every store, so a key accepted by one is accepted by all.
public enum BlobKey {
    /// Prefix of the filesystem store's temporary files; reserved so no key can collide with one.
    public static let tempPrefix = ".tmp-"

    /// Throws `invalid` unless `key` is a relative `/`-separated path: not empty, no leading `/`,
    /// no empty, `.`, `..` or `.tmp-…` component, no NUL, at most `BlobLimits.keyBytesMax` bytes.
    public static func validate(_ key: String, location: String) throws {
        if let problem = problem(in: key) {
            throw BlobError(.invalid, "bad key: \(problem)", key: key, location: location)
        }
    }

    public static func problem(in key: String) -> String? {
        if key.isEmpty { return "empty" }
        if key.utf8.count > BlobLimits.keyBytesMax { return "longer than \(BlobLimits.keyBytesMax) bytes" }
        if key.utf8.contains(0) { return "contains NUL" }
        if key.utf8.first == UInt8(ascii: "/") { return "starts with /" }
        for component in key.split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "empty path component" }
            if component == "." || component == ".." { return "contains a . or .. component" }
            if component.utf8.starts(with: tempPrefix.utf8) { return "component starts with reserved \(tempPrefix)" }
        }
        return nil
    }

    /// Byte-wise (UTF-8) ordering, the order of S3 listings. Swift's `<` on `String` compares
    /// canonical equivalents, which is not what a store sorts by.
    public static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    /// Byte-wise prefix test (see `precedes` for why not `hasPrefix`).
    public static func hasPrefix(_ key: String, _ prefix: String) -> Bool {
        key.utf8.starts(with: prefix.utf8)
    }

    /// Throws `invalid` for a listing limit below 1; larger limits are cut to `BlobLimits.listPageMax`.
    public static func pageLimit(_ limit: Int, location: String) throws -> Int {
        guard limit > 0 else {
            throw BlobError(.invalid, "list limit must be positive, got \(limit)", location: location)
        }
        return min(limit, BlobLimits.listPageMax)
    }
}
