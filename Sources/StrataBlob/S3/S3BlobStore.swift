import Crypto
import Foundation

/// `BlobStore` on an S3-compatible service (AWS S3, SeaweedFS, MinIO) over libcurl, with
/// requests signed in the project (SigV4). Objects above `S3Config.partSizeBytes` go up as
/// multipart uploads; transient failures are retried per HTTP request with `S3Config.retry`,
/// and only there (`SelfRetryingBlobStore`: the cold tier does not retry this store again).
///
/// Construct from the standard AWS variables with
/// `try S3BlobStore(config: S3Config.fromURL("s3://bucket/prefix"))`.
public final class S3BlobStore: SelfRetryingBlobStore {
    public let config: S3Config
    let client: S3Client

    /// `s3://bucket/prefix`, with the endpoint when it is not AWS's. Never contains credentials.
    public var location: String { client.location }

    /// `S3Config.retry`: how each HTTP request is retried.
    public var retryPolicy: RetryPolicy { config.retry }

    /// - Parameters:
    ///   - config: where and how to reach the bucket.
    ///   - retryEnvironment: jitter and sleep between retries (tests inject one that does not sleep).
    /// - Throws: `BlobError.invalid` when the configuration is out of bounds (part size below
    ///   5 MiB, empty bucket, zero parallelism). Nothing is sent until the first call.
    public convenience init(config: S3Config, retryEnvironment: RetryEnvironment = .live) throws {
        try self.init(config: config, now: { Date() }, retryEnvironment: retryEnvironment)
    }

    /// Opens a cold URL `s3://bucket/prefix` with the standard AWS variables (see
    /// `S3Config.fromEnvironment`).
    /// - Throws: `BlobError.invalid` for a malformed URL, missing credentials or bad bounds.
    public convenience init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(config: S3Config.fromURL(url, environment: environment))
    }

    /// Test seam: an injected clock (signing dates).
    init(config: S3Config, now: @escaping @Sendable () -> Date, retryEnvironment: RetryEnvironment) throws {
        self.config = config
        self.client = try S3Client(config: config, now: now, retryEnvironment: retryEnvironment)
    }

    /// Stores `bytes` under `key`: one PutObject up to the part size, a multipart upload above.
    /// - Throws: `preconditionFailed` when `mode` is `.ifAbsent` and the key exists; `denied`,
    ///   `unavailable` (after retries), `invalid`. An `.ifAbsent` put whose first try landed
    ///   but whose answer was lost (timeout, reset) reports `preconditionFailed` on the retry:
    ///   callers that fence on it must re-read, which is what a losing writer does anyway.
    public func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        try checkKey(key)
        if bytes.count > config.partSizeBytes {
            try await putMultipart(key, bytes, mode: mode)
            return
        }
        var call = S3Call(method: "PUT", key: key, body: bytes[...])
        if mode == .ifAbsent { call.headers.append((name: "if-none-match", value: "*")) }
        _ = try await client.send(call)
    }

    /// Reads `range` of `key` with a ranged GetObject.
    /// - Throws: `notFound`; `invalid` for a range starting past the end; `corrupt` when the
    ///   server sends a different number of bytes than it announced.
    public func get(_ key: String, range: ByteRange) async throws -> BlobData {
        try checkKey(key)
        switch range {
        case .whole:
            let response = try await client.send(S3Call(method: "GET", key: key))
            return BlobData(bytes: response.body, offset: 0, objectSize: Int64(response.body.count))
        case .range(let offset, let length):
            guard offset >= 0, length >= 0 else { throw invalid("negative range offset or length", key: key) }
            if length == 0 { return try await emptyRead(key, at: offset) }
            return try await rangedGet(key, header: "bytes=\(offset)-\(offset + length - 1)", requestedOffset: offset)
        case .suffix(let length):
            guard length >= 0 else { throw invalid("negative suffix length", key: key) }
            if length == 0 { return try await emptyRead(key, at: nil) }
            return try await rangedGet(key, header: "bytes=-\(length)", requestedOffset: nil)
        }
    }

    /// Size and modification time from HeadObject.
    /// - Throws: `notFound`, `denied`, `unavailable`.
    public func head(_ key: String) async throws -> BlobInfo {
        try checkKey(key)
        let response = try await client.send(S3Call(method: "HEAD", key: key))
        guard let size = response.header("content-length").flatMap({ Int64($0) }) else {
            throw BlobError(.corrupt, "HeadObject without Content-Length", key: key, location: location)
        }
        let modifiedMs = response.header("last-modified").flatMap(S3Time.httpDateMs) ?? 0
        return BlobInfo(key: key, size: size, modifiedMs: modifiedMs)
    }

    /// One ListObjectsV2 page of keys under `prefix` (relative to the store prefix).
    /// The continuation is the last key of the page (sent as `start-after`), so like every
    /// store's it is a key: any key can resume a listing, not only a server token.
    /// - Parameters:
    ///   - prefix: key prefix, relative to the store's.
    ///   - continuation: list keys after this one; nil for the first page.
    ///   - limit: page size, at least 1, cut to `BlobLimits.listPageMax` (S3's maximum).
    /// - Throws: `invalid` for a limit below 1 or a missing bucket; `denied`, `unavailable`.
    public func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        let pageLimit = try BlobKey.pageLimit(limit, location: location)
        var call = S3Call(method: "GET", key: nil)
        call.query = [
            (name: "list-type", value: "2"), (name: "prefix", value: config.prefix + prefix),
            (name: "max-keys", value: String(pageLimit)),
        ]
        if let continuation { call.query.append((name: "start-after", value: config.prefix + continuation)) }
        let response = try await client.send(call)
        let result: S3ListResult
        do {
            result = try S3ListResult.parse(response.body)
        } catch {
            throw BlobError(.corrupt, "unreadable ListObjectsV2 answer", location: location, cause: "\(error)")
        }
        let objects = result.objects.compactMap { info -> BlobInfo? in
            guard info.key.hasPrefix(config.prefix) else { return nil }
            return BlobInfo(
                key: String(info.key.dropFirst(config.prefix.count)), size: info.size, modifiedMs: info.modifiedMs)
        }
        let truncated = result.nextContinuationToken != nil || result.isTruncated
        return BlobListPage(objects: objects, continuation: truncated ? objects.last?.key : nil)
    }

    /// Deletes `keys` with DeleteObjects, 1,000 keys per request. Missing keys are not an error.
    /// - Throws: the first per-key failure the server reports, `denied`, `unavailable`.
    public func delete(_ keys: [String]) async throws {
        for key in keys { try checkKey(key) }
        var start = 0
        while start < keys.count {
            let end = min(start + S3Config.deleteBatchCountMax, keys.count)
            try await deleteBatch(Array(keys[start ..< end]))
            start = end
        }
    }
}

