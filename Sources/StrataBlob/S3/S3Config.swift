import Foundation

/// Everything `S3BlobStore` needs. `description` never shows the secret or the session token.
public struct S3Config: Sendable, CustomStringConvertible {
    /// How the bucket appears in requests.
    public enum Addressing: String, Sendable, Equatable {
        /// `https://endpoint/bucket/key` (SeaweedFS, MinIO, most test servers).
        case pathStyle
        /// `https://bucket.endpoint/key` (AWS's default).
        case virtualHosted
    }

    /// S3 parts other than the last must be at least 5 MiB.
    public static let partSizeBytesMin = 5 << 20
    /// S3 allows at most 10,000 parts; larger objects get larger parts.
    public static let partCountMax = 10_000
    /// DeleteObjects takes at most 1,000 keys per request.
    public static let deleteBatchCountMax = 1_000

    /// Scheme, host and optional port, e.g. `https://s3.us-east-1.amazonaws.com`.
    public var endpoint: URL
    public var region: String
    public var bucket: String
    /// Prepended to every key; normalized to no leading `/` and one trailing `/` (or empty).
    public var prefix: String {
        didSet { prefix = S3Config.normalizePrefix(prefix) }
    }
    public var addressing: Addressing
    public var credentials: S3Credentials
    /// Skip TLS verification. Only for test servers with self-signed certificates.
    public var insecureTLS: Bool = false
    /// Objects larger than this go up as multipart uploads of parts this size.
    public var partSizeBytes: Int = 16 << 20
    /// Parts of one upload in flight at once.
    public var partParallelCountMax: Int = 4
    /// Simultaneous HTTP transfers (and kept-alive connections) of the store.
    public var connectionCountMax: Int = 8
    public var connectTimeoutMs: Int = 5_000
    /// How each HTTP request is retried: 5xx, 429/SlowDown, timeouts and resets are, 4xx never.
    /// The store retries per request, so the cold tier above it does not (see `RetryPolicy`).
    public var retry = RetryPolicy(attemptsMax: 5, baseDelayMs: 100, delayMaxMs: 5_000)

    /// - Parameters:
    ///   - endpoint: the S3 endpoint, e.g. `http://127.0.0.1:8333`.
    ///   - region: signing region, e.g. `us-east-1`.
    ///   - bucket: an existing bucket.
    ///   - prefix: key prefix inside the bucket (`""` for none).
    ///   - addressing: path-style or virtual-hosted requests.
    ///   - credentials: access key, secret and optional session token.
    public init(
        endpoint: URL, region: String, bucket: String, prefix: String = "", addressing: Addressing = .pathStyle,
        credentials: S3Credentials
    ) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.prefix = S3Config.normalizePrefix(prefix)
        self.addressing = addressing
        self.credentials = credentials
    }

    public var description: String {
        "S3Config(endpoint: \(endpoint.absoluteString), region: \(region), bucket: \(bucket), prefix: \(prefix), "
            + "addressing: \(addressing.rawValue), credentials: \(credentials), insecureTLS: \(insecureTLS))"
    }

    static func normalizePrefix(_ prefix: String) -> String {
        let trimmed = prefix.drop { $0 == "/" }
        if trimmed.isEmpty { return "" }
        return trimmed.hasSuffix("/") ? String(trimmed) : trimmed + "/"
    }
}

extension S3Config {
    /// Builds a configuration from the standard AWS variables: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or `AWS_DEFAULT_REGION` (default
    /// `us-east-1`), `AWS_ENDPOINT_URL` (default `https://s3.<region>.amazonaws.com`), plus
    /// `STRATA_S3_PATH_STYLE=1|0` (default: path-style when `AWS_ENDPOINT_URL` is set or the
    /// bucket name has a dot) and
    /// `STRATA_S3_INSECURE=1` (skip TLS verification).
    /// - Parameters:
    ///   - bucket: the bucket to use.
    ///   - prefix: key prefix inside the bucket.
    ///   - environment: the variables to read (the process environment by default).
    /// - Throws: `BlobError.invalid` when credentials are missing or the endpoint is not a URL.
    public static func fromEnvironment(
        bucket: String, prefix: String = "", environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> S3Config {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let location = "s3://\(bucket)/\(prefix)"
        guard let keyId = value("AWS_ACCESS_KEY_ID"), let secret = value("AWS_SECRET_ACCESS_KEY") else {
            throw BlobError(.invalid, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set", location: location)
        }
        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1"
        let endpointText = value("AWS_ENDPOINT_URL") ?? "https://s3.\(region).amazonaws.com"
        guard let endpoint = URL(string: endpointText), endpoint.host != nil,
            endpoint.scheme == "http" || endpoint.scheme == "https"
        else {
            throw BlobError(.invalid, "AWS_ENDPOINT_URL is not an http(s) URL: \(endpointText)", location: location)
        }
        // Custom endpoints are mostly path-style servers; a dotted bucket breaks TLS as a host name.
        let pathStyleDefault = value("AWS_ENDPOINT_URL") != nil || bucket.contains(".")
        let pathStyle = value("STRATA_S3_PATH_STYLE").map { $0 == "1" } ?? pathStyleDefault
        var config = S3Config(
            endpoint: endpoint, region: region, bucket: bucket, prefix: prefix,
            addressing: pathStyle ? .pathStyle : .virtualHosted,
            credentials: S3Credentials(
                accessKeyId: keyId, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN")))
        config.insecureTLS = value("STRATA_S3_INSECURE") == "1"
        return config
    }

    /// Reads a cold URL `s3://bucket/prefix` and the AWS variables (see `fromEnvironment`).
    /// - Throws: `BlobError.invalid` for anything but `s3://bucket[/prefix]`, or missing credentials.
    public static func fromURL(
        _ url: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> S3Config {
        guard url.hasPrefix("s3://") else {
            throw BlobError(.invalid, "not an s3:// URL: \(url)", location: url)
        }
        let rest = url.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        guard !bucket.isEmpty else { throw BlobError(.invalid, "s3:// URL without a bucket", location: url) }
        let prefix = String(rest.dropFirst(bucket.count))
        return try fromEnvironment(bucket: bucket, prefix: prefix, environment: environment)
    }

    /// Checks the bounds; the store calls it before sending anything.
    func validate() throws {
        let location = "s3://\(bucket)/\(prefix)"
        guard !bucket.isEmpty, !bucket.contains("/") else {
            throw BlobError(.invalid, "bad bucket name '\(bucket)'", location: location)
        }
        guard partSizeBytes >= S3Config.partSizeBytesMin else {
            throw BlobError(.invalid, "part size \(partSizeBytes) is below S3's 5 MiB minimum", location: location)
        }
        guard partParallelCountMax >= 1, connectionCountMax >= 1, retry.attemptsMax >= 1 else {
            throw BlobError(.invalid, "parallelism, connections and attempts must be at least 1", location: location)
        }
    }

    /// `text` with the secret key and session token replaced: errors quote server messages.
    func redact(_ text: String) -> String {
        var result = text
        if !credentials.secretAccessKey.isEmpty {
            result = result.replacingOccurrences(of: credentials.secretAccessKey, with: "<redacted>")
        }
        if let token = credentials.sessionToken, !token.isEmpty {
            result = result.replacingOccurrences(of: token, with: "<redacted>")
        }
        return result
    }
}
