import Foundation

/// Where the cold tier lives, as given on the command line or in configuration.
public enum ColdURL: Sendable, Equatable, CustomStringConvertible {
    /// `file:///abs/path`: a `FileSystemBlobStore` rooted at `path`.
    case file(path: String)
    /// `s3://bucket/prefix`: `prefix` has no leading or trailing `/` and may be empty.
    case s3(bucket: String, prefix: String)

    /// The schemes `parse` accepts, for error messages and help text.
    public static let acceptedForms = "file:///absolute/path, s3://bucket[/prefix]"

    /// Parses a cold-tier URL.
    /// - Throws: `BlobError` `invalid` for an unknown scheme (the message lists the accepted
    ///   ones), a relative or host-qualified file path, a bad bucket name. There is no in-memory
    ///   scheme: a store that dies with the process would let eviction delete the only copy
    ///   (tests inject `MemoryBlobStore` from `StrataTesting` through `LakeOptions.coldStore`).
    public static func parse(_ text: String) throws -> ColdURL {
        guard let separator = text.range(of: "://") else {
            throw invalid(text, "not a URL")
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        let rest = String(text[separator.upperBound...])
        switch scheme {
        case "file": return try parseFile(rest, text: text)
        case "s3": return try parseS3(rest, text: text)
        default: throw invalid(text, "unknown scheme \(scheme)")
        }
    }

    /// The URL in the form `parse` reads.
    public var description: String {
        switch self {
        case .file(let path): return "file://" + path
        case .s3(let bucket, let prefix): return prefix.isEmpty ? "s3://" + bucket : "s3://\(bucket)/\(prefix)"
        }
    }

    private static func parseFile(_ rest: String, text: String) throws -> ColdURL {
        guard rest.hasPrefix("/") else {
            throw invalid(text, "a file URL needs an absolute path and no host: file:///path")
        }
        guard let path = rest.removingPercentEncoding, !path.utf8.contains(0) else {
            throw invalid(text, "bad percent-encoding in path")
        }
        return .file(path: path)
    }

    private static func parseS3(_ rest: String, text: String) throws -> ColdURL {
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let bucket = String(parts.first ?? "")
        guard isValidBucket(bucket) else {
            throw invalid(text, "bucket names are 3-63 characters of a-z 0-9 . -, starting and ending alphanumeric")
        }
        let prefix = parts.count > 1 ? String(parts[1]) : ""
        let trimmed = prefix.split(separator: "/", omittingEmptySubsequences: false)
        guard !trimmed.dropFirst().dropLast().contains(where: \.isEmpty) else {
            throw invalid(text, "empty component (//) in prefix")
        }
        return .s3(bucket: bucket, prefix: trimmed.filter { !$0.isEmpty }.joined(separator: "/"))
    }

    private static func isValidBucket(_ bucket: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        let alphanumeric = Set("abcdefghijklmnopqrstuvwxyz0123456789")
        guard (3 ... 63).contains(bucket.count), bucket.allSatisfy(allowed.contains) else { return false }
        guard let first = bucket.first, let last = bucket.last else { return false }
        return alphanumeric.contains(first) && alphanumeric.contains(last)
    }

    private static func invalid(_ text: String, _ problem: String) -> BlobError {
        BlobError(.invalid, "bad cold URL '\(text)': \(problem); accepted: \(acceptedForms)", location: text)
    }
}

/// Opens the store a cold URL names.
/// - Parameters:
///   - url: the parsed cold URL.
///   - retry: for an S3 store, how each HTTP request is retried (nil: `S3Config`'s default).
///     A file store does not retry; the layer above it does (see `RetryPolicy`).
///   - retryEnvironment: jitter and sleep of those retries.
/// - Returns: a `FileSystemBlobStore` (root created if absent), or an `S3BlobStore` configured
///   from the standard AWS variables (`S3Config.fromEnvironment`).
/// - Throws: what `FileSystemBlobStore.init(root:)` throws; `invalid` for missing AWS credentials.
public func makeLocalStore(
    for url: ColdURL, retry: RetryPolicy? = nil, retryEnvironment: RetryEnvironment = .live
) throws -> any BlobStore {
    switch url {
    case .file(let path):
        return try FileSystemBlobStore(root: path)
    case .s3(let bucket, let prefix):
        var config = try S3Config.fromEnvironment(bucket: bucket, prefix: prefix)
        if let retry { config.retry = retry }
        return try S3BlobStore(config: config, retryEnvironment: retryEnvironment)
    }
}