// MARK: - Helpers

extension S3BlobStore {
    func invalid(_ message: String, key: String?) -> BlobError {
        BlobError(.invalid, message, key: key, location: location)
    }

    /// The shared key rules (`BlobKey`), and S3's 1,024-byte limit with the store prefix on.
    func checkKey(_ key: String) throws {
        try BlobKey.validate(key, location: location)
        guard config.prefix.utf8.count + key.utf8.count <= BlobLimits.keyBytesMax else {
            throw invalid("key is longer than \(BlobLimits.keyBytesMax) bytes with the store prefix", key: key)
        }
    }

    /// A zero-length read: only the object's existence and size matter.
    private func emptyRead(_ key: String, at offset: Int64?) async throws -> BlobData {
        let size = try await head(key).size
        let position = offset ?? size
        guard position <= size else { throw invalid("range starts at \(position), past the end (\(size))", key: key) }
        return BlobData(bytes: [], offset: position, objectSize: size)
    }

    private func rangedGet(_ key: String, header: String, requestedOffset: Int64?) async throws -> BlobData {
        var call = S3Call(method: "GET", key: key, headers: [(name: "range", value: header)])
        call.acceptedStatuses = [416]
        let response = try await client.send(call)
        let contentRange = response.header("content-range").flatMap(S3ContentRange.parse)
        switch response.status {
        case 416:
            // An empty object, or a start exactly at the end: S3 refuses, the contract reads nothing.
            guard let size = contentRange?.size, (requestedOffset ?? size) == size else {
                throw invalid("range \(header) starts past the end", key: key)
            }
            return BlobData(bytes: [], offset: size, objectSize: size)
        case 206:
            guard let contentRange, let first = contentRange.first, let last = contentRange.last,
                Int64(response.body.count) == last - first + 1
            else {
                throw BlobError(.corrupt, "ranged read returned a mismatched body", key: key, location: location)
            }
            return BlobData(bytes: response.body, offset: first, objectSize: contentRange.size)
        default:
            return sliceWholeBody(response.body, header: header, requestedOffset: requestedOffset)
        }
    }

    /// Some servers answer a range covering the whole object with 200 and the full body.
    private func sliceWholeBody(_ body: [UInt8], header: String, requestedOffset: Int64?) -> BlobData {
        let size = Int64(body.count)
        let lastWanted = header.split(separator: "-").last.flatMap { Int64($0) }
        if let offset = requestedOffset {
            let start = min(offset, size)
            let end = min(size, (lastWanted ?? size - 1) + 1)
            return BlobData(bytes: Array(body[Int(start) ..< Int(max(start, end))]), offset: start, objectSize: size)
        }
        let start = max(0, size - (lastWanted ?? size))
        return BlobData(bytes: Array(body[Int(start)...]), offset: start, objectSize: size)
    }

    private func deleteBatch(_ keys: [String]) async throws {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>"
        for key in keys { xml += "<Object><Key>\(S3XMLParser.escape(config.prefix + key))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
        var call = S3Call(method: "POST", key: nil, headers: [(name: "content-md5", value: md5)], body: body[...])
        call.query = [(name: "delete", value: "")]
        let response = try await client.send(call)
        let result = try? S3DeleteResult.parse(response.body)
        if let failure = result?.failures.first(where: { $0.code != "NoSuchKey" }) {
            let key = String(failure.key.dropFirst(failure.key.hasPrefix(config.prefix) ? config.prefix.count : 0))
            let code: BlobError.Code = failure.code == "AccessDenied" ? .denied : .unavailable
            throw BlobError(
                code, "DeleteObjects failed for \(result?.failures.count ?? 1) key(s)", key: key, location: location,
                cause: config.redact("\(failure.code): \(failure.message)"))
        }
    }
}
