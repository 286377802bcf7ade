import Crypto
import Foundation

/// AWS credentials. `description` never shows the secret or the session token.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    /// Temporary-credential token (STS); sent as `x-amz-security-token` when present.
    public var sessionToken: String?

    /// - Parameters:
    ///   - accessKeyId: the public key id, e.g. `AKIA…`.
    ///   - secretAccessKey: the signing secret; kept out of every description and error.
    ///   - sessionToken: the STS session token, if the credentials are temporary.
    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String {
        "S3Credentials(accessKeyId: \(accessKeyId), secretAccessKey: <redacted>"
            + (sessionToken == nil ? ")" : ", sessionToken: <redacted>)")
    }
}

/// One request as the signer sees it. `path` and query items are raw (not yet encoded):
/// the signer produces the encoded forms used both on the wire and in the canonical request,
/// so the two cannot disagree.
struct SigV4Request: Sendable {
    var method: String
    /// Host header value: host, plus `:port` when the port is not the scheme's default.
    var host: String
    /// Raw path, `/`-separated, starting with `/` (e.g. `/bucket/key with space`).
    var path: String
    /// Raw query parameters; `("uploads", "")` signs and sends as `uploads=`.
    var query: [(name: String, value: String)]
    /// Extra headers to sign and send (range, if-none-match, content-md5, …).
    var headers: [(name: String, value: String)]
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    var payloadHash: String
}

/// The signed result: the encoded path and query to put on the wire and every header to send.
struct SigV4Signed: Sendable {
    var encodedPath: String
    var encodedQuery: String
    var headers: [(name: String, value: String)]
    /// Kept for diagnostics: tests print it when a signature differs from botocore's.
    var canonicalRequest: String

    var authorization: String? { headers.first { $0.name == "authorization" }?.value }
}

/// AWS Signature Version 4 for S3 (header-based auth). Pure: the date is an argument, so the
/// same inputs always give the same signature (checked against botocore in SigV4Tests).
struct SigV4Signer: Sendable {
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let emptyPayloadHash = sha256Hex([])
    /// Hop-by-hop and client headers botocore never signs.
    static let unsignedHeaderNames: Set<String> = [
        "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id", "authorization",
    ]

    var credentials: S3Credentials
    var region: String
    var service: String = "s3"

    /// Signs `request` at `date`.
    /// - Returns: the wire path and query, and all headers (host, x-amz-date,
    ///   x-amz-content-sha256, x-amz-security-token, the request's own, authorization).
    func sign(_ request: SigV4Request, date: Date) -> SigV4Signed {
        let stamp = SigV4Signer.amzDate(date)
        let headers = allHeaders(request, amzDate: stamp)
        let encodedPath = SigV4Signer.encodePath(request.path)
        let encodedQuery = SigV4Signer.canonicalQuery(request.query)
        let signedNames = headers.map(\.name).filter { !SigV4Signer.unsignedHeaderNames.contains($0) }
        let signedSet = Set(signedNames)
        let canonicalHeaders = headers.filter { signedSet.contains($0.name) }
            .map { "\($0.name):\(SigV4Signer.trimAll($0.value))\n" }.joined()
        let signedHeaders = signedNames.joined(separator: ";")
        let canonicalRequest = [
            request.method, encodedPath, encodedQuery, canonicalHeaders, signedHeaders, request.payloadHash,
        ].joined(separator: "\n")
        let scope = "\(stamp.prefix(8))/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", stamp, scope, SigV4Signer.sha256Hex(Array(canonicalRequest.utf8)),
        ].joined(separator: "\n")
        let signature = signingKey(day: String(stamp.prefix(8))).signatureHex(stringToSign)
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return SigV4Signed(
            encodedPath: encodedPath, encodedQuery: encodedQuery,
            headers: headers + [(name: "authorization", value: authorization)],
            canonicalRequest: canonicalRequest)
    }

    /// Lowercased, sorted headers including the ones SigV4 requires. Repeated names are
    /// joined with commas, as the canonical form asks.
    private func allHeaders(_ request: SigV4Request, amzDate: String) -> [(name: String, value: String)] {
        var byName: [String: String] = [:]
        for header in request.headers {
            let name = header.name.lowercased()
            byName[name] = byName[name].map { "\($0),\(header.value)" } ?? header.value
        }
        byName["host"] = request.host
        byName["x-amz-date"] = amzDate
        byName["x-amz-content-sha256"] = request.payloadHash
        if let token = credentials.sessionToken { byName["x-amz-security-token"] = token }
        return byName.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { (name: $0.key, value: $0.value) }
    }

    private func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }
}

extension SymmetricKey {
    fileprivate func signatureHex(_ message: String) -> String {
        SigV4Signer.hex(Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: self)))
    }
}

// MARK: - Encoding helpers

extension SigV4Signer {
    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }

    /// RFC 3986 percent-encoding: only `A-Za-z0-9-_.~` stay as they are (plus `/` if asked).
    static func percentEncode(_ text: String, keepSlash: Bool = false) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let hexDigits = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A") ... UInt8(ascii: "Z"), UInt8(ascii: "a") ... UInt8(ascii: "z"),
            UInt8(ascii: "0") ... UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
            UInt8(ascii: "."), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// S3 paths are encoded once, segment by segment, keeping `/` (no normalization:
    /// `a//b` and `./` are legal in keys).
    static func encodePath(_ path: String) -> String {
        percentEncode(path, keepSlash: true)
    }

    /// `name=value` pairs encoded, sorted by encoded name then value, joined with `&`.
    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (percentEncode($0.name), percentEncode($0.value)) }
            .sorted { lhs, rhs in
                lhs.0 == rhs.0
                    ? lhs.1.utf8.lexicographicallyPrecedes(rhs.1.utf8)
                    : lhs.0.utf8.lexicographicallyPrecedes(rhs.0.utf8)
            }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Trims the value and squeezes runs of spaces, as the canonical header form asks.
    static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(Array(SHA256.hash(data: bytes)))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
        return String(decoding: out, as: UTF8.self)
    }
}
