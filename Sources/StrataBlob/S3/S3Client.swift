import Crypto
import Foundation

/// One S3 call before addressing and signing.
struct S3Call: Sendable {
    var method: String
    /// Object key relative to the store prefix; nil addresses the bucket itself.
    var key: String?
    var query: [(name: String, value: String)] = []
    var headers: [(name: String, value: String)] = []
    var body: ArraySlice<UInt8> = []
    /// Non-2xx statuses handed back to the caller instead of thrown (e.g. 416 for `get`).
    var acceptedStatuses: Set<Int> = []
}

/// Addresses, signs, sends and retries S3 calls, and turns failures into `BlobError`s.
/// The only place that builds request paths from keys.
final class S3Client: Sendable {
    let config: S3Config
    let location: String
    private let signer: SigV4Signer
    private let pool: CurlPool
    private let retryEnvironment: RetryEnvironment
    private let now: @Sendable () -> Date
    /// Endpoint host with a non-default port, e.g. `127.0.0.1:8333`.
    private let endpointHost: String
    private let scheme: String

    init(config: S3Config, now: @escaping @Sendable () -> Date, retryEnvironment: RetryEnvironment = .live) throws {
        try config.validate()
        self.location = S3Client.location(of: config)
        guard let scheme = config.endpoint.scheme, let host = config.endpoint.host else {
            throw BlobError(.invalid, "endpoint has no scheme or host", location: location)
        }
        let defaultPort = scheme == "https" ? 443 : 80
        self.scheme = scheme
        self.endpointHost = config.endpoint.port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host
        self.config = config
        self.signer = SigV4Signer(credentials: config.credentials, region: config.region)
        self.pool = CurlPool(connectionCountMax: config.connectionCountMax, name: "strata-s3")
        self.retryEnvironment = retryEnvironment
        self.now = now
    }

    /// The worker threads hold the pool, not the client: let them go with the client.
    deinit { pool.shutdown() }

    /// `s3://bucket/prefix`, plus the endpoint when it is not AWS's; never credentials.
    static func location(of config: S3Config) -> String {
        let base = "s3://\(config.bucket)/\(config.prefix)"
        let host = config.endpoint.host ?? ""
        return host.hasSuffix(".amazonaws.com") ? base : "\(base) (endpoint \(config.endpoint.absoluteString))"
    }

    /// Sends `call`, retrying transient failures per `config.retry` (each attempt signed afresh).
    /// This is the only retry loop S3 requests go through: the cold tier does not retry an S3
    /// store again (`SelfRetryingBlobStore`). Returns 2xx responses and accepted statuses.
    /// - Throws: `BlobError` mapped from the status and S3 error code, or from the transport;
    ///   after the last attempt its message says how many were made.
    func send(_ call: S3Call) async throws -> HTTPResponse {
        let payloadHash = SigV4Signer.hex(Array(SHA256.hash(data: call.body)))
        return try await withRetries(config.retry, environment: retryEnvironment) {
            try await self.sendOnce(call, payloadHash: payloadHash)
        }
    }

    private func sendOnce(_ call: S3Call, payloadHash: String) async throws -> HTTPResponse {
        let request = httpRequest(for: call, payloadHash: payloadHash)
        let response: HTTPResponse
        do {
            response = try await pool.perform(request)
        } catch let error as CurlError {
            throw transportError(error, key: call.key)
        }
        if (200 ..< 300).contains(response.status) || call.acceptedStatuses.contains(response.status) {
            return response
        }
        throw statusError(response, key: call.key)
    }

    func httpRequest(for call: S3Call, payloadHash: String) -> HTTPRequest {
        let (host, path) = target(key: call.key)
        let signed = signer.sign(
            SigV4Request(
                method: call.method, host: host, path: path, query: call.query, headers: call.headers,
                payloadHash: payloadHash),
            date: now())
        let query = signed.encodedQuery.isEmpty ? "" : "?" + signed.encodedQuery
        var request = HTTPRequest(
            method: call.method, url: "\(scheme)://\(host)\(signed.encodedPath)\(query)",
            headers: signed.headers.filter { $0.name != "host" }, body: call.body)
        request.connectTimeoutMs = config.connectTimeoutMs
        request.insecureTLS = config.insecureTLS
        return request
    }

    /// Host header and raw path for `key` (nil: the bucket) under the store prefix.
    func target(key: String?) -> (host: String, path: String) {
        let objectPath = key.map { "/" + config.prefix + $0 } ?? "/"
        switch config.addressing {
        case .pathStyle:
            return (endpointHost, "/" + config.bucket + (key == nil ? "" : objectPath))
        case .virtualHosted:
            return (config.bucket + "." + endpointHost, objectPath)
        }
    }
}

// MARK: - Error mapping

extension S3Client {
    private var endpointText: String { config.endpoint.absoluteString }

    func transportError(_ error: CurlError, key: String?) -> BlobError {
        let cause = config.redact(error.description)
        if error.kind == .tls {
            return BlobError(
                .invalid,
                "TLS failed with S3 endpoint \(endpointText) (bucket \(config.bucket)); "
                    + "skip verification only for test servers (STRATA_S3_INSECURE=1)",
                key: key, location: location, cause: cause)
        }
        return BlobError(
            .unavailable, "cannot reach S3 endpoint \(endpointText) (bucket \(config.bucket))",
            key: key, location: location, cause: cause)
    }

    func statusError(_ response: HTTPResponse, key: String?) -> BlobError {
        let body = S3ErrorBody.parse(response.body)
        let code = body?.code ?? ""
        var cause = "HTTP \(response.status)"
        if let body { cause += " \(body.code): \(body.message)" + (body.requestId.map { " (request id \($0))" } ?? "") }
        cause = config.redact(cause)
        let (errorCode, message) = classify(status: response.status, s3Code: code)
        return BlobError(errorCode, message, key: key, location: location, cause: cause)
    }

    private static let deniedCodes: Set<String> = [
        "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "InvalidToken",
        "RequestTimeTooSkewed", "AllAccessDisabled",
    ]
    private static let retryableCodes: Set<String> = [
        "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "ConditionalRequestConflict",
        "OperationAborted",
    ]

    private func classify(status: Int, s3Code: String) -> (BlobError.Code, String) {
        let place = "\(endpointText) bucket \(config.bucket)"
        if status == 412 { return (.preconditionFailed, "the object already exists") }
        if s3Code == "NoSuchBucket" { return (.invalid, "bucket '\(config.bucket)' does not exist at \(endpointText)") }
        if status == 404 { return (.notFound, "no such object") }
        if status == 403 || S3Client.deniedCodes.contains(s3Code) {
            return (
                .denied, "S3 refused the credentials or permission at \(place) (\(s3Code.isEmpty ? "403" : s3Code))"
            )
        }
        if status == 416 { return (.invalid, "range not satisfiable") }
        if status == 429 || status >= 500 || S3Client.retryableCodes.contains(s3Code) {
            return (.unavailable, "S3 at \(place) is unavailable or throttling (HTTP \(status))")
        }
        if (300 ..< 400).contains(status) || s3Code == "PermanentRedirect" || s3Code == "AuthorizationHeaderMalformed" {
            return (
                .invalid,
                "bucket \(config.bucket) needs another endpoint or region than \(endpointText)/\(config.region)"
            )
        }
        return (.invalid, "S3 rejected the request at \(place) (HTTP \(status)\(s3Code.isEmpty ? "" : " " + s3Code))")
    }
}
